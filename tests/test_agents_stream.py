"""Streaming answers of the claude and openai backends (issue 16), without the real CLI.

* openai: a real HTTP server on 127.0.0.1 speaking server-sent events, its deltas spread out
  (the server sends the rest of an answer only after the client handed the first delta on, so
  "deltas arrive before the end" is an ordering fact, not a timing); errors in the stream, an
  HTTP error before it, a connection cut, ``[DONE]`` missing.
* claude: the incremental stream-json reader on the output captured from the real CLI, split
  at every byte boundary; the claude backend against small programs that print stream-json
  the way the CLI does (slowly, with a tool turn, with noise lines, killed before the result).
  The real CLI itself: ``test_real_claude_stream.py``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent_doc.agents.base import AgentError, AgentReply
from agent_doc.agents.claude import (
    DEFAULT_ARGS,
    ClaudeAgent,
    StreamJsonReader,
    parse_stream_json,
    stream_args,
)
from agent_doc.agents.openai import OpenAIAgent

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "claude_code"
STREAMS = sorted(FIXTURES.glob("*/stream-json.jsonl"))


class Recorder:
    """A TextStream that records what it was handed and when."""

    def __init__(self, on_write: threading.Event | None = None) -> None:
        self.log: list[tuple[str, float, str]] = []
        self.on_write = on_write

    def write(self, delta: str) -> None:
        self.log.append(("write", time.monotonic(), delta))
        if self.on_write is not None:
            self.on_write.set()

    def restart(self) -> None:
        self.log.append(("restart", time.monotonic(), ""))

    @property
    def text(self) -> str:
        """The text since the last restart."""
        out: list[str] = []
        for kind, _, delta in self.log:
            if kind == "restart":
                out = []
            else:
                out.append(delta)
        return "".join(out)

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.log]


# -- openai: a real SSE server ------------------------------------------------------------------

Step = Any  # bytes to send | ("wait", Event) | ("sleep", seconds)


class SSEServer:
    """Answers each POST with a scripted sequence of raw writes (``script``)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Step] = []
        self.status = 200
        self.content_type = "text/event-stream"
        self.length: int | None = None  # a Content-Length (HTTP/1.1) the body may not reach
        self.waited: list[bool] = []  # for each ("wait", ev): whether it was set in time
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.requests.append({"headers": dict(self.headers), "body": json.loads(raw)})
                self.send_response(server.status)
                self.send_header("Content-Type", server.content_type)
                if server.length is not None:
                    self.send_header("Content-Length", str(server.length))
                self.end_headers()
                for step in server.script:
                    if isinstance(step, bytes):
                        self.wfile.write(step)
                        self.wfile.flush()
                    elif step[0] == "wait":
                        server.waited.append(step[1].wait(20))
                    else:
                        time.sleep(step[1])
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sse(monkeypatch: pytest.MonkeyPatch) -> Iterator[SSEServer]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    server = SSEServer()
    yield server
    server.close()


def chunk(content: str | None = None, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict[str, Any] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    obj = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(obj)}\n\n".encode()


DONE = b"data: [DONE]\n\n"
PIECES = ["\nThe first", " part, ", "then", " the rest\n", "of the answer.\n"]


def send_openai(url: str, stream: Recorder | None, timeout: float = 30,
                **kw: Any) -> AgentReply:
    return OpenAIAgent("local", url, timeout=timeout, **kw).send(
        "the prompt", resume_id=None, fork=False, model=None, stream=stream)


