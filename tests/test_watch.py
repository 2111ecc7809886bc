"""The watch daemon, end to end: real ``agent-doc watch`` processes, the real submit cycle,
the fake ``claude`` (SPEC A10, Part B §6, hazards C34–C41)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from agent_doc.project import Project
from agent_doc.snapshot import SnapshotStore
from helpers.agents import claude_calls
from helpers.cli import run_cli, trust_project
from helpers.waiting import wait_until
from safefile import FileLock
from tmux_router.registry import Registry, make_entry

WAIT = 30.0  # generous bound for anything the daemon should do "soon"


class Daemon:
    """One ``agent-doc watch`` process; its stderr goes to a file we can poll."""

    def __init__(self, cwd: Path, args: tuple[str, ...], log: Path) -> None:
        self.log = log
        self.fh = open(log, "wb")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent_doc", "watch", *args],
            cwd=cwd, stdout=subprocess.DEVNULL, stderr=self.fh, env=dict(os.environ),
        )

    @property
    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, count: int = 1, timeout: float = WAIT) -> str:
        """The daemon log once NEEDLE is in it COUNT times (the daemon must not end first)."""

        def logged() -> str | None:
            text = self.text
            return text if text.count(needle) >= count else None

        return wait_until(logged, f"{needle!r} (x{count}) in the daemon log", timeout,
                          seen=lambda: self.text, while_alive=self.proc)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.fh.close()


@pytest.fixture
def start_watch(project: Path) -> Iterator:
    started: list[Daemon] = []

    def start(*args: str, cwd: Path | None = None, ready: bool = True) -> Daemon:
        d = Daemon(cwd or project, args, project.parent / f"watch-{len(started)}.log")
        started.append(d)
        if ready:
            d.wait_log("Watch")  # started...
            d.wait_log("atching")  # "Watching N file(s)" / "No session files found. Watching"
        return d

    yield start
    for d in started:
        d.kill()


def register(project: Path, doc: Path, key: str | None = None) -> None:
    with Registry(project / ".agent-doc" / "sessions.json").transaction() as entries:
        entries[key or f"key-{doc.name}"] = make_entry("%1", file=Project(project).rel(doc))


wait_for = partial(wait_until, timeout=WAIT)


def answers(doc: Path) -> int:
    return doc.read_text().count("## Assistant")


def rename_save(doc: Path, text: str) -> None:
    """Save the way vim / JetBrains "safe write" do: a new file renamed over the old one."""
    tmp = doc.with_name(f"{doc.name}.swp-new")
    tmp.write_text(text)
    os.replace(tmp, doc)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- answering saves -------------------------------------------------------------------------


def test_answers_three_saves_in_place_by_rename_and_right_after_a_cycle(
    project: Path, fake_claude: Path, start_watch
) -> None:
    doc = project / "doc.md"
    doc.write_text("# Doc\n\n## User\n\nfirst question\n")
    register(project, doc)
    # --max-cycles 0: no agent-triggered cycle may run, so save 3 is answered only if it is
    # recognised as the user's (the reference's timing rule counted it as the agent's)
    d = start_watch("--debounce", "100", "--max-cycles", "0")
    d.wait_log("Watching 1 file(s): doc.md")

    with open(doc, "a") as fh:  # 1: an in-place save
        fh.write("and some detail\n")
    wait_for(lambda: answers(doc) == 1, what="answer 1")

    rename_save(doc, doc.read_text() + "second question\n")  # 2: a rename-over save
    wait_for(lambda: answers(doc) == 2, what="answer 2")

    # 3: the user saves right after the daemon's own atomic write, before it has even seen it
    doc.write_text(doc.read_text() + "third question\n")
    wait_for(lambda: answers(doc) == 3, what="answer 3")

    d.wait_log("Submit complete: doc.md", count=3)
    calls = claude_calls(fake_claude)
    assert len(calls) == 3
    # each call got its own change as added lines (the prompt also holds the whole document)
    assert "and some detail" in calls[0]["prompt"]  # first submit: the whole document
    assert "+second question" in calls[1]["prompt"]
    assert "+and some detail" not in calls[1]["prompt"]
    assert "+third question" in calls[2]["prompt"]
    assert "+second question" not in calls[2]["prompt"]
    time.sleep(0.5)  # no further cycle: our own writes are recognised
    assert len(claude_calls(fake_claude)) == 3
    assert ".doc.md.tmp-" not in " ".join(os.listdir(project))


def test_agent_that_edits_the_document_stops_after_max_cycles(
    project: Path, fake_claude: Path, start_watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = project / "doc.md"
    doc.write_text("# Doc\n\n## User\n\nplease loop\n")
    register(project, doc)
    monkeypatch.setenv("FAKE_CLAUDE_APPEND_TO", str(doc))  # the agent edits the document
    d = start_watch("--debounce", "100", "--max-cycles", "2")
    doc.write_text(doc.read_text() + "go\n")
    d.wait_log("Max cycles (2) reached for doc.md")
    assert len(claude_calls(fake_claude)) == 3  # the user's change + 2 agent-triggered
    assert "agent-triggered cycle 2/2" in d.text
    # a user save starts a new series
    with open(doc, "a") as fh:
        fh.write("user again\n")
    d.wait_log("Max cycles (2) reached for doc.md", count=2)
    assert len(claude_calls(fake_claude)) == 6
    assert d.proc.poll() is None


def test_new_claims_are_watched_without_restart(
    project: Path, fake_claude: Path, start_watch
) -> None:
    d = start_watch("--debounce", "50")
    d.wait_log("No session files found. Watching for new sessions...")
    (project / "notes").mkdir()
    doc = project / "notes" / "new.md"
    doc.write_text("# New\n\n## User\n\nhello\n")
    register(project, doc)
    d.wait_log("Now watching notes/new.md")
    rename_save(doc, doc.read_text() + "are you there?\n")
    wait_for(lambda: answers(doc) == 1, what="answer in a newly claimed document")
    assert "are you there?" in claude_calls(fake_claude)[0]["prompt"]


def test_files_named_on_the_command_line_are_watched(
    project: Path, fake_claude: Path, start_watch
) -> None:
    doc = project / "solo.md"
    doc.write_text("# Solo\n\n## User\n\n")
    d = start_watch("--debounce", "50", "solo.md")
    d.wait_log("Watching 1 file(s): solo.md")
    doc.write_text(doc.read_text() + "question\n")
    wait_for(lambda: answers(doc) == 1, what="answer")


def test_agent_error_is_logged_and_the_daemon_keeps_going(
    project: Path, fake_claude: Path, start_watch
) -> None:
    (project / ".agent-doc" / "config.toml").write_text('[agents.broken]\ncommand = "false"\n')
    trust_project(project)  # so that the failure is the agent's, not the trust check's
    bad = project / "bad.md"
    bad.write_text("---\nagent: broken\n---\n# Bad\n\n## User\n\n")
    good = project / "good.md"
    good.write_text("# Good\n\n## User\n\n")
    register(project, bad)
    register(project, good)
    d = start_watch("--debounce", "50")
    bad.write_text(bad.read_text() + "will fail\n")
    d.wait_log("Submit failed for bad.md")
    good.write_text(good.read_text() + "will work\n")
    wait_for(lambda: answers(good) == 1, what="answer in good.md")
    assert answers(bad) == 0 and d.proc.poll() is None


def test_busy_document_is_retried_when_the_other_cycle_ends(
    project: Path, fake_claude: Path, start_watch
) -> None:
    doc = project / "doc.md"
    doc.write_text("# Doc\n\n## User\n\n")
    register(project, doc)
    d = start_watch("--debounce", "50")
    lock = FileLock(Project.for_document(doc).submit_lock_path(doc))
    with lock:  # "another process runs a cycle of this document"
        doc.write_text(doc.read_text() + "question while busy\n")
        d.wait_log("a cycle is already running")
        assert claude_calls(fake_claude) == []
    wait_for(lambda: answers(doc) == 1, what="the retried cycle")
    assert len(claude_calls(fake_claude)) == 1


# -- patch and trigger ------------------------------------------------------------------------

DASH = "# Dashboard\n\n<!-- agent:status -->\nunknown\n<!-- /agent:status -->\n\n## User\n\n"


@pytest.mark.parametrize("trigger", [True, False])
def test_patch_triggers_the_agent_only_with_trigger_true(
    project: Path, fake_claude: Path, start_watch, trigger: bool
) -> None:
    doc = project / "dash.md"
    doc.write_text(DASH)
    SnapshotStore(Project.for_document(doc)).save(doc, DASH)  # nothing unsent
    if trigger:
        (project / ".agent-doc" / "components.toml").write_text("[status]\ntrigger = true\n")
    register(project, doc)
    d = start_watch("--debounce", "50")
    r = run_cli("patch", "dash.md", "status", "build is red", cwd=project)
    assert r.returncode == 0, r
    if trigger:
        d.wait_log("Submit complete: dash.md")
        calls = claude_calls(fake_claude)
        assert len(calls) == 1 and "build is red" in calls[0]["prompt"]
        assert answers(doc) == 1
    else:
        d.wait_log("Unchanged: dash.md")
        assert claude_calls(fake_claude) == []
        assert answers(doc) == 0


# -- one daemon, stop, status -----------------------------------------------------------------


def test_two_daemons_started_at_once_leave_exactly_one(project: Path, start_watch) -> None:
    a = start_watch(ready=False)
    b = start_watch(ready=False)
    loser = wait_for(
        lambda: next((x for x in (a, b) if x.proc.poll() is not None), None),
        what="one daemon to give up",
    )
    winner = b if loser is a else a
    assert loser.proc.returncode == 1
    assert f"watch daemon already running (PID {winner.proc.pid})" in loser.text
    winner.wait_log("No session files found")
    time.sleep(0.3)
    assert winner.proc.poll() is None
    st = json.loads(run_cli("watch", "--status", "--json", cwd=project).stdout)
    assert st["running"] is True and st["pid"] == winner.proc.pid
    assert (project / ".agent-doc" / "watch.pid").read_text() == str(winner.proc.pid)
    r = run_cli("watch", "--stop", cwd=project)
    assert r.returncode == 0, r
    assert f"Watch daemon (PID {winner.proc.pid}) stopped." in r.stderr
    assert winner.proc.wait(timeout=WAIT) == 0
    assert not (project / ".agent-doc" / "watch.pid").exists()
    r = run_cli("watch", "--status", cwd=project)
    assert r.stdout.strip() == "Watch daemon not running."


def test_stop_in_the_middle_of_a_cycle_leaves_document_and_snapshot_consistent(
    project: Path, fake_claude: Path, start_watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = project / "doc.md"
    doc.write_text("# Doc\n\n## User\n\n")
    register(project, doc)
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")  # the agent never answers
    d = start_watch("--debounce", "50")
    doc.write_text(doc.read_text() + "a question the agent never answers\n")
    calls = wait_for(lambda: claude_calls(fake_claude), what="the agent call")
    agent_pid = calls[0]["pid"]
    doc_during = doc.read_bytes()
    store = SnapshotStore(Project.for_document(doc))
    snap_during = store.load(doc)
    r = run_cli("watch", "--stop", cwd=project, timeout=60)
    assert r.returncode == 0, r
    assert "Stopping watch daemon" in r.stderr and "stopped." in r.stderr
    assert d.proc.wait(timeout=WAIT) == 0, d.text
    assert "interrupted by the stop" in d.text and "Watch daemon stopped." in d.text
    assert doc.read_bytes() == doc_during and store.load(doc) == snap_during
    assert not os.path.exists(Project.for_document(doc).pending_path(doc))
    assert not (project / ".agent-doc" / "watch.pid").exists()
    wait_for(lambda: not pid_alive(agent_pid), timeout=10, what="the agent to be stopped")
    # consistent: the next run sends the same question and answers it once
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "ok")
    r = run_cli("run", "doc.md", cwd=project)
    assert r.returncode == 0, r
    assert answers(doc) == 1
    assert "a question the agent never answers" in claude_calls(fake_claude)[-1]["prompt"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_when_idle_exits_cleanly(project: Path, start_watch, sig: int) -> None:
    d = start_watch()
    pid_file = project / ".agent-doc" / "watch.pid"
    assert pid_file.read_text() == str(d.proc.pid)
    d.proc.send_signal(sig)
    assert d.proc.wait(timeout=WAIT) == 0
    assert "Watch daemon stopped." in d.text
    assert not pid_file.exists()
    assert "not running" in run_cli("watch", "--status", cwd=project).stdout


def test_status_and_stop_with_a_stale_pid_file(project: Path) -> None:
    r = run_cli("watch", "--status", cwd=project)
    assert (r.returncode, r.stdout.strip()) == (0, "Watch daemon not running.")
    assert run_cli("watch", "--stop", cwd=project).stderr.strip() == "No watch daemon running."
    pid_file = project / ".agent-doc" / "watch.pid"
    pid_file.write_text("999999")  # left by a daemon that was killed with SIGKILL
    r = run_cli("watch", "--status", cwd=project)
    assert r.stdout.strip() == "Watch daemon not running (stale PID file: 999999)"
    st = json.loads(run_cli("watch", "--status", "--json", cwd=project).stdout)
    assert st == {"running": False, "pid": None, "stale_pid": 999999, "pid_file": str(pid_file)}
    r = run_cli("watch", "--stop", cwd=project)
    assert r.returncode == 0
    assert "Watch daemon (PID 999999) was not running. Cleaned up PID file." in r.stderr
    assert not pid_file.exists()


def test_a_pid_that_does_not_hold_the_lock_is_never_signalled(project: Path) -> None:
    # a live process that is not our daemon (pid reuse): --stop must not kill it
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (project / ".agent-doc" / "watch.pid").write_text(str(victim.pid))
        r = run_cli("watch", "--stop", cwd=project)
        assert r.returncode == 0 and "was not running" in r.stderr
        time.sleep(0.2)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


STUB_DAEMON = r"""
import os, sys, time
from pathlib import Path
from agent_doc import watch
from agent_doc.writeback import SubmitResult
from agent_doc.project import Project
from safefile import FileLock, atomic_write

