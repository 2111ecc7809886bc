"""The claude backend streaming against the REAL Claude Code CLI (issue 16).

The pinned CLI (:mod:`claude_kit`) runs with ``--output-format stream-json --verbose
--include-partial-messages`` against the local stand-in API, which streams its answers as SSE
(spread out, or held at a gate until the test's stream got the first delta, so "deltas arrive
before the end" is an ordering fact). Asserted: the deltas stream before the call ends, the
reply equals the unstreamed one, a tool turn restarts the stream and the answer is the final
message's, API errors mid-stream are clear errors. Skipped (loudly) only when the CLI cannot be
installed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_doc.agents.base import AgentError, AgentReply, AgentTimeout
from agent_doc.agents.claude import ClaudeAgent
from claude_kit import Reply, Request, StandIn, claude_env, require_claude


class Recorder:
    """A TextStream recording what it was handed, when; sets ``first`` on the first write."""

    def __init__(self) -> None:
        self.log: list[tuple[str, float, str]] = []
        self.first = threading.Event()

    def write(self, delta: str) -> None:
        self.log.append(("write", time.monotonic(), delta))
        self.first.set()

    def restart(self) -> None:
        self.log.append(("restart", time.monotonic(), ""))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.log]

    @property
    def text(self) -> str:
        out: list[str] = []
        for kind, _, delta in self.log:
            out = [] if kind == "restart" else [*out, delta]
        return "".join(out)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """The stand-in API, and the environment of a real `claude` run pointing at it."""
    require_claude()
    with StandIn() as server:
        for key in [k for k in os.environ if k.startswith(("CLAUDE", "ANTHROPIC"))]:
            monkeypatch.delenv(key)
        home = Path(os.environ["HOME"])  # the test's own (conftest)
        for key, value in claude_env(home, server.url, CLAUDE_CODE_MAX_RETRIES="0").items():
            monkeypatch.setenv(key, value)
        yield server
        print(f"stand-in API requests: {server.counts()}")


@pytest.fixture
def agent(tmp_path: Path) -> ClaudeAgent:
    work = tmp_path / "work"
    work.mkdir()
    (work / "note.txt").write_text("NOTE-CONTENT\n")
    return ClaudeAgent(command=str(require_claude()), cwd=str(work), timeout=120)


def send(agent: ClaudeAgent, stream: Recorder | None) -> AgentReply:
    return agent.send("the question", resume_id=None, fork=False, model=None, stream=stream)


ANSWER = "".join(f"Line {i} of a streamed answer.\n" for i in range(12)).strip()


def test_real_cli_streams_before_the_end_and_answers_as_unstreamed(
    api: StandIn, agent: ClaudeAgent
) -> None:
    rec = Recorder()
    reply = Reply.text(ANSWER, pause=0.02, gate=rec.first)
    api.responder = lambda req: reply
    got = send(agent, rec)
    end = time.monotonic()
    # the stand-in held the rest of the answer until the first delta had reached our stream
    assert reply.gated is True
    writes = [(t, d) for k, t, d in rec.log if k == "write"]
    assert len(writes) > 3 and all(t < end for t, _ in writes)
    assert rec.kinds() == ["write"] * len(writes)  # one message: no restart
    assert got.text == ANSWER and "".join(d for _, d in writes) == ANSWER
    assert got.session_id and len(got.session_id) == 36
    # the same answer unstreamed: the same reply text
    api.responder = lambda req: Reply.text(ANSWER)
    plain = send(agent, None)
    assert plain.text == got.text
    assert [bool(r.body.get("stream")) for r in api.turns()] == [True, True]


def test_real_cli_tool_turn_restarts_and_the_answer_is_the_last_message(
    api: StandIn, agent: ClaudeAgent
) -> None:
    def script(req: Request) -> Reply:
        if not req.tool_results():
            return Reply.tool("Read", {"file_path": f"{agent.cwd}/note.txt"},
                              text="Let me read the note first.")
        assert "NOTE-CONTENT" in req.text
        return Reply.text("The note says NOTE-CONTENT.", pause=0.01)

    api.responder = script
    rec = Recorder()
    got = send(agent, rec)
    assert got.text == "The note says NOTE-CONTENT."
    assert rec.kinds()[0] == "write" and "restart" in rec.kinds()
    assert rec.log[0][2] == "Let me read the note first."
    assert rec.text == got.text  # what was streamed since the restart is the answer
    assert len(api.turns()) == 2
    plain = send(agent, None)  # unstreamed, the same conversation shape, the same answer
    assert plain.text == got.text


def test_real_cli_api_error_mid_stream(api: StandIn, agent: ClaudeAgent) -> None:
    """The stream breaks with an SSE error event after some text. Claude Code 2.1.332 then
    asks again without streaming: when that fails too, the result is an API error; when it
    succeeds, the reply is the whole answer although the stream carried only its beginning
    (why the final text is the result's, never the streamed deltas)."""
    def failing(req: Request) -> Reply:
        if (req.body or {}).get("stream"):
            return Reply.text(ANSWER, stream_error=("overloaded_error", "Overloaded"),
                              error_after=2)
        return Reply.fail(529, "overloaded_error", "Overloaded")

    api.responder = failing
    rec = Recorder()
    with pytest.raises(AgentError) as exc:
        send(agent, rec)
    assert "returned an error (API status 529)" in str(exc.value)
    assert "try again later" in (exc.value.hint or "")
    assert rec.text and ANSWER.startswith(rec.text) and rec.text != ANSWER

    def recovering(req: Request) -> Reply:
        if (req.body or {}).get("stream"):
            return Reply.text(ANSWER, stream_error=("overloaded_error", "Overloaded"),
                              error_after=2)
        return Reply.text(ANSWER)

    api.responder = recovering
    rec = Recorder()
    got = send(agent, rec)
    assert got.text == ANSWER
    assert rec.text and ANSWER.startswith(rec.text) and rec.text != ANSWER


def test_real_cli_timeout_mid_stream(api: StandIn, agent: ClaudeAgent) -> None:
    """The stand-in stops after the first delta (its gate is never set): the timeout stops the
    CLI; the text streamed so far had arrived, the error says it timed out."""
    never = threading.Event()
    api.responder = lambda req: Reply.text(ANSWER, gate=never)
    agent.timeout = 8
    rec = Recorder()
    with pytest.raises(AgentTimeout, match="timed out after 8 s"):
        send(agent, rec)
    assert rec.text and ANSWER.startswith(rec.text)


def test_real_cli_conversation_errors_while_streaming(api: StandIn, agent: ClaudeAgent) -> None:
    """"No conversation found" and "already in use" behave as without streaming."""
    import uuid

    unknown = str(uuid.uuid4())
    with pytest.raises(AgentError) as exc:
        agent.send("q", resume_id=unknown, fork=False, model=None, stream=Recorder(),
                   document="a.md")
    assert f"has no conversation {unknown}" in str(exc.value)
    assert "agent-doc reset a.md" in (exc.value.hint or "")

    api.responder = lambda req: Reply.text(f"ANSWER {len(api.turns())}")
    conv = str(uuid.uuid4())
    first = agent.send("QUESTION-1", resume_id=conv, fork=False, model=None,
                       new_conversation=True, stream=Recorder())
    assert first == AgentReply("ANSWER 1", conv)
    # the same id again as new (a run killed after the CLI created it): continued
    rec = Recorder()
    again = agent.send("QUESTION-2", resume_id=conv, fork=False, model=None,
                       new_conversation=True, stream=rec)
    assert again == AgentReply("ANSWER 2", conv) and rec.text == "ANSWER 2"
    assert "ANSWER 1" in api.turns()[-1].text  # the earlier exchange is the history
