"""An answer written over by a stale editor save is put back (issue 17, :mod:`agent_doc.repair`).

The stale save is forced, not hoped for: a real editor process reads the document (its
buffer), waits until the write-back has put the answer on disk, then saves its buffer plus one
typed line — in place or by rename — exactly what an editor does when agent-doc's write lands
in its check-then-write window. The next command that reads the document (``run``, ``write``,
``diff``, ``status``, the watch daemon's cycle) must put the answer back, keep the user's line,
and the next diff must show only the user's line. An answer the user had and deleted stays
deleted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import pytest

from agent_doc.repair import REPAIR_WINDOW, stale_merge
from helpers.agents import claude_calls
from helpers.cli import run_cli
from helpers.waiting import wait_until

SESSION = "0b6a2c1e-8f1d-4c3a-9e57-3d2f1a0b9c8d"
DOC = f"---\nagent_doc_session: {SESSION}\nagent: claude\n---\n\n# Session\n\n## User\n\n"
STALE_LINE = "typed in a stale buffer"
WAIT = 30.0


def stale_editor(doc: Path, marker: str, mode: str, *, first: str | None = None
                 ) -> subprocess.Popen[bytes]:
    """An editor process: reads ``doc`` into its buffer (first appending and saving ``first``,
    if given), says so in ``doc.ready``, waits until ``marker`` is on disk (the write-back
    happened), then saves its buffer + STALE_LINE without reloading, in place or by rename."""
    code = textwrap.dedent(
        f"""
        import os, time
        path, mode, first = {str(doc)!r}, {mode!r}, {first!r}
        with open(path, "rb") as fh:
            buf = fh.read()
        if first is not None:
            buf += first.encode() + b"\\n"
            with open(path, "r+b") as fh:
                fh.truncate(0)
                fh.write(buf)
        open(path + ".ready", "w").close()
        deadline = time.monotonic() + {WAIT}
        while {marker.encode()!r} not in open(path, "rb").read():
            if time.monotonic() > deadline:
                raise SystemExit("the write-back never came")
            time.sleep(0.01)
        new = buf + {STALE_LINE.encode()!r} + b"\\n"
        if mode == "inplace":
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            os.write(fd, new)
            os.close(fd)
        else:
            tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".swx")
            with open(tmp, "wb") as fh:
                fh.write(new)
            os.rename(tmp, path)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", code])
    ready = Path(str(doc) + ".ready")
    wait_for(lambda: ready.exists() or p.poll() is not None, "the editor to read the file")
    assert p.poll() is None, "the stale editor died before reading"
    ready.unlink()
    return p


wait_for = partial(wait_until, timeout=WAIT)


def check_repaired(text: str, answer: str) -> None:
    assert text.count(answer) == 1, text
    assert text.count(STALE_LINE) == 1, text
    assert text.index(answer) < text.index(STALE_LINE), text
    assert "<<<<<<<" not in text, text


# -- run / write, then the next command repairs ---------------------------------------------


@pytest.mark.parametrize(
    ("writer", "save", "checker"),
    [("run", "inplace", "run"), ("run", "rename", "diff"),
     ("write", "inplace", "write"), ("write", "rename", "status")],
)
def test_a_stale_save_after_the_write_back_is_repaired(
    project: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch,
    writer: str, save: str, checker: str,
) -> None:
    doc = project / "doc.md"
    doc.write_text(DOC + "first question\n")
    monkeypatch.setenv("FAKE_CLAUDE_RESULT", "the first answer")
    editor = stale_editor(doc, "the first answer", save)
    if writer == "run":
        r = run_cli("run", "--no-git", "doc.md", cwd=project)
    else:
        r = run_cli("write", "doc.md", cwd=project, input="the first answer\n")
    assert r.returncode == 0, r
    assert editor.wait(timeout=WAIT) == 0
    # the scenario: the editor's save, made from its buffer, removed the answer
    assert "the first answer" not in doc.read_text()

    monkeypatch.setenv("FAKE_CLAUDE_RESULT", "the second answer")
    if checker == "run":
        r = run_cli("run", "--no-git", "doc.md", cwd=project)
    elif checker == "write":
        r = run_cli("write", "doc.md", cwd=project, input="the second answer\n")
    elif checker == "diff":
        r = run_cli("diff", "doc.md", cwd=project)
    else:
        r = run_cli("status", "--json", cwd=project)
    assert r.returncode == 0, r
    assert "restored the answer" in r.stderr, r
    text = doc.read_text()
    check_repaired(text, "the first answer")
    assert "old entry" not in text, text  # the patch's deletion stays

    if checker in ("run", "write"):
        # the repair came before the diff: the agent is told about the user's line only
        assert text.count("the second answer") == 1, text
        assert text.index(STALE_LINE) < text.index("the second answer"), text
        if checker == "run":
            prompt = claude_calls(fake_claude)[-1]["prompt"]
            assert f"+{STALE_LINE}" in prompt, prompt
            assert "-the first answer" not in prompt, prompt
    else:
        if checker == "status":
            repairs = json.loads(r.stdout)["repairs"]
            assert [x["file"] for x in repairs] == ["doc.md"], repairs
            assert len(repairs[0]["repaired"]) == 1, repairs
        else:
            assert "-the first answer" not in r.stdout and f"+{STALE_LINE}" in r.stdout, r
        # the next diff shows the user's line, not the answer
        d = run_cli("diff", "doc.md", cwd=project)
        assert d.returncode == 0, d
        assert f"+{STALE_LINE}" in d.stdout, d
        assert "the first answer" not in d.stdout, d
        assert "restored" not in d.stderr, d  # repaired once, not again


