"""SIGKILL of a write-back at its exact worst points (issue 16, ENGINE-BUGS.md): the real CLI
(`write`, non-streamed and streamed through a pausing pipe) stopped or killed by the test-only
fault hook ``AGENT_DOC_FAULT`` (:func:`agent_doc.writeback._fault`).

1. An editor saves in place between the write-back's read and its exchange; the process is
   killed right after the exchange, before it merges the save it displaced. Nothing the user
   saved may be lost: the displaced save stays beside the document under a name no temp-file
   cleaner removes, and `recover` merges it, then removes it.
2. Killed between the final write and the snapshot save (journal left, document complete):
   `diff` must not show the answer as the user's text.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli import run_cli
from helpers.docs import save_in_place, with_line
from helpers.waiting import wait_until

PY = sys.executable
DOC = ("---\nagent_doc_session: 5e3f2a0c-1b2d-4e5f-8a9b-0c1d2e3f4a5b\n---\n\n"
       "# Session notes\n\n## User\n\nPlease explain streaming.\n")
SAVED = "A line the editor saved in place."
FIRST = "Streamed first line."
REST = "And the rest of the answer."


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].split()[0]
    except OSError:
        return "gone"


def _wait_state(proc: subprocess.Popen[bytes], stopped: bool, what: str) -> None:
    """Until `write` (PROC) is stopped (state T) by its fault hook, or no longer stopped; it
    must not end first."""
    wait_until(lambda: (_state(proc.pid) == "T") == stopped, what, 30,
               seen=lambda: f"process state {_state(proc.pid)}", interval=0.01,
               while_alive=proc)


def _start_write(tmp_path: Path, path: Path, fault: str, *, streamed: bool
                 ) -> subprocess.Popen[bytes]:
    env = dict(os.environ, AGENT_DOC_FAULT=fault)
    proc = subprocess.Popen([PY, "-m", "agent_doc", "write", str(path)], cwd=tmp_path, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None
    if streamed:  # a pipe that pauses streams: the first flush is the first exchange
        proc.stdin.write(f"{FIRST}\n".encode())
        proc.stdin.flush()
    else:  # all of it at once: the final write is the only exchange
        proc.stdin.write(f"{FIRST}\n{REST}".encode())
        proc.stdin.close()
    return proc


def _save_in_place(path: Path) -> None:
    """An editor's in-place save (open, truncate, write): one more line under the title."""
    save_in_place(path, with_line(path.read_text(), "# Session notes", SAVED))


