"""A test kit around the REAL Claude Code CLI: where it is installed, a local stand-in for the
Anthropic Messages API, and the environment the CLI runs in.

* :func:`claude_binary` finds the pinned ``@anthropic-ai/claude-code`` (``CLAUDE_CODE_VERSION``,
  overridable with ``AGENT_DOC_CLAUDE_CODE_VERSION``) in a cache folder outside the repository
  (``${XDG_CACHE_HOME:-~/.cache}/agent-doc-tests/claude-code/VERSION``, or
  ``AGENT_DOC_CLAUDE_CODE_DIR``), installing it with ``npm install --prefix`` when npm is
  there; tests call :func:`require_claude`, which skips with a loud reason only when it cannot
  be installed. ``.ci/run`` installs it beforehand.
* :class:`StandIn` is a small HTTP server that speaks enough of the Messages API for the CLI:
  ``POST /v1/messages`` non-streaming and SSE streaming, ``tool_use`` blocks, error bodies,
  ``count_tokens``, and the few ``GET``/``HEAD`` requests it makes. Answers come from a
  *responder* (a function of the request) so a test scripts the conversation; every request is
  recorded so a test can assert what the real client sent.
* :func:`claude_env` is the environment the CLI runs in: every inherited ``CLAUDE*`` and
  ``ANTHROPIC*`` variable removed, HOME (the CLI's state: ``~/.claude``, ``~/.claude.json``)
  inside the test's temporary folder, the base URL of the stand-in, a fake key.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

#: the Claude Code version the real-client tests are pinned to (see the README's
#: "Claude Code compatibility" section for how to try another one)
PINNED_VERSION = "2.1.332"
CLAUDE_CODE_VERSION = os.environ.get("AGENT_DOC_CLAUDE_CODE_VERSION", "").strip() or PINNED_VERSION
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "claude_code"


def cache_dir(version: str = CLAUDE_CODE_VERSION) -> Path:
    """Where the pinned CLI is installed (``npm install --prefix`` of this folder)."""
    explicit = os.environ.get("AGENT_DOC_CLAUDE_CODE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(_real_home(), ".cache")
    return Path(base) / "agent-doc-tests" / "claude-code" / version


def _real_home() -> str:
    # the test fixture points HOME at a temporary folder: the cache lives in the real one
    import pwd

    return os.environ.get("AGENT_DOC_REAL_HOME") or pwd.getpwuid(os.getuid()).pw_dir


def _binary_in(folder: Path) -> Path:
    return folder / "node_modules" / ".bin" / "claude"


def _works(binary: Path) -> str | None:
    """The version the binary reports, or None when it does not run."""
    try:
        p = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                           timeout=60, env=claude_env(Path("/nonexistent"), None))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout.split()[0] if p.returncode == 0 and p.stdout.strip() else None


_STATE: dict[str, Any] = {}


def install(version: str = CLAUDE_CODE_VERSION) -> tuple[Path | None, str]:
    """``(binary, why)``: the installed CLI, installing it first when needed (once per
    process, serialised across processes by a lock file in the cache folder)."""
    if "result" in _STATE:
        return _STATE["result"]
    folder = cache_dir(version)
    binary = _binary_in(folder)
    result: tuple[Path | None, str]
    if binary.exists() and _works(binary):
        result = (binary, "")
    elif not shutil.which("npm"):
        result = (None, f"npm is not installed, so Claude Code {version} cannot be installed "
                        f"into {folder} (`.ci/run` installs nodejs and npm)")
    else:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / ".install.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not (binary.exists() and _works(binary)):
                    p = subprocess.run(
                        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder),
                         f"@anthropic-ai/claude-code@{version}"],
                        capture_output=True, text=True, timeout=900,
                    )
                    if p.returncode != 0:
                        raise OSError(f"npm install failed: {p.stderr.strip()[-800:]}")
            result = (binary, "") if _works(binary) else (
                None, f"Claude Code {version} was installed into {folder} but does not run")
        except (OSError, subprocess.TimeoutExpired) as exc:
            result = (None, f"cannot install Claude Code {version} into {folder}: {exc}")
    _STATE["result"] = result
    return result


def require_claude() -> Path:
    """The real CLI, or a loud skip saying why it is missing."""
    binary, why = install()
    if binary is None:
        pytest.skip(f"REAL CLAUDE CODE NOT AVAILABLE — {why}")
    return binary


def claude_env(home: Path, base_url: str | None, **extra: str) -> dict[str, str]:
    """The environment for a real ``claude`` run, isolated from the caller's setup."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CLAUDE", "ANTHROPIC"))}
    env.update({
        "HOME": str(home),
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
    })
    if base_url:
        env["ANTHROPIC_BASE_URL"] = base_url
    env.update(extra)
    return env


# -- the stand-in Messages API ------------------------------------------------------------------