def test_openai_streams_deltas_before_the_end(sse: SSEServer) -> None:
    first = threading.Event()
    sse.script = [chunk(role=True), chunk(PIECES[0]), ("wait", first), ("sleep", 0.05),
                  *(x for p in PIECES[1:] for x in (chunk(p), ("sleep", 0.02))),
                  chunk(finish="stop"), DONE]
    rec = Recorder(on_write=first)
    reply = send_openai(sse.url, rec)
    end = time.monotonic()
    assert sse.requests[0]["body"]["stream"] is True
    assert sse.requests[0]["headers"]["Accept"] == "text/event-stream"
    # the server sent the rest only after the first delta had reached the stream
    assert sse.waited == [True]
    assert [d for _, _, d in rec.log] == PIECES
    assert all(t < end for _, t, _ in rec.log)
    assert rec.log[0][1] < rec.log[-1][1]
    assert reply == AgentReply("".join(PIECES).lstrip("\n").rstrip(), None)
    # the same answer unstreamed is the same reply
    sse.content_type = "application/json"
    sse.script = [json.dumps({"choices": [{"message": {"content": "".join(PIECES)}}]}).encode()]
    assert send_openai(sse.url, None) == reply
    assert "stream" not in sse.requests[1]["body"]


def test_openai_stream_split_anywhere_and_multiline_data(sse: SSEServer) -> None:
    """Events arriving in odd pieces (a byte at a time), CRLF lines, comments and a data field
    spread over two lines are read as one stream."""
    body = (b": keep-alive comment\r\n\r\n" + chunk("caf\u00e9 ").replace(b"\n", b"\r\n")
            + 'event: message\ndata: {"choices": [{"delta":\ndata:  {"content": "ol\u00e9"}}]}\n\n'
            .encode("utf-8") + chunk(finish="stop") + DONE)
    sse.script = [body[i:i + 1] for i in range(len(body))]
    rec = Recorder()
    assert send_openai(sse.url, rec).text == "caf\u00e9 ol\u00e9"
    assert rec.text == "caf\u00e9 ol\u00e9"


def test_openai_error_in_the_middle_of_the_stream(sse: SSEServer) -> None:
    sse.script = [chunk("partial "), chunk("answer"),
                  b'data: {"error": {"message": "model crashed: out of memory", '
                  b'"type": "server_error"}}\n\n']
    rec = Recorder()
    with pytest.raises(AgentError) as exc:
        send_openai(sse.url, rec)
    msg = str(exc.value)
    assert "reported an error in the middle of its answer" in msg
    assert "out of memory" in msg and "14 characters had arrived" in msg
    assert exc.value.hint and "nothing was written" in exc.value.hint
    assert rec.text == "partial answer"


def test_openai_http_error_before_the_stream(sse: SSEServer) -> None:
    sse.status = 404
    sse.content_type = "application/json"
    sse.script = [b'{"error": {"message": "model \'nope\' not found"}}']
    with pytest.raises(AgentError) as exc:
        send_openai(sse.url, Recorder(), model="nope")
    assert "answered HTTP 404" in str(exc.value) and "not found" in str(exc.value)
    assert "/v1" in (exc.value.hint or "")
    sse.status = 503
    sse.content_type = "text/event-stream"  # an error status whatever the content type
    sse.script = [b"overloaded"]
    with pytest.raises(AgentError, match=r"answered HTTP 503.*overloaded"):
        send_openai(sse.url, Recorder())


def test_openai_stream_without_done(sse: SSEServer) -> None:
    # the server closed after some text: neither [DONE] nor a finish_reason
    sse.script = [chunk("half an"), chunk(" answer")]
    rec = Recorder()
    with pytest.raises(AgentError) as exc:
        send_openai(sse.url, rec)
    assert "broke off: the stream ended before its end ([DONE]) after 14 characters" \
        in str(exc.value)
    assert "connection was cut" in (exc.value.hint or "")
    assert rec.text == "half an answer"
    # a finish_reason without [DONE] is a complete answer (servers that omit [DONE])
    sse.script = [chunk("whole answer"), chunk(finish="stop")]
    assert send_openai(sse.url, Recorder()).text == "whole answer"


def test_openai_connection_cut_mid_stream(sse: SSEServer) -> None:
    body = chunk("the beginning")
    sse.length = len(body) + 500  # promises more than it sends, then closes
    sse.script = [body]
    rec = Recorder()
    with pytest.raises(AgentError) as exc:
        send_openai(sse.url, rec)
    msg = str(exc.value)
    assert "the streamed answer from" in msg and "broke off" in msg
    assert "after 13 characters" in msg
    assert rec.text == "the beginning"


