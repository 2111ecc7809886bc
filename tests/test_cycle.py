"""The submit cycle through the real CLI (`run`, `write`, `recover`) with the fake claude.

Every `run` here is a real `python -m agent_doc` process; concurrency tests start several at
once. The fake agent is tests/fakes/claude (knobs: FAKE_CLAUDE_*).
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

import helpers.docs
from helpers.agents import claude_calls, wait_for_calls
from helpers.cli import run_cli
from helpers.docs import CONVERSATION
from helpers.procs import pid_gone

ANSWER = "Answer from fake claude"


make_doc = partial(helpers.docs.make_doc, agent="claude", blank=True, title=CONVERSATION,
                   body="Question one?\n")


def snapshot_path(doc: Path) -> Path:
    from agent_doc.project import Project

    return Path(Project.for_document(doc).snapshot_path(doc))


def pending_path(doc: Path) -> Path:
    from agent_doc.project import Project

    return Path(Project.for_document(doc).pending_path(doc))


def spawn(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
          ) -> subprocess.Popen[str]:
    full = dict(os.environ)
    if env:
        full.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "agent_doc", *args], env=full, cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def wait_for_call(log: Path, n: int = 1, timeout: float = 20.0) -> dict:
    """The fake agent's Nth call, once it was made."""
    return wait_for_calls(log, n, timeout)[n - 1]


# -- the basic cycle ------------------------------------------------------------------------


def test_run_appends_the_response_sets_resume_and_saves_the_snapshot(
    project: Path, fake_claude: Path
) -> None:
    doc = make_doc(project)
    sent = doc.read_text()
    r = run_cli("run", str(doc))
    assert r.returncode == 0, r
    assert f"[submit] starting for {doc}" in r.stderr
    assert "Submitting to claude..." in r.stderr
    assert f"Response appended to {doc}" in r.stderr
    calls = claude_calls(fake_claude)
    assert len(calls) == 1
    text = doc.read_text()
    answer = f"{ANSWER} (call {calls[0]['pid']})"
    # the document's own conversation: an id chosen by agent-doc, never `--continue`
    argv = calls[0]["argv"]
    assert "--continue" not in argv and "--fork-session" not in argv
    conv = argv[argv.index("--session-id") + 1]
    from agent_doc.document import read_document

    assert len(conv) == 36 and conv != read_document(doc).session
    expected = sent.replace("agent: claude\n", f"agent: claude\nresume: {conv}\n") + (
        f"\n## Assistant\n\n{answer}\n\n## User\n\n"
    )
    assert text == expected
    assert snapshot_path(doc).read_text() == expected
    assert not pending_path(doc).exists()
    # first submit: the document went in whole
    assert "Question one?" in calls[0]["prompt"]

    again = run_cli("run", str(doc))
    assert again.returncode == 0, again
    assert f"Nothing changed since last submit for {doc}" in again.stderr
    assert len(claude_calls(fake_claude)) == 1
    assert doc.read_text() == expected

    with doc.open("a") as fh:
        fh.write("Second question?\n")
    third = run_cli("run", str(doc))
    assert third.returncode == 0, third
    calls = claude_calls(fake_claude)
    assert len(calls) == 2
    assert calls[1]["argv"][calls[1]["argv"].index("--resume") + 1] == conv
    assert "--session-id" not in calls[1]["argv"]
    assert "+Second question?" in calls[1]["prompt"]
    assert doc.read_text().count("## Assistant") == 2


def test_run_json_and_missing_uuid_is_added(project: Path, fake_claude: Path) -> None:
    doc = make_doc(project, session=False)
    r = run_cli("run", str(doc), "--json")
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    assert out["status"] == "answered" and out["conflicts"] == 0
    import hashlib

    assert out["written_hash"] == hashlib.sha256(doc.read_bytes()).hexdigest()
    from agent_doc.document import read_document

    d = read_document(doc)
    assert d.session is not None and len(d.session) == 36
    assert d.resume is not None and len(d.resume) == 36 and d.resume != d.session


