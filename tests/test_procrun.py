"""procrun: the process runner under tmux_router and the agents (real processes only)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import procrun
from helpers.procs import pid_running
from helpers.waiting import wait_until

SRC = str(Path(__file__).resolve().parent.parent / "src")


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # zombies count as members until reaped by init; look for live ones
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def test_large_input_and_output_do_not_deadlock() -> None:
    data = os.urandom(3_000_000)
    done = procrun.run(["cat"], data)
    assert done.returncode == 0
    assert done.stdout == data
    # both pipes full at once: 2 MB to stdout and 2 MB to stderr from one program
    script = "import sys; sys.stdout.write('o'*2000000); sys.stderr.write('e'*2000000)"
    done = procrun.run([sys.executable, "-c", script], b"")
    assert (len(done.stdout), len(done.stderr)) == (2_000_000, 2_000_000)


def test_exit_status_stderr_and_devnull_stdin() -> None:
    done = procrun.run(["sh", "-c", "cat; echo oops >&2; exit 3"])  # stdin=None: /dev/null
    assert done == procrun.Finished(3, b"", b"oops\n")
    done = procrun.run(["sh", "-c", "kill -KILL $$"])
    assert done.returncode == -signal.SIGKILL


def test_program_that_does_not_read_its_input() -> None:
    done = procrun.run(["true"], b"x" * 5_000_000)  # EPIPE on the rest: not an error
    assert done.returncode == 0


def test_missing_and_non_executable_programs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        procrun.run(["no-such-program-procrun-test"])
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(PermissionError):
        procrun.run([str(script)])


def test_no_file_descriptor_leaks() -> None:
    before = _open_fds()
    for _ in range(20):
        procrun.run(["cat"], b"abc")
        procrun.run(["true"])
    with pytest.raises(procrun.ProcessTimeout):
        procrun.run(["sleep", "5"], timeout=0.05)
    assert _open_fds() == before


def _group_members(pgid: int) -> str:
    """`ps` lines of process group ``pgid`` (what a failed wait for its end shows)."""
    ps = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat=,args="], capture_output=True,
                        text=True)
    return "\n".join(line for line in ps.stdout.splitlines()
                     if line.split()[1:2] == [str(pgid)]) or ps.stderr


def _wait_group_gone(pgid: int, what: str, timeout: float = 5) -> None:
    """Until no live process of group ``pgid`` is left (a bounded wait, not a speed check)."""
    wait_until(lambda: not _group_alive(pgid), f"{what} (process group {pgid})", timeout,
               seen=lambda: _group_members(pgid), interval=0.05)


def _wait_pidfile(pidfile: Path) -> int:
    return int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(),
                          f"the program to start (its pid in {pidfile})", 10))


def test_timeout_stops_the_whole_group_and_keeps_partial_output() -> None:
    with pytest.raises(procrun.ProcessTimeout) as info:
        procrun.run(["sh", "-c", "echo $$; echo begun; echo warn >&2; sleep 30 & sleep 30; wait"],
                    timeout=0.5, new_session=True, kill_grace=1.0)
    pgid, begun = info.value.partial.stdout.decode().split()
    assert begun == "begun"
    assert info.value.partial.stderr == b"warn\n"
    assert info.value.partial.returncode == -signal.SIGTERM
    _wait_group_gone(int(pgid), "the background sleep to be stopped")


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    mark = tmp_path / "term"
    with pytest.raises(procrun.ProcessTimeout) as info:
        procrun.run(["sh", "-c", f"trap 'echo got-term >> {mark}' TERM; echo ready; "
                                 "while :; do sleep 0.05; done"],
                    timeout=0.3, new_session=True, kill_grace=0.5)
    # SIGTERM came first and the program outlived it (its trap ran); SIGKILL ended it
    assert info.value.partial.stdout == b"ready\n"
    assert mark.read_text() == "got-term\n"
    assert info.value.partial.returncode == -signal.SIGKILL


def test_leftover_grandchild_holding_the_pipes_is_stopped_after_the_grace() -> None:
    done = procrun.run(
        [sys.executable, "-c", textwrap.dedent("""
            import os, sys, time
            if os.fork() == 0:
                time.sleep(0.1)
                print("late", flush=True)  # still read: within the pipe grace
                time.sleep(30)
            print(os.getpid(), flush=True)
        """)],
        new_session=True, pipe_grace=2.0)
    assert done.returncode == 0
    leader, late = done.stdout.split()
    assert late == b"late"
    _wait_group_gone(int(leader), "the grandchild to be stopped")


def test_ctrl_c_stops_the_agent_group_and_propagates(tmp_path: Path) -> None:
    """A real SIGINT to a Python process waiting in procrun.run: KeyboardInterrupt goes on, the
    program and its child are gone."""
    pidfile = tmp_path / "pid"
    waiter = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {SRC!r})
        import procrun
        try:
            procrun.run(["sh", "-c", "echo $$ > {pidfile}; sleep 60 & sleep 60; wait"],
                        new_session=True, kill_grace=1.0)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", waiter], stdout=subprocess.PIPE)
    agent_pid = _wait_pidfile(pidfile)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert out == b"interrupted\n"
    _wait_group_gone(agent_pid, "the program and its child to be stopped", timeout=3)


def test_environment_is_passed() -> None:
    done = procrun.run(["sh", "-c", 'printf %s "$PROCRUN_T"'],
                       env={"PATH": os.environ["PATH"], "PROCRUN_T": "yes"})
    assert done.stdout == b"yes"


def test_import_stays_light() -> None:
    code = ("import sys; import procrun; bad = {'subprocess', 'threading', 'signal', "
            "'selectors'} & set(sys.modules); print(sorted(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=SRC), check=True).stdout
    assert out.strip() == "[]"


def test_sigkill_of_the_runner_stops_the_program_group(tmp_path: Path) -> None:
    """The runner dies with SIGKILL (no handler runs): the guard sees its pipe close and stops
    the program and what it started; nothing is left running, orphaned."""
    pidfile = tmp_path / "pid"
    waiter = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {SRC!r})
        import procrun
        procrun.run(["sh", "-c", "echo $$ > {pidfile}; sleep 60 & sleep 60; wait"],
                    new_session=True, kill_grace=1.0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", waiter])
    agent_pid = _wait_pidfile(pidfile)
    assert _group_alive(agent_pid)
    proc.kill()
    proc.wait()
    try:
        _wait_group_gone(agent_pid, "the program to end with its runner")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent_pid, signal.SIGKILL)


def test_guarded_program_keeps_its_pid_status_and_pipes() -> None:
    done = procrun.run(["sh", "-c", 'echo "$$ $(ps -o pgid= -p $$)"; cat; exit 7'], b"in",
                       new_session=True)
    assert done.returncode == 7
    pid, pgid, rest = done.stdout.decode().split(maxsplit=2)
    assert pid == pgid and rest == "in"
    with pytest.raises(ValueError):
        procrun.run(["true"], orphan_guard=True)


def test_cwd_runs_the_program_in_that_folder_with_the_same_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = tmp_path / "here", tmp_path / "there dir"
    here.mkdir()
    there.mkdir()
    monkeypatch.chdir(here)
    script = here / "where.sh"
    script.write_text('#!/bin/sh\necho "$(pwd)|$#:$1"\n')
    script.chmod(0o755)
    # a relative program path is resolved from OUR folder, then run in `cwd`
    out = procrun.run(["./where.sh", "a b"], cwd=str(there), new_session=True)
    folder, args = out.stdout.decode().split("|")
    assert (folder, args.strip()) == (str(there), "1:a b")
    assert out.returncode == 0
    assert procrun.run([sys.executable, "-c", "import os; print(os.getcwd())"],
                       cwd=str(there)).stdout.decode().strip() == str(there)
    with pytest.raises(FileNotFoundError):
        procrun.run(["./no-such-program"], cwd=str(there))
    with pytest.raises(FileNotFoundError):
        procrun.run(["no-such-program-on-path-xyz"], cwd=str(there))
    (here / "plain.txt").write_text("x")
    with pytest.raises(PermissionError):
        procrun.run(["./plain.txt"], cwd=str(there))


def test_on_stdout_sees_each_chunk_as_it_is_written(tmp_path: Path) -> None:
    """The callback gets output while the program still runs: the program waits, after its
    first line, for a file the callback creates when it sees that line (a callback called only
    at the end would leave it waiting, and it would say so); the chunks add up to stdout."""
    seen: list[bytes] = []
    flag = tmp_path / "line-0-seen"
    code = ("import os, sys, time\n"
            "print('line 0', flush=True)\n"
            "end = time.monotonic() + 30\n"
            f"while not os.path.exists({str(flag)!r}) and time.monotonic() < end:\n"
            "    time.sleep(0.01)\n"
            f"print('line 1', 'seen' if os.path.exists({str(flag)!r}) else 'not seen', "
            "flush=True)\n"
            "print('line 2', flush=True)\n")

    def on_stdout(chunk: bytes) -> None:
        seen.append(chunk)
        if b"line 0" in chunk:
            flag.touch()

    done = procrun.run([sys.executable, "-c", code], on_stdout=on_stdout)
    assert done.returncode == 0
    assert b"".join(seen) == done.stdout == b"line 0\nline 1 seen\nline 2\n"
    assert seen[0].startswith(b"line 0")


def test_an_exception_in_on_stdout_stops_the_program_group(tmp_path: Path) -> None:
    """The program would sleep 30 s, then leave a file: stopped with its group when the
    callback raises, it is gone when `run` returns and never wrote the file."""
    finished = tmp_path / "finished"
    code = ("import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(30)\n"
            f"open({str(finished)!r}, 'w').close()\n")
    pids: list[int] = []

    def boom(chunk: bytes) -> None:
        pids.append(int(chunk.split()[0]))
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        procrun.run([sys.executable, "-c", code], new_session=True, on_stdout=boom,
                    kill_grace=0.5)
    assert pids and not pid_running(pids[0]), "the program still runs after `run` returned"
    assert not finished.exists()