def test_openai_timeout_mid_stream(sse: SSEServer) -> None:
    from agent_doc.agents.base import AgentTimeout

    stop = threading.Event()
    sse.script = [chunk("a beginning"), ("wait", stop), chunk(finish="stop"), DONE]
    rec = Recorder()
    try:
        with pytest.raises(AgentTimeout, match=r"timed out after 0\.5 s"):
            send_openai(sse.url, rec, timeout=0.5)
    finally:
        stop.set()
    assert rec.text == "a beginning"


def test_openai_stream_garbage_and_empty(sse: SSEServer) -> None:
    sse.script = [chunk("ok"), b"data: <html>oops</html>\n\n"]
    with pytest.raises(AgentError, match="a streamed chunk is not JSON") as exc:
        send_openai(sse.url, Recorder())
    assert "OpenAI-compatible" in (exc.value.hint or "")
    sse.script = [chunk(role=True), chunk(finish="stop"), DONE]
    with pytest.raises(AgentError, match="empty response"):
        send_openai(sse.url, Recorder())


def test_openai_server_ignoring_stream_answers_json(sse: SSEServer) -> None:
    sse.content_type = "application/json; charset=utf-8"
    sse.script = [json.dumps({"choices": [{"message": {"content": "plain answer"}}]}).encode()]
    rec = Recorder()
    assert send_openai(sse.url, rec).text == "plain answer"
    assert rec.log == []  # nothing was streamed; the reply is the whole answer


def test_streams_attributes() -> None:
    assert OpenAIAgent.streams is True and ClaudeAgent.streams is True
    assert ClaudeAgent().streams is True
    assert ClaudeAgent("x", "x", ["-p", "--output-format", "text"]).streams is False


# -- claude: the incremental stream-json reader -------------------------------------------------


@pytest.mark.parametrize("path", STREAMS, ids=[p.parent.name for p in STREAMS])
def test_reader_split_at_every_byte_boundary(path: Path) -> None:
    data = path.read_bytes()
    events, final = parse_stream_json(data)
    assert final is not None
    deltas = [e.text for e in events if e.kind == "text"]
    for cut in range(len(data) + 1):
        rec = Recorder()
        reader = StreamJsonReader(rec)
        reader.feed(data[:cut])
        reader.feed(data[cut:])
        reader.close()
        assert reader.events == events, cut
        assert reader.final == final and reader.bad_lines == []
        assert [d for k, _, d in rec.log if k == "write"] == deltas
        assert rec.kinds().count("restart") == 0
    # one byte at a time, and the whole output without its last newline
    rec = Recorder()
    reader = StreamJsonReader(rec)
    assert data.endswith(b"\n")
    for i in range(len(data) - 1):
        reader.feed(data[i:i + 1])
    assert reader.final is None  # the result line is complete only with its newline...
    reader.feed(b"\n")
    assert reader.final == final
    reader.close()
    assert reader.events == events and rec.text == final.text
    reader = StreamJsonReader(Recorder())
    reader.feed(data.rstrip(b"\n"))
    reader.close()  # ...or at the end of the output
    assert reader.final == final


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj) + "\n"


def _se(event: dict[str, Any], parent: str | None = None) -> str:
    return _line({"type": "stream_event", "event": event, "session_id": SID,
                  "parent_tool_use_id": parent})


def _delta(text: str, parent: str | None = None) -> str:
    return _se({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}}, parent)


SID = "6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11"
START = _se({"type": "message_start", "message": {"role": "assistant", "content": []}})


def _result(text: str, **kw: Any) -> str:
    return _line({"type": "result", "subtype": "success", "is_error": False, "result": text,
                  "session_id": SID, **kw})