def test_the_watch_daemon_repairs_a_stale_save(
    project: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = project / "doc.md"
    doc.write_text(DOC + "first question\n")
    monkeypatch.setenv("FAKE_CLAUDE_RESULT", "daemon answer {pid}")
    log = project.parent / "watch.log"
    with open(log, "wb") as fh:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "agent_doc", "watch", "--debounce", "100", "doc.md"],
            cwd=project, stdout=subprocess.DEVNULL, stderr=fh, env=dict(os.environ))
    try:
        wait_for(lambda: "Watching 1 file(s)" in log.read_text(), "the daemon")
        # the editor saves a question (the daemon answers it) and keeps typing in its buffer
        editor = stale_editor(doc, "daemon answer", "rename", first="a question")
        assert editor.wait(timeout=WAIT) == 0
        wait_for(lambda: log.read_text().count("Submit complete: doc.md") >= 2,
                 "the daemon's second cycle")
    finally:
        daemon.terminate()
        daemon.wait(timeout=WAIT)
    text = doc.read_text()
    calls = claude_calls(fake_claude)
    assert len(calls) == 2, (calls, log.read_text())
    first = f"daemon answer {calls[0]['pid']}"
    second = f"daemon answer {calls[1]['pid']}"
    check_repaired(text, first)
    assert text.count(second) == 1 and text.index(STALE_LINE) < text.index(second), text
    assert "restored the answer" in log.read_text()
    assert f"+{STALE_LINE}" in calls[1]["prompt"]
    assert f"-{first}" not in calls[1]["prompt"]


# -- what is never repaired -----------------------------------------------------------------


#: a conversation id already recorded (frontmatter values are data: `resume` is a UUID)
RESUME = "5f0c1a2b-3c4d-4e5f-8a6b-7c8d9e0f1a2b"


def _answered(project: Path, resume: bool) -> Path:
    doc = project / "doc.md"
    head = DOC.replace("agent: claude\n", f"agent: claude\nresume: {RESUME}\n") \
        if resume else DOC
    doc.write_text(head + "my question\n")
    r = run_cli("run", "--no-git", "doc.md", cwd=project,
                env={"FAKE_CLAUDE_RESULT": "an answer I read\nand did not like"})
    assert r.returncode == 0, r
    return doc


def _save_by_rename(doc: Path, text: str, mtime: float | None = None) -> None:
    tmp = doc.with_name(".doc.md.new")
    tmp.write_text(text)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, doc)


# (A fourth case, "deleted the whole block; `resume` came with the answer", is gone: the
# conversation id is recorded before the agent is called now, so it is no longer a line the
# write-back adds, and such a deletion is the ambiguous case the README's limits describe.)
@pytest.mark.parametrize("case", ["answer-lines", "undo", "after-window"])
def test_an_answer_the_user_had_and_deleted_stays_deleted(
    project: Path, fake_claude: Path, case: str
) -> None:
    doc = _answered(project, resume=True)
    w = doc.read_text()
    assert "an answer I read" in w
    block = "\n## Assistant\n\nan answer I read\nand did not like\n\n## User\n\n"
    assert w.endswith(block), w
    mtime = None
    if case == "answer-lines":  # deleted the answer's lines, typed under the new heading
        s = w.replace("an answer I read\nand did not like\n", "") + "a better question\n"
    elif case == "undo":  # the version before the answer, exactly
        s = w[: -len(block)]
    else:  # deleted the block and typed, but long after the answer came
        s = w[: -len(block)] + "a better question\n"
        mtime = time.time() + REPAIR_WINDOW + 30
    _save_by_rename(doc, s, mtime)
    d = run_cli("diff", "doc.md", cwd=project)
    assert d.returncode == 0, d
    assert "restored" not in d.stderr, d
    assert doc.read_text() == s
    assert "-an answer I read" in d.stdout, d  # the deletion is the user's, and is shown
    st = run_cli("status", "--json", cwd=project)
    assert doc.read_text() == s and "restored" not in st.stderr, st


