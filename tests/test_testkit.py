"""The shared test kit (tests/helpers) itself: what its waiting helper says when it times out,
and the exact documents :func:`helpers.docs.make_doc` writes for the shapes the tests rely on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.docs import CONVERSATION, make_doc
from helpers.procs import pid_gone, pid_running
from helpers.registry import registry, session_of
from helpers.waiting import wait_until

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_wait_until_returns_the_first_true_value() -> None:
    values = iter([0, None, "", [3]])
    assert wait_until(lambda: next(values), "a list", 5) == [3]


def test_wait_until_names_what_it_awaited_and_what_it_saw() -> None:
    with pytest.raises(AssertionError) as e:
        wait_until(lambda: False, "the answer in doc.md", 0.1, seen=lambda: "## User\nQ?\n")
    msg = str(e.value)
    assert "waiting for the answer in doc.md" in msg
    assert "last seen:\n## User\nQ?\n" in msg


def test_wait_until_shows_the_last_value_without_seen() -> None:
    with pytest.raises(AssertionError, match=r"waiting for two calls; last seen: \[\]"):
        wait_until(lambda: [], "two calls", 0.05)
    with pytest.raises(AssertionError, match=r"waiting for condition; last seen: 0"):
        wait_until(lambda: 0, timeout=0.05)


def test_wait_until_fails_at_once_when_the_awaited_process_ends(tmp_path: Path) -> None:
    """``while_alive``: a process that ended without bringing the condition about fails the wait
    with its exit status and output, long before the timeout (the message says "ended", not
    "timed out")."""
    p = subprocess.Popen([sys.executable, "-c", "import sys; print('out'); "
                          "sys.exit('the agent went away')"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with pytest.raises(AssertionError) as e:
        wait_until((tmp_path / "never").exists, "the answer file", 600, while_alive=p,
                   seen=lambda: "doc text")
    msg = str(e.value)
    assert "timed out" not in msg
    assert "ended (exit status 1) while waiting for the answer file" in msg
    assert "out\n" in msg and "the agent went away" in msg
    assert msg.endswith("last seen: 'doc text'")


def test_wait_until_asks_once_more_after_the_process_ended(tmp_path: Path) -> None:
    """A condition the process brought about before it ended counts: an ended process fails the
    wait only when the predicate is still false after the process was seen ended."""
    done = tmp_path / "done"
    p = subprocess.Popen([sys.executable, "-c", f"open({str(done)!r}, 'w').close()"])
    p.wait()
    assert wait_until(done.exists, "the done file", 5, while_alive=p) is True
    s = subprocess.Popen(["sleep", "30"])  # killed, nothing piped: no output to show
    s.kill()
    with pytest.raises(AssertionError, match=r"^`sleep 30` ended \(exit status -9\) while "
                       r"waiting for x; last seen: False$"):
        wait_until(lambda: False, "x", 600, while_alive=s)


def test_make_doc_default_and_unsessioned(tmp_path: Path) -> None:
    doc = make_doc(tmp_path / "sub", "a.md")
    assert re.fullmatch(rf"---\nagent_doc_session: {UUID}\n---\n# a\.md\n", doc.read_text())
    assert session_of(doc) == doc.read_text().split()[2]
    bare = make_doc(tmp_path, "b.md", session=None, body="text\n")
    assert bare.read_text() == "# b.md\ntext\n"
    null = make_doc(tmp_path, "c.md", session=None, unsessioned="---\nx: {name}\n---\n")
    assert null.read_text() == "---\nx: c.md\n---\n"


def test_make_doc_conversation_shape_with_every_option(tmp_path: Path) -> None:
    doc = make_doc(tmp_path, session="abc", before="# c\n", agent="claude", extra="resume: r\n",
                   blank=True, title=CONVERSATION, body="Q?\n", newline="\r\n", mode=0o600)
    assert doc.read_bytes() == (b"---\r\n# c\r\nagent_doc_session: abc\r\nagent: claude\r\n"
                                b"resume: r\r\n---\r\n\r\n# Session: Test\r\n\r\n## User\r\n\r\n"
                                b"Q?\r\n")
    assert doc.stat().st_mode & 0o777 == 0o600
    assert make_doc(tmp_path, "t.md", text="as is {x}\n").read_text() == "as is {x}\n"


def test_registry_is_empty_without_a_file_and_read_with_one(tmp_path: Path) -> None:
    assert registry(tmp_path) == {}
    (tmp_path / ".agent-doc").mkdir()
    (tmp_path / ".agent-doc" / "sessions.json").write_text('{"k": {"pane": "%1"}}')
    assert registry(tmp_path) == {"k": {"pane": "%1"}}


def test_pid_gone_tells_a_running_process_from_a_dead_one() -> None:
    p = subprocess.Popen(["sleep", "30"])
    try:
        assert pid_running(p.pid)
        assert not pid_gone(p.pid, timeout=0.1)
    finally:
        p.kill()
    # killed but not reaped: a zombie counts as gone
    assert pid_gone(p.pid)
    p.wait()
    assert pid_gone(p.pid) and not pid_running(p.pid)


def test_no_test_imports_from_conftest() -> None:
    """Issue 13: shared helpers live in tests/helpers; conftest.py only holds fixtures. (Four
    streaming test files merged after the kit still imported from it.)"""
    tests = Path(__file__).resolve().parent
    found = [f"{p.relative_to(tests)}:{n}"
             for p in sorted(tests.rglob("*.py"))
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.match(r"\s*(from conftest import|import conftest)\b", line)]
    assert found == [], "tests importing from conftest (use tests/helpers):\n" + "\n".join(found)