def test_reader_restarts_at_a_new_message_after_text_and_skips_subagents() -> None:
    out = (_line({"type": "system", "subtype": "init", "session_id": SID}) + START
           + _delta("Let me look.") + _se({"type": "message_stop"})
           + _line({"type": "user", "message": {"content": [{"type": "tool_result"}]}})
           + _se({"type": "message_start", "message": {}}, parent="toolu_1")
           + _delta("a subagent's words", parent="toolu_1")
           + START + _delta("The answer") + _delta(" is 42.") + "Warning: not json\n"
           + _result("The answer is 42."))
    rec = Recorder()
    reader = StreamJsonReader(rec)
    reader.feed(out.encode())
    reader.close()
    assert rec.kinds() == ["write", "restart", "write", "write"]
    assert rec.text == "The answer is 42."
    assert reader.final is not None and reader.final.text == "The answer is 42."
    assert reader.bad_lines == [b"Warning: not json"]


# -- claude: the backend against programs printing stream-json ---------------------------------


def fake_claude(tmp_path: Path, body: str) -> str:
    """A program that records its argv and runs ``body`` (Python, ``out(s)`` prints a line
    part and flushes, ``gate()`` waits until the test's stream got text)."""
    path = tmp_path / "fake-claude"
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, time\n"
        f"open({str(tmp_path / 'argv')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "sys.stdin.read()\n"
        "def out(s):\n    sys.stdout.write(s); sys.stdout.flush()\n"
        f"def gate():\n"
        f"    for _ in range(2000):\n"
        f"        if os.path.exists({str(tmp_path / 'gate')!r}): return True\n"
        f"        time.sleep(0.01)\n"
        f"    sys.stderr.write('GATE NEVER OPENED\\n'); sys.exit(7)\n"
        + body
    )
    path.chmod(0o755)
    return str(path)


class GateRecorder(Recorder):
    def __init__(self, gate: Path) -> None:
        super().__init__()
        self.gate = gate

    def write(self, delta: str) -> None:
        super().write(delta)
        self.gate.touch()


def send_claude(agent: ClaudeAgent, stream: Recorder | None, **kw: Any) -> AgentReply:
    return agent.send("prompt", resume_id=kw.pop("resume_id", None), fork=False, model=None,
                      stream=stream, **kw)


def test_claude_streams_with_stream_json_flags(tmp_path: Path) -> None:
    lines = [START, _delta("Hello"), _delta(" wor"), _delta("ld."), _result("Hello world.")]
    cmd = fake_claude(tmp_path, f"lines = {lines!r}\n"
                      "out(lines[0]); out(lines[1][:17]); time.sleep(0.05); out(lines[1][17:])\n"
                      "gate()\n"
                      "for line in lines[2:]: out(line)\n")
    rec = GateRecorder(tmp_path / "gate")
    reply = send_claude(ClaudeAgent(command=cmd), rec, resume_id=SID, new_conversation=True)
    assert reply == AgentReply("Hello world.", SID)
    assert rec.text == "Hello world." and rec.kinds() == ["write"] * 3
    argv = json.loads((tmp_path / "argv").read_text())
    assert argv[:7] == ["-p", "--output-format", "stream-json", "--verbose",
                        "--include-partial-messages", "--permission-mode", "acceptEdits"]
    assert argv[7:9] == ["--session-id", SID]
    # no stream: the JSON output format, as before
    cmd = fake_claude(tmp_path, f"out(json.dumps({{'result': 'plain', 'session_id': {SID!r}}}))\n")
    assert send_claude(ClaudeAgent(command=cmd), None) == AgentReply("plain", SID)
    assert json.loads((tmp_path / "argv").read_text())[:5] == list(DEFAULT_ARGS)


def test_stream_args() -> None:
    assert stream_args(DEFAULT_ARGS) == ["-p", "--output-format", "stream-json", "--verbose",
                                         "--include-partial-messages", "--permission-mode",
                                         "acceptEdits"]
    assert stream_args(["--verbose", "-p", "--output-format=json"]) == [
        "--verbose", "-p", "--output-format", "stream-json", "--include-partial-messages"]
    assert stream_args(["-p"]) is None and stream_args([]) is None
    assert stream_args(["--output-format", "text"]) is None


