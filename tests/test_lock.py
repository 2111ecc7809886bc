"""safefile.FileLock: re-entrancy, thread and process exclusion, death of a holder, fork,
bounded wait with the holder named, the "waiting for" notice (SPEC A4, fixes C12, C24)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from safefile import (
    FileLock,
    LockTimeout,
    default_timeout,
    held_locks,
    is_locked_elsewhere,
    locked,
    read_holder,
)

# A process that takes the lock, says "locked", and releases it when a line arrives on stdin.
HOLDER = """
import sys
from safefile import FileLock
lk = FileLock(sys.argv[1], what="test")
lk.acquire()
print("locked", flush=True)
sys.stdin.readline()
lk.release()
print("released", flush=True)
"""


def start_holder(path: Path) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "locked"
    return p


def stop(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)


def probe(path: Path) -> bool:
    """Can a *separate process* take the lock right now (without waiting)?"""
    code = (
        "import sys\nfrom safefile import FileLock\n"
        "lk = FileLock(sys.argv[1], timeout=0)\n"
        "print('free' if lk.acquire(blocking=False) else 'busy')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    return out == "free"


def test_nested_locking_in_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "x.lock"
    outer = FileLock(path)
    with outer:
        # another object for the same path, a relative path to it, the same object again
        with FileLock(str(path)), locked("x.lock"), outer:
            assert is_locked_elsewhere(path)
            assert is_locked_elsewhere(path)
        assert outer.held_by_me
        assert not probe(path)  # other processes are still excluded by the outer level
    assert not outer.held_here
    assert not is_locked_elsewhere(path)
    assert probe(path)


def test_two_threads_exclude_each_other(tmp_path: Path) -> None:
    """Read-sleep-write under the lock: any overlap would lose increments."""
    lock_path = tmp_path / "t.lock"
    counter = tmp_path / "counter"
    counter.write_text("0")
    inside = [0]
    max_inside = [0]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(40):
                with FileLock(lock_path):
                    inside[0] += 1
                    max_inside[0] = max(max_inside[0], inside[0])
                    n = int(counter.read_text())
                    time.sleep(0.0005)
                    counter.write_text(str(n + 1))
                    inside[0] -= 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert max_inside[0] == 1
    assert int(counter.read_text()) == 160


def test_processes_exclude_each_other(tmp_path: Path) -> None:
    lock_path = tmp_path / "p.lock"
    counter = tmp_path / "counter"
    counter.write_text("0")
    code = (
        "import sys, time\nfrom safefile import FileLock\nfrom pathlib import Path\n"
        "c = Path(sys.argv[2])\n"
        "for _ in range(30):\n"
        "    with FileLock(sys.argv[1]):\n"
        "        n = int(c.read_text()); time.sleep(0.0003); c.write_text(str(n + 1))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(lock_path), str(counter)])
        for _ in range(5)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * 5
    assert int(counter.read_text()) == 150


def test_sigkilled_holder_frees_the_lock_at_once(tmp_path: Path) -> None:
    path = tmp_path / "k.lock"
    holder = start_holder(path)
    try:
        assert not FileLock(path, timeout=0).acquire(blocking=False)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        lk = FileLock(path, timeout=0)
        assert lk.acquire(blocking=False)  # no waiting: the kernel released it
        lk.release()
    finally:
        stop(holder)


def test_forked_child_neither_holds_nor_keeps_the_lock(tmp_path: Path) -> None:
    """The child of a holder must take the lock itself, and must not keep it alive after the
    parent dies (it closes its inherited copies of lock descriptors)."""
    path = tmp_path / "f.lock"
    code = (
        "import os, sys, time\nfrom safefile import FileLock\n"
        "lk = FileLock(sys.argv[1]); lk.acquire()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ok = FileLock(sys.argv[1], timeout=0).acquire(blocking=False)\n"
        "    os.write(1, b'child-acquired\\n' if ok else b'child-refused\\n')\n"
        "    lk.release()  # acquired by the parent: a no-op here\n"
        "    time.sleep(60); os._exit(0)\n"
        "os.write(1, f'child {pid}\\n'.encode())\n"
        "time.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                         text=True)
    child = 0
    try:
        assert p.stdout is not None
        lines = [p.stdout.readline().strip(), p.stdout.readline().strip()]
        assert "child-refused" in lines
        child = int(next(ln for ln in lines if ln.startswith("child ")).split()[1])
        assert not probe(path)  # the parent still holds it
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        os.kill(child, 0)  # the child is alive ...
        assert probe(path)  # ... and the lock is free anyway
    finally:
        stop(p)
        if child:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_bounded_wait_raises_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "b.lock"
    holder = start_holder(path)
    try:
        with pytest.raises(LockTimeout) as info:
            FileLock(path, timeout=0.3, what="registry").acquire()
        err = info.value
        assert err.holder is not None and err.holder.startswith(f"pid {holder.pid} (")
        msg = str(err)
        assert "timed out after" in msg
        assert "lock 'registry'" in msg and str(path) in msg
        assert f"held by pid {holder.pid}" in msg
        assert f"kill {holder.pid}" in msg
        assert isinstance(err, TimeoutError)
    finally:
        stop(holder)


def test_waiter_prints_who_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "w.lock"
    holder = start_holder(path)
    code = (
        "import sys\nfrom safefile import FileLock\n"
        "with FileLock(sys.argv[1], timeout=60, what='document notes.md'):\n"
        "    print('acquired', flush=True)\n"
    )
    waiter = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert waiter.stderr is not None and waiter.stdout is not None
        notice = waiter.stderr.readline()  # printed after ~1 s of waiting
        assert "waiting for lock 'document notes.md'" in notice
        assert f"held by pid {holder.pid} (python -c" in notice
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert waiter.stdout.readline().strip() == "acquired"
        assert waiter.wait(timeout=30) == 0
        assert waiter.stderr.read() == ""  # the notice is printed once
    finally:
        stop(holder)
        stop(waiter)


def test_thread_waiter_notice_and_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    path = tmp_path / "tt.lock"
    taken = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with FileLock(path):
            taken.set()
            done.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        taken.wait(10)
        with pytest.raises(LockTimeout) as info:
            FileLock(path, timeout=1.3, what="snapshot").acquire()
        assert f"pid {os.getpid()}" in str(info.value)
        err = capsys.readouterr().err
        assert "waiting for lock 'snapshot'" in err
        assert "another thread of this process" in err
    finally:
        done.set()
        t.join()
    assert probe(path)


def test_release_by_another_thread_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.lock"
    lk = FileLock(path)
    with pytest.raises(RuntimeError, match="unheld"):
        lk.release()
    lk.acquire()
    result: list[BaseException] = []

    def other() -> None:
        try:
            FileLock(path).release()
        except BaseException as exc:
            result.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert isinstance(result[0], RuntimeError)
    assert not probe(path)  # still held: the refused release changed nothing
    lk.release()
    assert probe(path)


def test_holder_line_is_written_and_cleared(tmp_path: Path) -> None:
    path = tmp_path / "h.lock"
    with FileLock(path):
        line = read_holder(path)
        assert line is not None and line.startswith(f"pid {os.getpid()} (")
        assert " since " in line
    assert read_holder(path) is None
    assert path.exists()  # lock files are never deleted


def test_held_locks_lists_only_held_ones(tmp_path: Path) -> None:
    folder = tmp_path / "locks"
    folder.mkdir()
    (folder / "free.lock").write_text("")
    busy = folder / "busy.lock"
    holder = start_holder(busy)
    try:
        found = held_locks(folder)
        assert [p for p, _ in found] == [str(busy)]
        assert found[0][1] is not None and found[0][1].startswith(f"pid {holder.pid}")
    finally:
        stop(holder)
    assert held_locks(folder) == []


def test_interoperates_with_raw_flock(tmp_path: Path) -> None:
    """Other flock users (the Rust reference, filelock, portalocker) exclude us and we them."""
    path = tmp_path / "i.lock"
    code = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\nsys.stdin.readline()\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "locked"
        assert not FileLock(path, timeout=0).acquire(blocking=False)
    finally:
        stop(p)
    with FileLock(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


def test_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_DOC_LOCK_TIMEOUT", "0.25")
    assert default_timeout() == 0.25
    assert FileLock("/tmp/never-used.lock").timeout == 0.25
    monkeypatch.setenv("AGENT_DOC_LOCK_TIMEOUT", "inf")
    assert default_timeout() == float("inf")
    monkeypatch.setenv("AGENT_DOC_LOCK_TIMEOUT", "soon")
    assert default_timeout() == 30.0
    monkeypatch.setenv("AGENT_DOC_LOCK_TIMEOUT", "-1")
    assert default_timeout() == 30.0


def test_lock_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.lock"
    with FileLock(path):
        assert path.exists()


def test_a_linked_lock_file_is_refused_and_its_target_never_blanked(tmp_path: Path) -> None:
    """The holder record (and its blanking on release) would overwrite a link's target."""
    from safefile import NotRegularFileError

    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n" * 40)
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "x.lock").symlink_to(victim)
    with pytest.raises(NotRegularFileError) as info:
        FileLock(tmp_path / "locks" / "x.lock").acquire()
    assert "symbolic link" in str(info.value)
    assert victim.read_bytes() == b"precious\n" * 40
    # with a state root, a linked folder below it is refused as well
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "locks").symlink_to(tmp_path / "locks")
    with pytest.raises(NotRegularFileError):
        FileLock(tmp_path / "root" / "locks" / "y.lock", state_root=str(tmp_path / "root")
                 ).acquire()
    assert not (tmp_path / "locks" / "y.lock").exists()


def test_probing_a_fifo_named_like_a_lock_never_hangs(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "a.lock")
    code = ("import sys\nfrom safefile import held_locks, read_holder\n"
            "print(held_locks(sys.argv[1]), read_holder(sys.argv[1] + '/a.lock'))\n")
    try:
        p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                           text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("held_locks blocked on a FIFO")
    assert p.stdout.strip() == "[] None", p