def _displaced(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.agent-doc-displaced-*"))


@pytest.mark.parametrize("streamed", [False, True], ids=["final-write", "flush"])
def test_a_save_displaced_by_a_killed_exchange_is_merged_not_lost(tmp_path: Path,
                                                                  streamed: bool) -> None:
    (tmp_path / ".agent-doc").mkdir()
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    proc = _start_write(tmp_path, path, "before-exchange=stop,after-exchange=kill",
                        streamed=streamed)
    try:
        # stopped under the document lock, after its read, before its exchange
        _wait_state(proc, True, "the write to stop before its exchange "
                    "(AGENT_DOC_FAULT=before-exchange=stop)")
        _save_in_place(path)
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    on_disk = path.read_text()
    assert FIRST in on_disk and SAVED not in on_disk  # the exchange displaced the save
    kept = _displaced(path)
    assert len(kept) == 1 and SAVED in kept[0].read_text(), (kept, os.listdir(tmp_path))
    # a later safe write of the document (temp-file cleaning) must not touch it
    from safefile import atomic_write

    atomic_write(tmp_path / "other.md", "x")
    from safefile.atomic import clean_stale_temps

    clean_stale_temps(str(path))
    assert _displaced(path) == kept
    r = run_cli("recover", str(path), cwd=tmp_path)
    assert r.returncode == 0, r
    final = path.read_text()
    assert final.count(SAVED) == 1, final
    assert final.count(FIRST) == 1 and "agent:boundary" not in final, final
    if streamed:
        assert "*[answer interrupted]*" in final, final
    else:
        assert REST in final, final
    assert _displaced(path) == [], os.listdir(tmp_path)
    assert not list((tmp_path / ".agent-doc" / "pending").glob("*.json"))
    d = run_cli("diff", str(path), cwd=tmp_path)
    assert f"+{SAVED}" in d.stdout, d  # the user's save is the user's change
    assert FIRST not in d.stdout, d


@pytest.mark.parametrize("streamed", [False, True], ids=["final-write", "flush"])
def test_a_displaced_save_kept_by_a_kill_is_merged_by_the_next_write(
        tmp_path: Path, streamed: bool) -> None:
    """The kill also left the journal; a second `write` (the skill path) settles it first —
    the displaced save included — and only then writes its own answer."""
    (tmp_path / ".agent-doc").mkdir()
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    proc = _start_write(tmp_path, path, "before-exchange=stop,after-exchange=kill",
                        streamed=streamed)
    try:
        _wait_state(proc, True, "the write to stop before its exchange")
        _save_in_place(path)
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    r = run_cli("recover", str(path), cwd=tmp_path)  # `run`/`watch` call the same settle
    assert r.returncode == 0, r
    assert path.read_text().count(SAVED) == 1


@pytest.mark.parametrize("streamed", [False, True], ids=["final-write", "streamed"])
def test_diff_after_a_kill_between_final_write_and_snapshot(tmp_path: Path,
                                                            streamed: bool) -> None:
    (tmp_path / ".agent-doc").mkdir()
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    # a first answered cycle, so a snapshot exists (the answer must not be diffed against it)
    assert run_cli("write", str(path), cwd=tmp_path, input="An earlier answer.").returncode == 0
    with open(path, "a") as f:
        f.write("A second question.\n")
    proc = _start_write(tmp_path, path, "before-snapshot=kill", streamed=streamed)
    if streamed:
        assert proc.stdin is not None
        wait_until(lambda: FIRST in path.read_text(), f"the first flush ({FIRST!r} on disk)",
                   30, seen=path.read_text, interval=0.01, while_alive=proc)
        proc.stdin.write(REST.encode())
        proc.stdin.close()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    text = path.read_text()
    assert REST in text and "agent:boundary" not in text  # the final write happened
    assert list((tmp_path / ".agent-doc" / "pending").glob("*.json"))  # the journal stays
    with open(path, "a") as f:
        f.write("The user goes on typing.\n")
    d = run_cli("diff", str(path), cwd=tmp_path)
    assert d.returncode == 0, d
    assert FIRST not in d.stdout and REST not in d.stdout, d.stdout
    assert "+The user goes on typing." in d.stdout, d.stdout  # the user's text still shows
    assert "A second question." not in d.stdout, d.stdout  # it was sent with the answer
    r = run_cli("recover", str(path), cwd=tmp_path)
    assert r.returncode == 0, r
    assert path.read_text().count(REST) == 1
    d2 = run_cli("diff", str(path), cwd=tmp_path)
    assert FIRST not in d2.stdout and REST not in d2.stdout, d2


def test_a_save_made_from_a_displaced_version_keeps_every_user_line(tmp_path: Path) -> None:
    """Three editor saves between the rounds of one write-back (soak seed 7957): round 1
    displaces a save (line 1); round 2 displaces a save made from the text round 1 put on disk
    (line 2); the editor then writes a save made from *that displaced save* (line 3), slowly and
    in place, into the file round 2 put on disk; round 3 displaces it. Merged against round 2's
    text instead of the version it was made from, line 1 read as the user's deletion."""
    doc = ("# Session notes\n\nintro a\n\nintro b\n\nintro c\n\n## User\n\n"
           "Please explain streaming.\n")
    (tmp_path / ".agent-doc").mkdir()
    path = tmp_path / "doc.md"
    path.write_text(doc)

    def write_in_place(text: str) -> None:
        save_in_place(path, text)

    proc = _start_write(tmp_path, path, "before-exchange=stop*3", streamed=False)
    try:
        _wait_state(proc, True, "round 1 to stop before its exchange")
        write_in_place(with_line(path.read_text(), "intro a", "user line 1"))
        os.kill(proc.pid, signal.SIGCONT)
        _wait_state(proc, False, "round 1 to go on")
        _wait_state(proc, True, "round 2 to stop before its exchange")
        round1 = path.read_text()  # round 1's text, without line 1 (it displaced it)
        assert FIRST in round1 and "user line 1" not in round1, round1
        save2 = with_line(round1, "intro b", "user line 2")
        write_in_place(save2)
        os.kill(proc.pid, signal.SIGCONT)
        _wait_state(proc, False, "round 2 to go on")
        _wait_state(proc, True, "round 3 to stop before its exchange")
        assert "user line 1" in path.read_text()  # round 2's text: line 1 merged back
        write_in_place(with_line(save2, "intro c", "user line 3"))  # made from save 2
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    final = path.read_text()
    for n in (1, 2, 3):
        assert final.count(f"user line {n}\n") == 1, final
    assert final.count(FIRST) == 1 and final.count(REST) == 1, final
    assert "<<<<<<<" not in final, final
    assert _displaced(path) == []
