"""The headless cycle (`agent-doc run`, `watch`, `reset`) against the REAL Claude Code CLI.

The CLI (pinned in :mod:`claude_kit`) talks to a local stand-in of the Anthropic API that
records every request, so these tests assert what the real client sent: each document has its
own conversation from its first request, the second submit resumes it, runs from any folder
work, `reset` starts a new conversation, and API errors become clear agent-doc errors.
Skipped (loudly) only when the CLI cannot be installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_kit import FIXTURES, Reply, Request, StandIn, claude_env, require_claude
from helpers.cli import run_cli
from helpers.waiting import wait_until

UUID = re.compile(r"^resume: ([0-9a-f-]{36})$", re.M)


def _answer(request: Request) -> Reply:
    """Answers that quote the question, so the next request shows the exchange."""
    asked = re.findall(r"QUESTION-[A-Z0-9]+", request.last_user_text())
    return Reply.text(f"ANSWER to {asked[-1] if asked else 'nothing'}")


@pytest.fixture
def real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The real CLI as `claude` on PATH, talking to a stand-in API; its state in tmp_path."""
    binary = require_claude()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "claude").symlink_to(binary)
    with StandIn(_answer) as api:
        env = claude_env(Path(os.environ["HOME"]), api.url, CLAUDE_CODE_MAX_RETRIES="0")
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
        for key in [k for k in os.environ if k.startswith(("CLAUDE", "ANTHROPIC"))]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield api
        print(f"stand-in API requests: {api.counts()}")


def doc_with(path: Path, question: str) -> Path:
    path.write_text(f"---\nagent: claude\n---\n\n# Session\n\n## User\n\n{question}\n")
    return path


def resume_of(path: Path) -> str:
    m = UUID.search(path.read_text())
    assert m, path.read_text()
    return m.group(1)


def test_first_submits_of_two_documents_are_separate_conversations_and_resume_works(
    real: StandIn, project: Path
) -> None:
    a = doc_with(project / "a.md", "QUESTION-A1")
    b = doc_with(project / "b.md", "QUESTION-B1")
    assert run_cli("run", str(a), cwd=project).returncode == 0
    r = run_cli("run", str(b), cwd=project)
    assert r.returncode == 0, r
    first_a, first_b = real.turns()
    assert "QUESTION-A1" in first_a.text and "QUESTION-B1" not in first_a.text
    # the bug: `--continue --fork-session` made B's first request carry A's conversation
    assert "QUESTION-B1" in first_b.text
    assert "QUESTION-A1" not in first_b.text and "ANSWER to QUESTION-A1" not in first_b.text
    assert "ANSWER to QUESTION-A1" in a.read_text() and "ANSWER to QUESTION-B1" in b.read_text()
    assert resume_of(a) != resume_of(b)

    with a.open("a") as fh:
        fh.write("QUESTION-A2\n")
    r = run_cli("run", str(a), cwd=project)
    assert r.returncode == 0, r
    second_a = real.turns()[-1]
    # resumed: the request holds the first exchange as conversation history
    assert "QUESTION-A1" in second_a.text and "ANSWER to QUESTION-A1" in second_a.text
    assert "QUESTION-B1" not in second_a.text
    assert a.read_text().count("## Assistant") == 2 and "ANSWER to QUESTION-A2" in a.read_text()
    assert len(real.turns()) == 3