def test_claude_killed_before_its_result(tmp_path: Path) -> None:
    cmd = fake_claude(tmp_path, f"out({START!r}); out({_delta('half an ans')!r})\n"
                      "os.kill(os.getpid(), 9)\n")
    rec = Recorder()
    with pytest.raises(AgentError) as exc:
        send_claude(ClaudeAgent(command=cmd), rec)
    msg = str(exc.value)
    assert "was killed by SIGKILL before its final result" in msg
    assert "11 characters of its answer had arrived" in msg
    assert rec.text == "half an ans"
    # exit 0 but no result event (output cut short)
    cmd = fake_claude(tmp_path, f"out({START!r}); out({_delta('half')!r}); out('{{\"type\"')\n")
    with pytest.raises(AgentError) as exc:
        send_claude(ClaudeAgent(command=cmd), Recorder())
    assert "ended without its final result (no `result` event" in str(exc.value)
    assert "nothing was written" in str(exc.value)
    assert "--no-stream" in (exc.value.hint or "")
    # a program that does not speak stream-json at all
    cmd = fake_claude(tmp_path, "out('plain text answer\\n')\n")
    with pytest.raises(AgentError, match="did not answer with stream-json; its output starts "
                                         "with: 'plain text answer'"):
        send_claude(ClaudeAgent(command=cmd), Recorder())


def test_claude_stream_errors_as_without_stream(tmp_path: Path) -> None:
    err = _line({"type": "result", "subtype": "success", "is_error": True,
                 "api_error_status": 529, "result": "API Error: 529 Overloaded",
                 "session_id": SID})
    cmd = fake_claude(tmp_path, f"out({err!r}); sys.exit(1)\n")
    with pytest.raises(AgentError) as exc:
        send_claude(ClaudeAgent(command=cmd), Recorder())
    assert "returned an error (API status 529): API Error: 529 Overloaded" in str(exc.value)
    assert "try again later" in (exc.value.hint or "")
    # no conversation: the CLI's words on stderr, a result with is_error on stdout
    cmd = fake_claude(tmp_path, "sys.stderr.write('No conversation found with session ID: x\\n')\n"
                      + f"out({_result('', is_error=True, subtype='error_during_execution')!r})\n"
                      "sys.exit(1)\n")
    with pytest.raises(AgentError, match="has no conversation"):
        send_claude(ClaudeAgent(command=cmd), Recorder(), resume_id=SID, document="a.md")
    # "already in use": retried with --resume, streaming again
    marker = tmp_path / "tried"
    cmd = fake_claude(tmp_path, f"if '--session-id' in sys.argv:\n"
                      f"    open({str(marker)!r}, 'w').close()\n"
                      "    sys.stderr.write('Error: Session ID x is already in use.\\n')\n"
                      "    sys.exit(1)\n"
                      f"out({START!r}); out({_delta('again')!r}); out({_result('again')!r})\n")
    rec = Recorder()
    reply = send_claude(ClaudeAgent(command=cmd), rec, resume_id=SID, new_conversation=True)
    assert marker.exists() and reply.text == "again" and rec.text == "again"
    argv = json.loads((tmp_path / "argv").read_text())
    assert "--resume" in argv and "stream-json" in argv


def test_claude_stream_timeout(tmp_path: Path) -> None:
    from agent_doc.agents.base import AgentTimeout

    cmd = fake_claude(tmp_path, f"out({START!r}); out({_delta('slow')!r}); time.sleep(60)\n")
    rec = Recorder()
    with pytest.raises(AgentTimeout, match="timed out after 1 s"):
        send_claude(ClaudeAgent(command=cmd, timeout=1), rec)
    assert rec.text == "slow"


def test_claude_agent_without_json_args_does_not_stream(tmp_path: Path) -> None:
    cmd = fake_claude(tmp_path, f"out(json.dumps({{'result': 'r', 'session_id': {SID!r}}}))\n")
    agent = ClaudeAgent("mine", cmd, ["--format-is-mine"])
    rec = Recorder()
    assert send_claude(agent, rec) == AgentReply("r", SID)
    assert rec.log == [] and json.loads((tmp_path / "argv").read_text())[0] == "--format-is-mine"