class Request:
    """One request the stand-in received."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body

    @property
    def is_message(self) -> bool:
        return self.method == "POST" and self.path.split("?")[0] == "/v1/messages"

    @property
    def text(self) -> str:
        """Every string in the request body (system prompt, messages, tool results)."""
        return "\n".join(_strings(self.body))

    def last_user_text(self) -> str:
        msgs = (self.body or {}).get("messages") or []
        for msg in reversed(msgs):
            if msg.get("role") == "user":
                return "\n".join(_strings(msg.get("content")))
        return ""

    def tool_results(self) -> list[dict[str, Any]]:
        """The ``tool_result`` blocks of the last user message."""
        msgs = (self.body or {}).get("messages") or []
        if not msgs or msgs[-1].get("role") != "user":
            return []
        content = msgs[-1].get("content")
        if not isinstance(content, list):
            return []
        return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class Reply:
    """What the stand-in answers to one ``/v1/messages`` request."""

    def __init__(self, blocks: list[dict[str, Any]] | None = None, *, status: int = 200,
                 error: tuple[str, str] | None = None, stop_reason: str | None = None,
                 pause: float = 0.0, stream_error: tuple[str, str] | None = None,
                 error_after: int = 0, gate: threading.Event | None = None) -> None:
        self.blocks = blocks or []
        self.status = status
        self.error = error
        #: streamed answers only: seconds between two SSE events (sent one by one, the
        #: connection closed at the end), and an ``event: error`` (type, message) sent after
        #: ``error_after`` text deltas instead of the rest of the answer
        self.pause = pause
        self.stream_error = stream_error
        self.error_after = error_after
        #: streamed answers only: after the first text delta, wait (at most 30 s) until the
        #: test sets ``gate``; ``gated`` then says whether it was set in time
        self.gate = gate
        self.gated: bool | None = None
        self.stop_reason = stop_reason or (
            "tool_use" if any(b["type"] == "tool_use" for b in self.blocks) else "end_turn")

    @classmethod
    def text(cls, text: str, **stream: Any) -> Reply:
        return cls([{"type": "text", "text": text}], **stream)

    @classmethod
    def tool(cls, name: str, tool_input: dict[str, Any], text: str | None = None) -> Reply:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        blocks.append({"type": "tool_use", "id": f"toolu_{os.urandom(8).hex()}",
                       "name": name, "input": tool_input})
        return cls(blocks)

    @classmethod
    def fail(cls, status: int, kind: str, message: str) -> Reply:
        return cls(status=status, error=(kind, message))


Responder = Callable[[Request], Reply]


def echo_responder(request: Request) -> Reply:
    return Reply.text("stand-in answer")


class StandIn:
    """A local stand-in for the Anthropic API on 127.0.0.1 (a free port).

    ``responder`` is called for every ``POST /v1/messages`` that is a conversation turn (not
    for the CLI's side requests such as title generation, which get a short text answer and
    are recorded with ``side=True``).
    """

    def __init__(self, responder: Responder = echo_responder) -> None:
        self.responder = responder
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        kit = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    return json.loads(raw) if raw else None
                except ValueError:
                    return raw.decode("utf-8", "replace")

            def _send(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", "req_standin")
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self) -> None:
                kit._record(Request("HEAD", self.path, dict(self.headers), None))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                kit._record(Request("GET", self.path, dict(self.headers), None))
                self._send(200, {"data": [], "has_more": False, "first_id": None,
                                 "last_id": None})

            def do_POST(self) -> None:
                req = Request("POST", self.path, dict(self.headers), self._body())
                route = self.path.split("?")[0]
                if route.endswith("/count_tokens"):
                    kit._record(req)
                    self._send(200, {"input_tokens": 1000})
                    return
                if route != "/v1/messages":
                    kit._record(req)
                    self._send(404, {"type": "error", "error": {
                        "type": "not_found_error", "message": f"no {route} here"}})
                    return
                req.side = _side_request(req.body)  # type: ignore[attr-defined]
                kit._record(req)
                if req.side:  # type: ignore[attr-defined]
                    reply = Reply.text('{"title": "Session", "isNewTopic": false}')
                else:
                    try:
                        reply = kit.responder(req)
                    except Exception as exc:  # a broken script shows up in the CLI's output
                        reply = Reply.fail(500, "api_error", f"stand-in responder failed: {exc!r}")
                self._answer(req, reply)

            def _answer(self, req: Request, reply: Reply) -> None:
                model = (req.body or {}).get("model", "claude-sonnet-4-5")
                if reply.error is not None:
                    kind, message = reply.error
                    self._send(reply.status, {"type": "error",
                                              "error": {"type": kind, "message": message}})
                    return
                msg_id = f"msg_{os.urandom(8).hex()}"
                usage = {"input_tokens": 10, "output_tokens": 5,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
                if not (req.body or {}).get("stream"):
                    self._send(200, {"id": msg_id, "type": "message", "role": "assistant",
                                     "model": model, "content": reply.blocks,
                                     "stop_reason": reply.stop_reason, "stop_sequence": None,
                                     "usage": usage})
                    return
                events: list[tuple[str, dict[str, Any]]] = [("message_start", {
                    "type": "message_start",
                    "message": {"id": msg_id, "type": "message", "role": "assistant",
                                "model": model, "content": [], "stop_reason": None,
                                "stop_sequence": None, "usage": usage}})]
                for i, block in enumerate(reply.blocks):
                    if block["type"] == "text":
                        events.append(("content_block_start", {
                            "type": "content_block_start", "index": i,
                            "content_block": {"type": "text", "text": ""}}))
                        text = block["text"]
                        for k in range(0, len(text), 40) or [0]:
                            events.append(("content_block_delta", {
                                "type": "content_block_delta", "index": i,
                                "delta": {"type": "text_delta", "text": text[k:k + 40]}}))
                    else:
                        events.append(("content_block_start", {
                            "type": "content_block_start", "index": i,
                            "content_block": {"type": "tool_use", "id": block["id"],
                                              "name": block["name"], "input": {}}}))
                        events.append(("content_block_delta", {
                            "type": "content_block_delta", "index": i,
                            "delta": {"type": "input_json_delta",
                                      "partial_json": json.dumps(block["input"])}}))
                    events.append(("content_block_stop",
                                   {"type": "content_block_stop", "index": i}))
                events.append(("message_delta", {
                    "type": "message_delta",
                    "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": 5}}))
                events.append(("message_stop", {"type": "message_stop"}))
                if reply.stream_error is not None:
                    deltas = [i for i, (name, obj) in enumerate(events)
                              if obj.get("delta", {}).get("type") == "text_delta"]
                    cut = deltas[reply.error_after] if reply.error_after < len(deltas) \
                        else len(events) - 1
                    kind, message = reply.stream_error
                    events = [*events[:cut], ("error", {
                        "type": "error", "error": {"type": kind, "message": message}})]
                if reply.pause or reply.stream_error is not None or reply.gate is not None:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.send_header("Connection", "close")
                    self.send_header("request-id", "req_standin")
                    self.end_headers()
                    self.close_connection = True
                    for name, obj in events:
                        self.wfile.write(f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode())
                        self.wfile.flush()
                        if reply.gate is not None and reply.gated is None and \
                                obj.get("delta", {}).get("type") == "text_delta":
                            reply.gated = reply.gate.wait(30)
                        time.sleep(reply.pause)
                    return
                data = b"".join(
                    f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()
                    for name, obj in events)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", "req_standin")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _record(self, req: Request) -> None:
        with self.changed:
            self.requests.append(req)
            self.changed.notify_all()

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what was received --------------------------------------------------------------------
    def turns(self) -> list[Request]:
        """The conversation requests (``POST /v1/messages`` other than side requests)."""
        with self.lock:
            return [r for r in self.requests if r.is_message and not getattr(r, "side", False)]

    def counts(self) -> dict[str, int]:
        with self.lock:
            msgs = [r for r in self.requests if r.is_message]
            return {"total": len(self.requests), "messages": len(msgs),
                    "turns": sum(1 for r in msgs if not getattr(r, "side", False))}

    def wait_turns(self, n: int, timeout: float = 60) -> list[Request]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                turns = [r for r in self.requests
                         if r.is_message and not getattr(r, "side", False)]
                if len(turns) >= n:
                    return turns
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the stand-in API saw {len(turns)} turn(s), "
                                         f"expected {n}")
                self.changed.wait(left)


def _side_request(body: Any) -> bool:
    """The CLI's own small requests (session titles, topic detection, quota probes): they
    carry no tools and ask for a short JSON/one-line answer. Conversation turns carry tools."""
    if not isinstance(body, dict):
        return True
    return not body.get("tools")


def write_fixture(name: str, text: str) -> Path:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / name
    path.write_text(text)
    return path


def prepare_interactive(home: Path, project: Path) -> None:
    """State for the interactive (TUI) CLI in ``home``: onboarding done, the fake API key
    approved, ``project`` trusted, and the permission mode ``default`` with auto mode disabled
    (2.1.3xx starts new users in "auto mode", whose server-side safety check a stand-in API
    cannot answer, and may offer to make it the default in a dialog)."""
    key = claude_env(home, None)["ANTHROPIC_API_KEY"]
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "theme": "dark",
        "customApiKeyResponses": {"approved": [key[-20:]], "rejected": []},
        "projects": {str(project): {"hasTrustDialogAccepted": True,
                                    "hasCompletedProjectOnboarding": True}},
    }))
    (home / ".claude" / "settings.json").write_text(json.dumps(
        {"permissions": {"defaultMode": "default"}, "disableAutoMode": "disable"}))