doc, marks = Path(sys.argv[1]), Path(sys.argv[2])

def mark(what):
    with open(marks, "a") as fh:
        fh.write(what + "\n")

def submit(path):
    # a stand-in cycle whose write-back is slow: the stop must wait for it, then interrupt
    # the rest (here: a long wait standing for the next agent call)
    project = Project.for_document(path)
    with FileLock(project.doc_lock_path(path)):
        mark("write-back started")
        time.sleep(1.5)
        atomic_write(path, path.read_text() + "written by the cycle\n")
        mark("write-back finished")
    time.sleep(120)
    mark("not interrupted")
    return SubmitResult("answered")

sys.exit(watch.serve(Project.for_cwd(), [doc], debounce_ms=20, submit=submit))
"""


def test_stop_never_cuts_a_write_back_in_half(project: Path, tmp_path: Path) -> None:
    doc = project / "doc.md"
    doc.write_text("# Doc\n")
    marks = tmp_path / "marks.txt"
    log = tmp_path / "stub-watch.log"
    with open(log, "wb") as fh:
        p = subprocess.Popen(
            [sys.executable, "-c", STUB_DAEMON, str(doc), str(marks)], cwd=project, stderr=fh
        )
        try:
            wait_for(lambda: "Watching 1 file(s)" in log.read_text(), what="daemon ready")
            doc.write_text("# Doc\nsaved\n")
            wait_for(lambda: marks.exists() and "started" in marks.read_text(), what="write-back")
            p.send_signal(signal.SIGTERM)  # in the middle of the write-back
            assert p.wait(timeout=WAIT) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert marks.read_text().splitlines() == ["write-back started", "write-back finished"]
    assert doc.read_text() == "# Doc\nsaved\nwritten by the cycle\n"
    text = log.read_text()
    assert "interrupted by the stop" in text and "Watch daemon stopped." in text


# -- a daemon killed with SIGKILL (issue 11 item 4) -------------------------------------------


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry))
    return out


def test_sigkill_of_the_daemon_stops_its_agent_and_the_restart_answers_the_save_once(
    project: Path, fake_claude: Path, start_watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = project / "doc.md"
    doc.write_text("# Doc\n\n## User\n\nfirst\n")
    register(project, doc)
    assert run_cli("run", "doc.md", "--no-git", cwd=project).returncode == 0
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")  # this call never answers
    d = start_watch("--debounce", "50")
    doc.write_text(doc.read_text() + "second, asked while the daemon dies\n")
    calls = wait_for(lambda: len(claude_calls(fake_claude)) >= 2 and claude_calls(fake_claude),
                     what="the daemon's agent call")
    agent = calls[1]["pid"]
    assert group_members(agent), "the agent leads its own process group"
    d.proc.kill()  # SIGKILL: no handler, no cleanup of ours runs
    d.proc.wait()
    try:
        wait_for(lambda: not group_members(agent), timeout=15,
                 what="the orphaned agent's process group to be stopped")
    finally:
        for pid in group_members(agent):
            os.kill(pid, signal.SIGKILL)
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "ok")
    d2 = start_watch("--debounce", "50")
    d2.wait_log("Submit complete: doc.md")
    assert answers(doc) == 2
    calls = claude_calls(fake_claude)
    assert len(calls) == 3 and "second, asked" in calls[2]["prompt"]
    d2.wait_log("(own write)")  # the daemon saw its own write-back and sent nothing
    assert len(claude_calls(fake_claude)) == 3 and answers(doc) == 2


def test_restarted_daemon_applies_a_pending_answer_without_a_new_call(
    project: Path, fake_claude: Path, start_watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = project / "doc.md"
    doc.write_text("# Doc\n\n## User\n\nfirst\n")
    register(project, doc)
    assert run_cli("run", "doc.md", "--no-git", cwd=project).returncode == 0
    p = Project.for_document(doc)
    pending = Path(p.pending_path(doc))
    monkeypatch.setenv("FAKE_CLAUDE_SLEEP", "1")
    d = start_watch("--debounce", "50")
    doc.write_text(doc.read_text() + "second\n")
    wait_for(lambda: len(claude_calls(fake_claude)) >= 2, what="the daemon's agent call")
    # hold the document lock: the answer is journaled, the write-back waits for us
    with FileLock(p.doc_lock_path(doc)):
        wait_for(pending.exists, what="the journaled answer")
        d.proc.kill()
        d.proc.wait()
    assert answers(doc) == 1
    monkeypatch.delenv("FAKE_CLAUDE_SLEEP")
    d2 = start_watch("--debounce", "50")
    d2.wait_log("Unchanged: doc.md")
    assert answers(doc) == 2 and not pending.exists()
    assert len(claude_calls(fake_claude)) == 2, "the pending answer was paid for again"
    assert SnapshotStore(p).load(doc) == doc.read_text()


def test_watch_and_git_modules_import_neither_dataclasses_nor_subprocess() -> None:
    """Issue 13: the daemon's modules and gitops keep their value classes off ``dataclasses``
    (agent_doc.record) and start programs through procrun only, so importing them loads
    neither module (what each costs: bench/IMPORTS.md)."""
    code = ("import sys\nimport agent_doc.watch, agent_doc.gitops\n"
            "import agent_doc.cli.watch, agent_doc.cli.patch, agent_doc.cli.demo\n"
            "print(sorted(m for m in ('dataclasses', 'subprocess') if m in sys.modules))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]", p.stdout