# -- the decision itself (the engine, no processes) -----------------------------------------


P = "# S\n\n## User\n\nq1\n"
B = "\n## Assistant\n\nthe answer\n\n## User\n\n"


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (P + "typed\n", P + B + "typed\n"),  # stale save appending at the answer's place
        ("# S typo fixed\n\n## User\n\nq1\n" + "typed\n",
         "# S typo fixed\n\n## User\n\nq1\n" + B + "typed\n"),  # and an edit elsewhere
        (P, None),  # exactly the version before: an undo looks the same
        (P + "\n", None),  # only a blank line added: nothing to tell it from a deletion
        ("# S\n\n## User\n\n", None),  # only a deletion
        (P + B + "typed\n", None),  # the answer is there
        (P + "\n## Assistant\n\n\n## User\n\ntyped\n", None),  # answer lines deleted by hand
        (P + "\n## User\n\ntyped\n", None),  # typed under the heading the answer brought
        # the question edited and a line typed in one stretch: both before the answer, as
        # for edits made during the call (merge.py: "the question just asked")
        (P.replace("q1", "q1 changed") + "typed\n", P.replace("q1", "q1 changed") +
         "typed\n" + B),
    ],
)
def test_stale_merge_decisions(current: str, expected: str | None) -> None:
    assert stale_merge([P], P + B, current) == expected


def test_a_save_older_than_two_answers_gets_both_back() -> None:
    b1 = B.replace("the answer", "answer one")
    b2 = B.replace("the answer", "answer two")
    p1 = P
    p2 = P + b1 + "a line saved between the answers\n"
    w2 = p2 + b2
    # made from the version before the first answer: both answers and the line come back
    assert stale_merge([p1, p2], w2, p1 + "typed\n") == w2 + "typed\n"
    # made from the version between them: the first base does not qualify (it holds lines the
    # answers added), the second does
    assert stale_merge([p1, p2], w2, p2 + "typed\n") == w2 + "typed\n"
    # the user had the first answer and deleted it in their buffer, which they saved after
    # the second answer landed: the first stays deleted, the second (never seen) comes back
    deleted = P + "\n## Assistant\n\n\n## User\n\n" + "a line saved between the answers\n"
    assert stale_merge([p1, p2], w2, deleted + "typed\n") == deleted + b2 + "typed\n"