def test_runs_from_another_folder_run_the_agent_in_the_project_root(
    real: StandIn, project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    a = doc_with(project / "a.md", "QUESTION-X1")
    assert run_cli("run", str(a), cwd=elsewhere).returncode == 0
    with a.open("a") as fh:
        fh.write("QUESTION-X2\n")
    r = run_cli("run", str(a), cwd=elsewhere)
    assert r.returncode == 0, r
    first, second = real.turns()
    # Claude Code files conversations by its working directory, which it tells the model
    for req in (first, second):
        assert f"Primary working directory: {project}" in req.text or \
            f"Working directory: {project}" in req.text, req.text[:3000]
        assert str(elsewhere) not in req.text
    assert "ANSWER to QUESTION-X1" in second.text
    assert "ANSWER to QUESTION-X2" in a.read_text()


def test_watch_started_elsewhere_resumes_the_conversation(
    real: StandIn, project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    a = doc_with(project / "a.md", "QUESTION-W1")
    assert run_cli("run", str(a), cwd=project).returncode == 0
    log = tmp_path / "watch.log"
    with open(log, "wb") as fh:
        watch = subprocess.Popen(
            [sys.executable, "-m", "agent_doc", "watch", "--debounce", "100", str(a)],
            cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=fh, env=dict(os.environ),
        )
    try:
        wait_until(lambda: "Watching" in log.read_text(), "watch to start watching a.md", 30,
                   seen=log.read_text, interval=0.1, while_alive=watch)
        with a.open("a") as fh:
            fh.write("QUESTION-W2\n")
        wait_until(lambda: "ANSWER to QUESTION-W2" in a.read_text(),
                   "watch to answer QUESTION-W2 in a.md", 120,
                   seen=lambda: f"watch log:\n{log.read_text()}\na.md:\n{a.read_text()}",
                   interval=0.2, while_alive=watch)
    finally:
        watch.terminate()
        watch.wait(timeout=30)
    second = real.turns()[-1]
    assert "ANSWER to QUESTION-W1" in second.text, log.read_text()
    assert f"working directory: {project}" in second.text.lower().replace(
        "primary working directory", "working directory")
    assert str(elsewhere) not in second.text
    assert "No conversation found" not in log.read_text()


def test_reset_starts_a_new_conversation(real: StandIn, project: Path) -> None:
    a = doc_with(project / "a.md", "QUESTION-R1")
    assert run_cli("run", str(a), cwd=project).returncode == 0
    before = resume_of(a)
    r = run_cli("reset", str(a), cwd=project)
    assert r.returncode == 0, r
    assert "resume:" not in a.read_text()
    with a.open("a") as fh:
        fh.write("QUESTION-R2\n")
    r = run_cli("run", str(a), cwd=project)
    assert r.returncode == 0, r
    after = resume_of(a)
    assert after != before
    last = real.turns()[-1]
    # a new conversation: the earlier exchange is in the document (sent whole), not in the
    # conversation history
    roles = [m["role"] for m in last.body["messages"]]
    assert "assistant" not in roles, roles
    assert "QUESTION-R2" in last.last_user_text()
    assert "ANSWER to QUESTION-R1" in last.last_user_text()  # in the document


@pytest.mark.parametrize("status,kind,message,words", [
    (400, "invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum",
     ("too long", "reset")),
    (529, "overloaded_error", "Overloaded", ("529", "try again")),
])
def test_api_errors_are_clear_and_change_nothing(
    real: StandIn, project: Path, status: int, kind: str, message: str, words: tuple[str, ...]
) -> None:
    a = doc_with(project / "a.md", "QUESTION-E1")
    assert run_cli("run", str(a), cwd=project).returncode == 0
    with a.open("a") as fh:
        fh.write("QUESTION-E2\n")
    before = a.read_bytes()
    real.responder = lambda req: Reply.fail(status, kind, message)
    r = run_cli("run", str(a), cwd=project)
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr
    assert "agent 'claude' returned an error" in r.stderr and f"status {status}" in r.stderr
    for word in words:
        assert word in r.stderr.lower() or word in r.stderr, r.stderr
    assert "hint:" in r.stderr
    assert a.read_bytes() == before
    assert not list((project / ".agent-doc").glob("pending/*"))
    # and the next run, the API well again, answers in the same conversation
    real.responder = _answer
    r = run_cli("run", str(a), cwd=project)
    assert r.returncode == 0, r
    assert "ANSWER to QUESTION-E2" in a.read_text()


def test_first_submit_api_error_changes_nothing(real: StandIn, project: Path) -> None:
    """The id recorded before the first call is taken back when the call fails cleanly."""
    real.responder = lambda req: Reply.fail(529, "overloaded_error", "Overloaded")
    a = doc_with(project / "a.md", "QUESTION-F1")
    a.write_text(a.read_text().replace(
        "---\n", "---\nagent_doc_session: 6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11\n", 1))
    before = a.read_bytes()
    r = run_cli("run", str(a), cwd=project)
    assert r.returncode == 1, r
    assert a.read_bytes() == before
    assert not list((project / ".agent-doc").glob("pending/*"))
    real.responder = _answer
    r = run_cli("run", str(a), cwd=project)
    assert r.returncode == 0, r
    assert "ANSWER to QUESTION-F1" in a.read_text() and resume_of(a)


def test_a_run_killed_during_its_first_call_is_continued_by_the_next(
    real: StandIn, project: Path, tmp_path: Path
) -> None:
    """agent-doc SIGKILLed while Claude Code answers the first call: the conversation id is
    already in the document and Claude Code has opened that conversation; the orphan guard
    (issue 11) then stops Claude Code — whether it still records the answer first is a race.
    Either way the next run's `--session-id` is "already in use", so it resumes the same
    conversation, which holds the killed question (and its answer when Claude Code got to
    record it)."""
    import signal
    import threading

    gate = threading.Event()

    def slow(request: Request) -> Reply:
        gate.wait(60)
        return _answer(request)

    real.responder = slow
    a = doc_with(project / "a.md", "QUESTION-K1")
    run = subprocess.Popen([sys.executable, "-m", "agent_doc", "run", str(a)], cwd=project,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=dict(os.environ))
    try:
        real.wait_turns(1)
        conv = resume_of(a)  # recorded before the call
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        gate.set()
    store = Path(os.environ["HOME"]) / ".claude" / "projects"
    wait_until(lambda: [p for p in store.glob(f"*/{conv}.jsonl")
                        if "QUESTION-K1" in p.read_text(errors="replace")],
               "Claude Code's conversation file holding the killed question", timeout=60,
               seen=lambda: sorted(str(p) for p in store.glob("*/*.jsonl")))
    answered = any("ANSWER to QUESTION-K1" in p.read_text(errors="replace")
                   for p in store.glob(f"*/{conv}.jsonl"))
    assert "## Assistant" not in a.read_text()  # the answer never reached the document
    with a.open("a") as fh:
        fh.write("QUESTION-K2\n")
    real.responder = _answer
    r = run_cli("run", str(a), cwd=project)
    assert r.returncode == 0, r
    assert "already exists" in r.stderr
    assert resume_of(a) == conv
    last = real.turns()[-1]
    assert "QUESTION-K1" in last.text  # the killed exchange is in the history
    if answered:
        assert "ANSWER to QUESTION-K1" in last.text
    assert "ANSWER to QUESTION-K2" in a.read_text()


def test_unknown_conversation_offers_reset(real: StandIn, project: Path) -> None:
    a = doc_with(project / "a.md", "QUESTION-U1")
    assert run_cli("run", str(a), cwd=project).returncode == 0
    # Claude Code's own store of conversations is gone (another machine, cleaned up)
    import shutil

    shutil.rmtree(Path(os.environ["HOME"]) / ".claude" / "projects")
    with a.open("a") as fh:
        fh.write("QUESTION-U2\n")
    before = a.read_bytes()
    r = run_cli("run", str(a), cwd=project)
    assert r.returncode == 1, r
    assert "has no conversation" in r.stderr and f"agent-doc reset {a}" in r.stderr
    assert "config" not in r.stderr.split("hint:")[-1]
    assert a.read_bytes() == before
    assert run_cli("reset", str(a)).returncode == 0
    assert run_cli("run", str(a), cwd=project).returncode == 0
    assert "ANSWER to QUESTION-U2" in a.read_text()


def test_output_shapes_of_the_real_cli(real: StandIn, tmp_path: Path) -> None:
    """`-p --output-format json` and `stream-json` as the pinned CLI prints them, parsed by
    agent-doc's parsers (the stream-json output is kept as a fixture for unit tests)."""
    from agent_doc.agents.claude import parse_stream_json

    real.responder = lambda req: Reply.text("a streamed answer " * 6)
    work = tmp_path / "w"
    work.mkdir()
    p = subprocess.run(["claude", "-p", "--output-format", "json"], input="hi", cwd=work,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    assert {k: obj[k] for k in ("type", "subtype", "is_error")} == {
        "type": "result", "subtype": "success", "is_error": False}
    assert obj["result"] == ("a streamed answer " * 6).strip() or obj["result"].startswith(
        "a streamed answer")
    assert len(obj["session_id"]) == 36
    p = subprocess.run(["claude", "-p", "--output-format", "stream-json", "--verbose",
                        "--include-partial-messages"], input="hi", cwd=work,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    events, final = parse_stream_json(p.stdout)
    assert final is not None and final.text.startswith("a streamed answer")
    assert "".join(e.text for e in events if e.kind == "text") == final.text
    assert events[0].kind == "system" and events[0].subtype == "init"
    if os.environ.get("AGENT_DOC_CAPTURE_FIXTURES"):
        from claude_kit import CLAUDE_CODE_VERSION

        folder = FIXTURES / CLAUDE_CODE_VERSION
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "stream-json.jsonl").write_text(p.stdout)