def test_response_headings_are_not_duplicated(
    project: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_RESULT", "## Assistant\n\nHello there.\n\n## User\n")
    doc = make_doc(project)
    assert run_cli("run", str(doc)).returncode == 0
    text = doc.read_text()
    assert text.count("## Assistant") == 1
    assert text.endswith("\n## Assistant\n\nHello there.\n\n## User\n\n")


def test_crlf_document_stays_crlf(project: Path, fake_claude: Path) -> None:
    doc = make_doc(project, newline="\r\n")
    r = run_cli("run", str(doc))
    assert r.returncode == 0, r
    raw = doc.read_bytes()
    assert re.search(rb"\r\nresume: [0-9a-f-]{36}\r\n", raw)
    assert b"Question one?\r\n\r\n## Assistant\r\n\r\n" + ANSWER.encode() in raw
    assert raw.endswith(b")\r\n\r\n## User\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert run_cli("run", str(doc)).stderr.count("Nothing changed") == 1


def test_sent_text_without_final_newline_reads_well(project: Path, fake_claude: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_RESULT", "R.")
    doc = make_doc(project, body="No newline at the end?")
    assert run_cli("run", str(doc)).returncode == 0
    assert doc.read_text().endswith("No newline at the end?\n\n## Assistant\n\nR.\n\n## User\n\n")


# -- concurrency: one agent call per change -------------------------------------------------


@pytest.mark.parametrize("n", [2, 5])
def test_concurrent_runs_make_one_agent_call(
    project: Path, fake_claude: Path, n: int
) -> None:
    doc = make_doc(project)
    procs = [spawn("run", str(doc), env={"FAKE_CLAUDE_SLEEP": "1"}) for _ in range(n)]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    assert all(rc == 0 for rc, _o, _e in results), results
    calls = claude_calls(fake_claude)
    assert len(calls) == 1
    text = doc.read_text()
    assert text.count(ANSWER) == 1
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    nothing = [e for _rc, _o, e in results if "Nothing changed since last submit" in e]
    assert len(nothing) == n - 1


def test_no_wait_returns_busy_while_a_cycle_runs(project: Path, fake_claude: Path) -> None:
    from agent_doc.project import Project

    doc = make_doc(project)
    before = doc.read_bytes()
    with Project.for_document(doc).submit_lock(doc):
        r = run_cli("run", str(doc), "--no-wait", "--json")
    assert r.returncode == 0, r
    assert "already running" in r.stderr and f"pid {os.getpid()}" in r.stderr
    assert json.loads(r.stdout)["status"] == "busy"
    assert doc.read_bytes() == before
    assert claude_calls(fake_claude) == []


def test_five_documents_in_parallel_each_get_their_own_response(
    project: Path, fake_claude: Path
) -> None:
    docs = [make_doc(project, f"doc{i}.md", body=f"Document number {i}?\n") for i in range(5)]
    procs = [spawn("run", str(d), env={"FAKE_CLAUDE_SLEEP": "0.5"}) for d in docs]
    for p in procs:
        assert p.wait(timeout=60) == 0, p.communicate()
    calls = claude_calls(fake_claude)
    assert len(calls) == 5
    pid_for = {}
    for c in calls:
        owners = [i for i in range(5) if f"Document number {i}?" in c["prompt"]]
        assert len(owners) == 1
        pid_for[owners[0]] = c["pid"]
    for i, d in enumerate(docs):
        text = d.read_text()
        assert text.count(ANSWER) == 1
        assert f"{ANSWER} (call {pid_for[i]})" in text


# -- edits while the agent works ------------------------------------------------------------


def test_line_appended_during_the_call_is_kept_after_the_response_and_in_the_next_diff(
    project: Path, fake_claude: Path
) -> None:
    doc = make_doc(project)
    r = run_cli("run", str(doc), env={"FAKE_CLAUDE_APPEND_TO": str(doc),
                                      "FAKE_CLAUDE_SLEEP": "0.2"})
    assert r.returncode == 0, r
    pid = claude_calls(fake_claude)[0]["pid"]
    text = doc.read_text()
    assert "<<<<<<<" not in text
    assert text.count(f"agent edit {pid}") == 1
    assert text.index(f"{ANSWER} (call {pid})") < text.index(f"agent edit {pid}")
    assert text.endswith(f"## User\n\nagent edit {pid}\n")
    assert "Merge successful" in r.stderr
    # the snapshot is sent text + response, so the line is in the next diff
    assert f"agent edit {pid}" not in snapshot_path(doc).read_text()
    r2 = run_cli("run", str(doc))
    assert r2.returncode == 0, r2
    assert f"+agent edit {pid}" in claude_calls(fake_claude)[1]["prompt"]


def _edit_during_call(doc: Path, log: Path, change) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    proc = spawn("run", str(doc), env={"FAKE_CLAUDE_SLEEP": "1"})
    wait_for_call(log)
    text = doc.read_text()
    tmp = doc.with_name(".editor-save")
    tmp.write_text(change(text))
    os.replace(tmp, doc)  # an editor's rename save
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_middle_edit_during_the_call_is_merged(project: Path, fake_claude: Path) -> None:
    doc = make_doc(project, body="First?\n\n## Assistant\n\nOld answer.\n\n## User\n\nSecond?\n")
    rc, _out, err = _edit_during_call(
        doc, fake_claude, lambda t: t.replace("Old answer.", "Old answer. > my inline note"))
    assert rc == 0, err
    text = doc.read_text()
    assert "Old answer. > my inline note" in text
    assert text.count(ANSWER) == 1 and "<<<<<<<" not in text
    assert re.search(r"\nresume: [0-9a-f-]{36}\n", text)
    assert "my inline note" not in snapshot_path(doc).read_text()


def test_overlapping_edits_during_the_call_keep_both_sides(
    project: Path, fake_claude: Path
) -> None:
    doc = make_doc(project, body="Intro line.\n\nThe question?\n")

    def change(t: str) -> str:
        t = t.replace("agent: claude\n", "agent: claude\ntags: mine\n")  # frontmatter edit
        t = t.replace("# Session: Test", "# Session: Renamed")  # top
        t = t.replace("The question?\n", "The question, reworded?\nAnd another line.\n")  # end
        return t

    rc, _out, err = _edit_during_call(doc, fake_claude, change)
    assert rc == 0, err
    text = doc.read_text()
    for piece in ("tags: mine", "# Session: Renamed", "The question, reworded?",
                  "And another line.", "\nresume: "):
        assert piece in text
    assert text.count(ANSWER) == 1
    assert text.index("And another line.") < text.index(ANSWER)
    assert "<<<<<<<" not in text
    assert "The question?" not in text


# -- failures leave everything as it was ----------------------------------------------------


def _prepared(project: Path) -> Path:
    """A document with a snapshot (one successful run) and a new question."""
    doc = make_doc(project)
    assert run_cli("run", str(doc)).returncode == 0
    with doc.open("a") as fh:
        fh.write("A new question?\n")
    return doc


@pytest.mark.parametrize("mode", ["exit1", "garbage", "empty", "is_error"])
def test_agent_failure_changes_nothing(project: Path, fake_claude: Path, mode: str) -> None:
    doc = _prepared(project)
    before, snap = doc.read_bytes(), snapshot_path(doc).read_bytes()
    r = run_cli("run", str(doc), env={"FAKE_CLAUDE_MODE": mode})
    assert r.returncode == 1, r
    assert r.stderr.startswith("[submit]") and "Error:" in r.stderr
    assert doc.read_bytes() == before
    assert snapshot_path(doc).read_bytes() == snap
    assert not pending_path(doc).exists()
    for c in claude_calls(fake_claude):
        assert pid_gone(c["pid"])


def test_agent_timeout_changes_nothing_and_kills_the_agent(
    project: Path, fake_claude: Path
) -> None:
    doc = _prepared(project)
    (project / ".agent-doc" / "config.toml").write_text("[agents.claude]\ntimeout = 1\n")
    before, snap = doc.read_bytes(), snapshot_path(doc).read_bytes()
    r = run_cli("run", str(doc), env={"FAKE_CLAUDE_MODE": "hang"})
    assert r.returncode != 0, r
    assert doc.read_bytes() == before and snapshot_path(doc).read_bytes() == snap
    assert not pending_path(doc).exists()
    assert pid_gone(claude_calls(fake_claude)[-1]["pid"])


def test_ctrl_c_exits_130_and_changes_nothing(project: Path, fake_claude: Path) -> None:
    doc = _prepared(project)
    before, snap = doc.read_bytes(), snapshot_path(doc).read_bytes()
    proc = spawn("run", str(doc), env={"FAKE_CLAUDE_MODE": "hang"})
    call = wait_for_call(fake_claude, 2)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert doc.read_bytes() == before and snapshot_path(doc).read_bytes() == snap
    assert not pending_path(doc).exists()
    assert pid_gone(call["pid"])
    # and the next run works without any cleanup
    r = run_cli("run", str(doc))
    assert r.returncode == 0, r
    assert doc.read_text().count(ANSWER) == 2


def test_unknown_agent_fails_before_anything_is_sent(project: Path, fake_claude: Path) -> None:
    doc = make_doc(project, agent="nonexistent")
    r = run_cli("run", str(doc))
    assert r.returncode == 1
    assert "unknown agent 'nonexistent'" in r.stderr
    assert claude_calls(fake_claude) == []


# -- files: mode, symlinks, dry-run ---------------------------------------------------------


def test_mode_is_kept(project: Path, fake_claude: Path) -> None:
    doc = make_doc(project)
    for mode in (0o644, 0o640):
        doc.chmod(mode)
        with doc.open("a") as fh:
            fh.write(f"More {mode}?\n")
        assert run_cli("run", str(doc)).returncode == 0
        assert stat.S_IMODE(doc.stat().st_mode) == mode


def test_symlinked_document_stays_a_symlink(project: Path, fake_claude: Path) -> None:
    target = make_doc(project / "real")
    link = project / "link.md"
    link.symlink_to(target)
    r = run_cli("run", str(link))
    assert r.returncode == 0, r
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_text().count(ANSWER) == 1
    assert snapshot_path(target) == snapshot_path(link)
    assert snapshot_path(target).read_text() == target.read_text()
    # through the real path: nothing changed (same snapshot key)
    assert "Nothing changed" in run_cli("run", str(target)).stderr


def _tree(root: Path) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns, data)
    return out


def test_dry_run_writes_nothing_at_all(project: Path, fake_claude: Path) -> None:
    fresh = make_doc(project, "fresh.md", session=False)  # no UUID: must not be added
    before = _tree(project)
    r = run_cli("run", str(fresh), "--dry-run")
    assert r.returncode == 0, r
    assert "--- Diff ---" in r.stderr
    assert "--- Prompt would be " in r.stderr
    assert "+Question one?" in r.stdout
    assert _tree(project) == before
    assert claude_calls(fake_claude) == []

    doc = make_doc(project)
    assert run_cli("run", str(doc)).returncode == 0
    with doc.open("a") as fh:
        fh.write("Next?\n")
    before = _tree(project)
    r = run_cli("run", str(doc), "--dry-run", "--json")
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    assert out["status"] == "dry-run" and "+Next?" in out["diff"] and out["prompt_bytes"] > 0
    assert _tree(project) == before
    assert len(claude_calls(fake_claude)) == 1


# -- write and recover ----------------------------------------------------------------------


def test_write_appends_stdin_and_updates_the_snapshot(project: Path, fake_claude: Path) -> None:
    doc = make_doc(project)
    r = run_cli("write", str(doc), input="## Assistant\n\nSkill answer.\n\n## User\n")
    assert r.returncode == 0, r
    text = doc.read_text()
    assert text.endswith("Question one?\n\n## Assistant\n\nSkill answer.\n\n## User\n\n")
    assert text.count("## Assistant") == 1
    assert snapshot_path(doc).read_text() == text
    assert not pending_path(doc).exists()
    # nothing new since: run has nothing to send
    assert "Nothing changed" in run_cli("run", str(doc)).stderr
    assert claude_calls(fake_claude) == []
    empty = run_cli("write", str(doc), input="  \n")
    assert empty.returncode == 1 and "standard input was empty" in empty.stderr
    assert doc.read_text() == text


def test_write_with_session_id_sets_resume(project: Path) -> None:
    doc = make_doc(project)
    conv = "0b6e3a1c-8d2f-4e57-a9c0-1d2e3f4a5b6c"
    r = run_cli("write", str(doc), "--session-id", conv, input="ok\n")
    assert r.returncode == 0, r
    assert f"resume: {conv}\n" in doc.read_text()
    # a session id is data that `run` would pass to claude: never an option, never garbage
    before = doc.read_bytes()
    for bad in ("abc-123", "--dangerously-skip-permissions"):
        r = run_cli("write", str(doc), f"--session-id={bad}", input="ok\n")
        assert r.returncode == 1 and "not a Claude conversation id" in r.stderr, r
        assert "hint:" in r.stderr and doc.read_bytes() == before


def test_recover_without_pending_says_so(project: Path) -> None:
    doc = make_doc(project)
    r = run_cli("recover", str(doc))
    assert r.returncode == 0
    assert f"No pending response for {doc}" in r.stderr


def test_recover_applies_a_pending_response_once(project: Path) -> None:
    from agent_doc.journal import write_pending
    from agent_doc.project import Project

    doc = make_doc(project)
    sent = doc.read_text()
    write_pending(Project.for_document(doc), doc, sent=sent, response="Pending answer.",
                  session_id="sess-9", agent="claude")
    with doc.open("a") as fh:
        fh.write("typed later\n")
    r = run_cli("recover", str(doc))
    assert r.returncode == 0, r
    text = doc.read_text()
    assert text.count("Pending answer.") == 1
    assert text.index("Pending answer.") < text.index("typed later")
    assert "resume: sess-9" in text
    assert not pending_path(doc).exists()
    assert "typed later" not in snapshot_path(doc).read_text()
    again = run_cli("recover", str(doc))
    assert "No pending response" in again.stderr and doc.read_text() == text


def test_run_applies_a_pending_response_first(project: Path, fake_claude: Path) -> None:
    from agent_doc.journal import write_pending
    from agent_doc.project import Project

    doc = make_doc(project)
    write_pending(Project.for_document(doc), doc, sent=doc.read_text(),
                  response="Left pending.", session_id="5e551010-0000-4000-8000-000000000001",
                  agent="claude")
    with doc.open("a") as fh:
        fh.write("A follow-up?\n")
    r = run_cli("run", str(doc))
    assert r.returncode == 0, r
    assert "applying a response left pending" in r.stderr
    text = doc.read_text()
    assert text.count("Left pending.") == 1 and text.count(ANSWER) == 1
    assert text.index("Left pending.") < text.index("A follow-up?") < text.index(ANSWER)
    calls = claude_calls(fake_claude)
    assert len(calls) == 1 and "+A follow-up?" in calls[0]["prompt"]
    assert "Left pending." not in calls[0]["prompt"].split("<document>")[0]


def test_progress_is_shown_on_a_terminal_only(project: Path, fake_claude: Path) -> None:
    import pty

    doc = make_doc(project)
    master, slave = pty.openpty()
    env = dict(os.environ, FAKE_CLAUDE_SLEEP="2.3")
    proc = subprocess.Popen([sys.executable, "-m", "agent_doc", "run", str(doc)], env=env,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(master)
    seen = b"".join(chunks).decode()
    assert proc.returncode == 0, seen
    assert "waiting for claude... 1s" in seen and "waiting for claude... 2s" in seen
    # not a terminal: no progress lines
    with doc.open("a") as fh:
        fh.write("Again?\n")
    r = run_cli("run", str(doc), env={"FAKE_CLAUDE_SLEEP": "1.2"})
    assert r.returncode == 0 and "waiting for" not in r.stderr


def test_failed_pre_commit_warns_and_the_cycle_goes_on(
    git_project: Path, fake_claude: Path
) -> None:
    doc = make_doc(git_project)
    r = run_cli("run", str(doc), env={"GIT_AUTHOR_NAME": "", "GIT_COMMITTER_NAME": "",
                                      "GIT_AUTHOR_EMAIL": "", "GIT_COMMITTER_EMAIL": ""})
    assert r.returncode == 0, r
    assert f"warning: could not commit {doc} before submitting" in r.stderr
    assert doc.read_text().count(ANSWER) == 1


def test_document_deleted_during_the_call_keeps_the_response_pending(
    project: Path, fake_claude: Path
) -> None:
    doc = make_doc(project)
    original = doc.read_text()
    proc = spawn("run", str(doc), env={"FAKE_CLAUDE_SLEEP": "1"})
    wait_for_call(fake_claude)
    doc.unlink()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "was deleted, renamed or moved while the agent was answering" in err
    assert "agent-doc recover" in err
    assert pending_path(doc).exists()
    doc.write_text(original)  # the user restores it
    r = run_cli("recover", str(doc))
    assert r.returncode == 0, r
    assert doc.read_text().count(ANSWER) == 1
    assert not pending_path(doc).exists()


def test_an_editor_that_never_stops_saving_keeps_its_last_save(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write-back gives up after MAX_SWAPS rounds when an editor saves (by rename) before
    every one of its exchanges. The disk then holds our previous round; the editor's last save
    exists nowhere else, so it is the version kept aside, as the error's hint says."""
    from agent_doc import cycle, journal, writeback
    from agent_doc.project import Project
    from safefile import exchange_write as real_exchange

    doc = make_doc(project, body="the question\n")
    proj = Project.for_document(doc)
    sent = doc.read_text()
    saves: list[str] = []

    def editor_saves_then_exchange(path: str, data: bytes, **kw: str) -> bytes | None:
        # the editor reads the file and saves it with one more line, by rename, just before
        # our exchange lands
        text = Path(path).read_text() + f"editor line {len(saves)}\n"
        tmp = Path(path).with_name(".editor-tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        saves.append(text)
        return real_exchange(path, data, **kw)

    monkeypatch.setattr(writeback, "exchange_write", editor_saves_then_exchange)
    monkeypatch.setattr(writeback, "MAX_SWAPS", 3)
    with proj.submit_lock(str(doc)):
        journal.write_pending(proj, doc, sent=sent, response="the answer", session_id=None,
                            agent="test")
        with pytest.raises(cycle.AgentDocError) as exc:
            writeback.apply_response(doc, proj, sent=sent, response="the answer", session_id=None)
    assert "kept changing" in exc.value.message
    kept = [p for p in project.iterdir() if ".agent-doc-saved-" in p.name]
    assert len(kept) == 1
    assert kept[0].read_text() == saves[-1]  # the editor's last save, with its last line
    assert f"editor line {len(saves) - 1}" in kept[0].read_text()
    assert Path(journal.pending_path(proj, str(doc))).exists()  # the answer is still kept