def test_a_patch_between_the_stale_save_and_the_check_does_not_prevent_the_repair(
    project: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `patch` rewrites the snapshot too (the entry is not a user change): the record must
    # survive it, and the repair must keep the entry
    doc = project / "doc.md"
    doc.write_text(DOC.replace("## User\n", "<!-- agent:log -->\n<!-- /agent:log -->\n\n## User\n")
                   + "first question\n")
    monkeypatch.setenv("FAKE_CLAUDE_RESULT", "the first answer")
    editor = stale_editor(doc, "the first answer", "rename")
    assert run_cli("run", "--no-git", "doc.md", cwd=project).returncode == 0
    assert editor.wait(timeout=WAIT) == 0
    assert "the first answer" not in doc.read_text()
    p = run_cli("patch", "doc.md", "log", "a log entry", cwd=project)
    assert p.returncode == 0, p
    # the patch checks first (its own record replaces the one that can repair the answer)
    assert "restored the answer" in p.stderr, p
    d = run_cli("diff", "doc.md", cwd=project)
    assert "restored" not in d.stderr, d
    text = doc.read_text()
    check_repaired(text, "the first answer")
    assert "old entry" not in text, text  # the patch's deletion stays
    assert text.count("a log entry") == 1, text
    assert "the first answer" not in d.stdout and f"+{STALE_LINE}" in d.stdout, d


@pytest.mark.parametrize(("save", "checker"), [("inplace", "diff"), ("rename", "patch"),
                                               ("rename", "run")])
def test_a_stale_save_over_a_patch_is_repaired(
    project: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch, save: str, checker: str
) -> None:
    """An editor read the document before `patch` wrote and saved after it (its own
    check-then-write window; soak seed 7957): the entry is put back, the user's line kept."""
    doc = project / "doc.md"
    doc.write_text(DOC.replace("## User\n", "<!-- agent:log -->\n<!-- /agent:log -->\n\n## User\n")
                   + "first question\n")
    assert run_cli("diff", "doc.md", cwd=project).returncode == 0  # the first snapshot
    editor = stale_editor(doc, "entry one", save)
    p = run_cli("patch", "doc.md", "log", "entry one", cwd=project)
    assert p.returncode == 0, p
    assert editor.wait(timeout=WAIT) == 0
    assert "entry one" not in doc.read_text()  # the scenario: the save removed the entry
    if checker == "diff":
        r = run_cli("diff", "doc.md", cwd=project)
    elif checker == "patch":
        r = run_cli("patch", "doc.md", "log", "entry two", cwd=project)
    else:
        monkeypatch.setenv("FAKE_CLAUDE_RESULT", "an answer")
        r = run_cli("run", "--no-git", "doc.md", cwd=project)
    assert r.returncode == 0, r
    assert "restored the patch of component 'log'" in r.stderr, r
    text = doc.read_text()
    # (the component's mode is `replace`: a second patch replaces the entry it restored)
    entry = "entry two" if checker == "patch" else "entry one"
    assert text.count(entry) == 1 and text.count(STALE_LINE) == 1, text
    assert text.index(entry) < text.index(STALE_LINE), text
    assert "<<<<<<<" not in text, text
    if checker == "run":  # the repair came before the prompt: the entry is not a deletion
        prompt = claude_calls(fake_claude)[-1]["prompt"]
        assert "-entry one" not in prompt and prompt.count("entry one") == 1, prompt
    d = run_cli("diff", "doc.md", cwd=project)
    assert "entry one" not in d.stdout, d  # the entry is not a user change
    assert "restored" not in d.stderr, d


def test_a_patch_that_only_deletes_lines_renews_the_previous_record(
    project: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer, then a patch that inserts nothing (the component emptied): the answer's
    record is renewed with the patched text, so a stale save made before the answer, landing
    after the patch, gets the answer back and keeps the patch's deletion."""
    doc = project / "doc.md"
    doc.write_text(DOC.replace("## User\n", "<!-- agent:log -->\nold entry\n"
                               "<!-- /agent:log -->\n\n## User\n") + "first question\n")
    monkeypatch.setenv("FAKE_CLAUDE_RESULT", "the first answer")
    buffer = doc.read_text()  # an editor's buffer, read before the answer
    assert run_cli("run", "--no-git", "doc.md", cwd=project).returncode == 0
    record = next((project / ".agent-doc" / "repair").glob("*.json")).read_bytes()
    p = run_cli("patch", "doc.md", "log", "", cwd=project)
    assert p.returncode == 0, p
    assert "old entry" not in doc.read_text()
    renewed = next((project / ".agent-doc" / "repair").glob("*.json")).read_bytes()
    assert renewed != record and b"the first answer" in renewed.split(b"\n")[0]
    _save_by_rename(doc, buffer + STALE_LINE + "\n")  # the editor saves it now
    d = run_cli("diff", "doc.md", cwd=project)
    assert "restored the answer" in d.stderr, d
    text = doc.read_text()
    check_repaired(text, "the first answer")
    assert "old entry" not in text, text  # the patch's deletion stays


def test_a_stale_save_during_the_write_back_loop_keeps_the_answer(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the write-back: a save that displaced our first swap is merged in; an editor
    that read the version it displaced (before our swap) then saves that version plus a line
    over our swapped-in text. Our next swap hands that save back: it lacks the answer because
    it was made from a version without it, not because the user deleted it. Found by
    ``python -m stress.repro_stale 40`` (an answer lost in ~1 of 40 writes)."""
    from agent_doc import writeback
    from agent_doc.project import Project

    doc = project / "doc.md"
    p0 = DOC + "my question\n"
    doc.write_text(p0)
    real_exchange = writeback.exchange_write
    calls: list[int] = []

    def rename_save(text: str) -> None:
        tmp = project / ".doc.md.swx"
        tmp.write_text(text)
        os.replace(tmp, doc)

    def exchange_with_an_editor(path: str, data: bytes, **kw: str) -> bytes | None:
        calls.append(1)
        if len(calls) == 1:  # saved after our read, before our first swap
            rename_save(p0 + "e1\n")
        elif len(calls) == 2:  # made from that save (read before our first swap)
            rename_save(p0 + "e1\ne2\n")
        return real_exchange(path, data, **kw)

    monkeypatch.setattr(writeback, "exchange_write", exchange_with_an_editor)
    result = writeback.apply_response(str(doc), Project.for_document(doc), sent=p0,
                                  response="the answer", session_id=None)
    text = doc.read_text()
    assert len(calls) == 3, calls
    assert text.count("the answer") == 1, text
    assert text.count("e1\n") == 1 and text.count("e2\n") == 1, text
    assert text.index("the answer") < text.index("e1\n") < text.index("e2\n"), text
    assert result.conflicts == 0 and "<<<<<<<" not in text


# -- what the checks read (issue 13: the repair's share of a write-back) ----------------------


def _written_back(tmp_path: Path) -> tuple[Path, object, str]:
    """A document the write-back has just answered (in process), and its project."""
    from agent_doc import writeback
    from agent_doc.project import Project

    (tmp_path / ".agent-doc").mkdir()
    doc = tmp_path / "doc.md"
    sent = DOC + "A question?\n"
    doc.write_text(sent)
    project = Project.for_document(doc)
    writeback.apply_response(doc, project, sent=sent, response="The answer.", session_id=None)
    assert "The answer." in doc.read_text()
    return doc, project, sent


def test_check_of_an_unchanged_or_undone_document_reads_only_the_record_head(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The common checks (the document is what the write-back wrote, holds the answer and
    more, or is exactly the one version it replaced: an undo) decide from the record's head:
    neither the snapshot nor the record's body is read, and nothing is repaired."""
    from agent_doc import repair
    from agent_doc.snapshot import SnapshotStore

    doc, project, sent = _written_back(tmp_path)
    answered = doc.read_text()
    real_load = repair._load

    def head_only(path: str, *, head_only: bool = False) -> object:
        assert head_only, "the record's body was parsed"
        return real_load(path, head_only=True)

    def no_snapshot(*_a: object) -> None:
        raise AssertionError("the snapshot was loaded")

    monkeypatch.setattr(SnapshotStore, "load", no_snapshot)
    monkeypatch.setattr(repair, "_load", head_only)
    assert repair.check(project, doc) is None  # type: ignore[arg-type]
    doc.write_text(answered + "typed after the answer\n")  # the usual next state
    assert repair.check(project, doc) is None  # type: ignore[arg-type]
    doc.write_text(sent)  # the user undid the answer: S == P is never repaired
    assert repair.check(project, doc) is None  # type: ignore[arg-type]
    assert doc.read_text() == sent
    monkeypatch.undo()
    # the record still works for a real stale save
    doc.write_text(sent + STALE_LINE + "\n")
    os.utime(doc)
    assert repair.check(project, doc) is not None  # type: ignore[arg-type]
    text = doc.read_text()
    assert "The answer." in text and STALE_LINE in text and answered != text
    assert "restored the answer" in capsys.readouterr().err


def test_record_deltas_rebuild_every_version() -> None:
    """The record keeps each pre-answer version as line hunks against the written text (a
    greedy walk for a few edits, the full alignment otherwise): every version comes back
    byte for byte."""
    import random

    from agent_doc.repair import _delta, _undelta

    rng = random.Random(13)
    for _ in range(2000):
        lines = ["a\n", "b\n", "\n", "## User\n", "x\r\n"]
        w = [rng.choice(lines) for _ in range(rng.randint(0, 40))]
        p = list(w)
        for _edit in range(rng.randint(0, 12)):
            k = rng.randint(0, len(p))
            op = rng.randint(0, 2)
            if op == 0:
                p.insert(k, rng.choice(["a\n", "new\n", "\n"]))
            elif p:
                p[min(k, len(p) - 1):min(k, len(p) - 1) + 1] = [] if op == 1 else ["c\n"]
        if p and rng.random() < 0.3:
            p[-1] = p[-1].rstrip("\n")
        assert _undelta(w, _delta(w, p)) == "".join(p), (w, p)


def test_a_record_written_before_the_head_line_still_repairs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A version-1 record (one JSON object: what agent-doc wrote before the head line) left
    by an upgrade inside the window is read, repairs, and is rewritten in the new form."""
    from agent_doc import repair

    doc, project, sent = _written_back(tmp_path)
    path = repair.record_path(project, doc)  # type: ignore[arg-type]
    head, body = Path(path).read_text().split("\n", 1)
    old = {**json.loads(body), **json.loads(head), "version": 1}
    del old["base_shas"]
    Path(path).write_text(json.dumps(old))
    doc.write_text(sent + STALE_LINE + "\n")
    assert repair.check(project, doc) is not None  # type: ignore[arg-type]
    assert "The answer." in doc.read_text() and "unreadable" not in capsys.readouterr().err
    assert json.loads(Path(path).read_text().split("\n", 1)[0])["version"] == repair.RECORD_VERSION
