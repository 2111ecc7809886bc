"""The ``claude`` protocol: the Claude Code CLI in print mode with JSON output (Part B §4.5).

Used for the agent ``claude`` and for any ``[agents.NAME]`` whose protocol is ``claude`` (the
default). The argument vector, in order:

1. the base arguments: ``-p --output-format json --permission-mode acceptEdits`` for
   ``claude``; ``[agents.NAME] args`` replaces them **entirely** (for other names they default
   to none, as in the reference: such a program must accept Claude's flags);
2. the document's own conversation: ``--session-id ID`` for a conversation that does not
   exist yet (agent-doc chose the id and recorded it in the frontmatter as ``resume`` before
   the call, see :mod:`agent_doc.cycle`), ``--resume ID`` afterwards. The CLI is never asked to
   ``--continue`` "the latest conversation of this folder": with Claude Code 2.1.x that made a
   new document's first submit continue another document's conversation. Two crash windows
   are healed by one retry: ``--session-id`` for an id the CLI already knows ("Session ID …
   is already in use": it was created by a run that died before its answer was applied) is
   retried with ``--resume``; the reverse ("No conversation found with session ID") is an
   error whose hint is ``agent-doc reset FILE``;
3. ``--model M`` when a model is given (``--model``/frontmatter, else ``[agents.NAME] model``);
4. ``--append-system-prompt`` with :data:`agent_doc.prompts.SYSTEM_PROMPT`.

Values that come from a document are **data, never options** (:func:`check_conversation_id`,
:func:`check_model`): ``resume`` must be a UUID and ``model`` a model name; nothing from the
document can become an argv element that starts with ``-``.

The prompt goes to stdin (then closed); ``CLAUDECODE`` is removed from the environment; the
process runs in its own process group (see :mod:`agent_doc.agents.command`) and in the
**project root** (``cwd``, set by :func:`agent_doc.agents.select_agent`): Claude Code files
conversations by the folder it runs in, so a run started from another folder (or by ``watch``
started elsewhere) must still find the document's conversation.

stdout must be one JSON value: an object with ``type``, ``subtype``, ``is_error``, ``result``
(string) and ``session_id``. With ``--verbose`` the CLI prints an array of messages instead;
then the last element whose ``type`` is ``"result"`` is used. :func:`parse_stream_json` reads
``--output-format stream-json`` (one JSON event per line).

**Streaming** (``send(..., stream=...)``, issue 16): the ``json`` output format of the arguments
becomes ``--output-format stream-json --verbose --include-partial-messages`` (checked against
the real Claude Code 2.1.332). Its stdout is one JSON event per line; :class:`StreamJsonReader`
reads the chunks as they arrive (a line buffer: a line may come in pieces, a chunk may hold
many lines) and hands on ``stream_event`` → ``content_block_delta`` → ``text_delta`` text with
``stream.write``; each ``message_start`` after text was written (a tool turn: the text before
the tool call is not the answer) calls ``stream.restart``; events of a subagent
(``parent_tool_use_id`` set) are not the answer and are skipped; a line that is not JSON is
kept aside, not fatal. The final ``result`` event is the reply exactly as with ``json``, and
every error is handled as there (``is_error`` results, API errors, "No conversation found",
"already in use"); a run that ends without a ``result`` event (killed mid-answer) is an error
that says so. Arguments without ``--output-format json`` (a configured ``args`` that asks for
something else) are not rewritten and such an agent does not stream (``streams`` is false).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from agent_doc.agents.base import AgentError, AgentReply, stderr_tail
from agent_doc.agents.command import (
    ProcessResult,
    check_exit,
    config_hint,
    decode_output,
    run_agent_process,
)
from agent_doc.errors import AgentDocError
from agent_doc.record import FrozenRecord
from fastpath import json_loads  # `json` pulls in `re` (bench/IMPORTS.md)

TYPE_CHECKING = False  # `typing` stays off the start-up path (bench/IMPORTS.md)
if TYPE_CHECKING:
    from typing import Any

    from agent_doc.agents.base import TextStream

DEFAULT_ARGS = ("-p", "--output-format", "json", "--permission-mode", "acceptEdits")
#: what replaces ``--output-format json`` when the answer is streamed
STREAM_FORMAT = ("--output-format", "stream-json", "--verbose", "--include-partial-messages")


def stream_args(args: Sequence[str]) -> list[str] | None:
    """``args`` with ``--output-format json`` (or ``--output-format=json``) replaced by
    :data:`STREAM_FORMAT` (``--verbose``/``--include-partial-messages`` not repeated); None
    when ``args`` do not ask for JSON output, so there is nothing to turn into a stream."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--output-format" and i + 1 < len(out) and out[i + 1] == "json":
            end = i + 2
            break
        if arg == "--output-format=json":
            end = i + 1
            break
    else:
        return None
    extra = [a for a in STREAM_FORMAT[2:] if a not in out]
    return [*out[:i], *STREAM_FORMAT[:2], *extra, *out[end:]]

#: characters a model name may hold ("claude-sonnet-4-5", "opus", "claude-opus-4-1[1m]",
#: "us.anthropic.claude-3-7-sonnet-20250219-v1:0", "arn:aws:bedrock:…/…")
_MODEL_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/@[]+"
)
_HEX = frozenset("0123456789abcdefABCDEF")


def is_conversation_id(value: str) -> bool:
    """Claude Code's conversation ids are UUIDs (``8-4-4-4-12`` hex digits)."""
    return (
        len(value) == 36
        and value[8] == value[13] == value[18] == value[23] == "-"
        and _HEX.issuperset(value.replace("-", ""))
    )


def check_conversation_id(value: str, doc: str) -> str:
    """``value`` (the frontmatter's ``resume``) if it is a conversation id, else an error."""
    if not is_conversation_id(value):
        raise AgentDocError(
            f"{doc}: frontmatter `resume: {_shown(value)}` is not a Claude conversation id "
            "(a UUID such as 6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11); nothing was sent",
            hint=f"remove the `resume:` line, or run `agent-doc reset {doc}` to start a new "
            "conversation for this document",
        )
    return value


def check_model(value: str, origin: str) -> str:
    """``value`` if it is a model name (never an option such as ``--dangerously-…``)."""
    if not value or value[0] in "-+" or not _MODEL_CHARS.issuperset(value):
        raise AgentDocError(
            f"{origin}: `{_shown(value)}` is not a model name; nothing was sent",
            hint="use a model name such as `sonnet`, `opus` or `claude-sonnet-4-5` (letters, "
            "digits and . _ - : / @ [ ], not starting with '-'), or remove it",
        )
    return value


def _shown(value: str) -> str:
    text = repr(value)[1:-1]
    return text if len(text) <= 80 else text[:77] + "..."


class ClaudeAgent:
    #: this backend takes a conversation id chosen by the caller (``--session-id``); the
    #: cycle records the id in the document before the call and passes ``new_conversation``
    chooses_conversation_id = True
    #: hands the answer on as it arrives (``send(..., stream=...)``); an instance whose
    #: ``args`` have no ``--output-format json`` sets it to False
    streams = True

    def __init__(
        self,
        name: str = "claude",
        command: str = "claude",
        args: Sequence[str] = DEFAULT_ARGS,
        *,
        model: str | None = None,
        timeout: float | None = None,
        config_file: str | None = None,
        cwd: str | None = None,
    ) -> None:
        self.name = name
        self.command = os.path.expanduser(command)
        self.args = list(args)
        self.model = model
        self.timeout = timeout
        self.config_file = config_file
        #: the folder the CLI runs in (the project root; None = ours)
        self.cwd = cwd
        self._document: str | None = None  # named in hints during send()
        self._stream_args = stream_args(self.args)
        if self._stream_args is None:
            self.streams = False

    def argv(
        self, *, resume_id: str | None, model: str | None, new_conversation: bool = False,
        fork: bool = False, stream: bool = False,
    ) -> list[str]:
        """The argument vector. ``fork`` is accepted for the :class:`Agent` interface and
        ignored: the CLI is never asked to continue "the latest" conversation of a folder.
        ``stream``: stream-json output (when the arguments allow it, see :func:`stream_args`)."""
        from agent_doc.prompts import SYSTEM_PROMPT

        args = self._stream_args if stream and self._stream_args is not None else self.args
        argv = [self.command, *args]
        if resume_id:
            if not is_conversation_id(resume_id):  # the cycle checks first, with the file name
                raise AgentDocError(
                    f"not a Claude conversation id: {_shown(resume_id)}",
                    hint="`agent-doc reset FILE` starts a new conversation",
                )
            argv += ["--session-id" if new_conversation else "--resume", resume_id]
        chosen = model or self.model
        if chosen:
            argv += ["--model", check_model(chosen, f"agent '{self.name}'")]
        argv += ["--append-system-prompt", SYSTEM_PROMPT]
        return argv

    def send(
        self, prompt: str, *, resume_id: str | None, fork: bool, model: str | None,
        new_conversation: bool = False, document: str | None = None,
        stream: TextStream | None = None,
    ) -> AgentReply:
        data = prompt.encode("utf-8")
        self._document = document
        streaming = stream is not None and self._stream_args is not None
        reader = StreamJsonReader(stream) if streaming else None
        result = self._run(self.argv(resume_id=resume_id, model=model,
                                     new_conversation=new_conversation, stream=streaming),
                           data, reader)
        if new_conversation and result.returncode != 0 and _says(result, "already in use"):
            # an earlier run created this conversation and died before its answer was
            # applied: the conversation exists, continue it
            sys.stderr.write(
                f"agent '{self.name}': conversation {resume_id} already exists (an earlier "
                "run was interrupted); continuing it\n"
            )
            sys.stderr.flush()
            if reader is not None:
                reader.restart()
                reader = StreamJsonReader(stream)
            result = self._run(self.argv(resume_id=resume_id, model=model, stream=streaming),
                               data, reader)
        elif (resume_id and not new_conversation and result.returncode != 0
              and _says(result, "no conversation found")):
            target = document or "FILE"
            raise AgentError(
                f"agent '{self.name}': Claude Code has no conversation {resume_id}"
                + (f" (the `resume:` of {document})" if document else "")
                + "; nothing was sent",
                hint=f"`agent-doc reset {target}` starts a new conversation for the document "
                "(its text is kept; the next run sends all of it). Claude Code keeps "
                "conversations under ~/.claude/projects/ by folder: it was deleted, made on "
                "another machine or by another user, or by an agent-doc before 0.2 run from "
                "another folder",
                agent=self.name,
                stderr_tail=stderr_tail(result.stderr),
            )
        return self.parse(result) if reader is None else self.parse_streamed(result, reader)

    def _run(self, argv: list[str], data: bytes,
             reader: StreamJsonReader | None = None) -> ProcessResult:
        result = run_agent_process(
            argv, data, agent=self.name, timeout=self.timeout, config_file=self.config_file,
            cwd=self.cwd, on_stdout=None if reader is None else reader.feed,
        )
        if reader is not None:
            reader.close()
        return result

    def _config(self) -> str | None:
        """The config file to name in "check args" hints: only one that exists (where to put
        a missing ``command`` is named even when the file does not exist yet)."""
        return self.config_file if self.config_file and os.path.exists(self.config_file) \
            else None

    # -- response ---------------------------------------------------------------------------
    def parse(self, result: ProcessResult) -> AgentReply:
        obj = _result_object_of(result.stdout)
        if result.returncode != 0 or (obj is not None and obj.get("is_error") is True):
            if obj is not None and obj.get("is_error") is True:
                raise self._reported_error(obj, result)
            reason = _json_result_text(result.stdout)
            check_exit(
                self.name, self.command, result, self._config(),
                detail=f": {reason}" if reason else "",
            )
        text = decode_output(self.name, result)
        tail = stderr_tail(result.stderr)
        try:
            value = json_loads(text)
        except ValueError as exc:
            shown = text.strip()
            raise AgentError(
                f"agent '{self.name}' did not answer with JSON ({exc}); "
                + (f"its output starts with: {shown[:200]!r}" if shown else "it printed nothing"),
                hint="a claude-protocol agent must print one JSON object like "
                '{"result": "...", "session_id": "..."} (`claude -p --output-format json`); '
                + config_hint(self.name, self._config(), "check args")
                + ', or use protocol = "text" for a program that prints plain text',
                agent=self.name,
                stderr_tail=tail,
            ) from None
        obj = _result_object(value)
        if obj is None:
            raise AgentError(
                f"agent '{self.name}' answered JSON without a result object: "
                f"{text.strip()[:200]!r}",
                hint='expected {"result": "...", "session_id": "..."}',
                agent=self.name,
                stderr_tail=tail,
            )
        return self._reply_of(obj, tail)

    def parse_streamed(self, result: ProcessResult, reader: StreamJsonReader) -> AgentReply:
        """The reply of a ``stream-json`` run: its ``result`` event, errors as :meth:`parse`."""
        obj = reader.final.raw if reader.final is not None else None
        if result.returncode != 0 or (obj is not None and obj.get("is_error") is True):
            if obj is not None and obj.get("is_error") is True:
                raise self._reported_error(obj, result)
            raw = obj.get("result") if obj is not None else None
            reason = raw.strip()[:500] if isinstance(raw, str) else ""
            check_exit(
                self.name, self.command, result, self._config(),
                detail=f": {reason}" if reason else (
                    " before its final result" + reader.progress()),
            )
        tail = stderr_tail(result.stderr)
        if obj is None:
            bad = reader.bad_lines[0].decode("utf-8", "replace").strip() if \
                reader.bad_lines else ""
            if bad and not reader.events:
                what = f"did not answer with stream-json; its output starts with: {bad[:200]!r}"
            else:
                what = "ended without its final result (no `result` event" + (
                    f"; a line that is not JSON: {bad[:200]!r}" if bad else "") + ")" \
                    + reader.progress()
            raise AgentError(
                f"agent '{self.name}' {what}; nothing was written",
                hint="submit again; a claude-protocol agent that streams must print Claude "
                "Code's stream-json events ending with a `result` (`claude -p --output-format "
                "stream-json --verbose`); `run --no-stream` (or `[stream] enabled = false` in "
                "the config) uses its JSON output instead",
                agent=self.name,
                stderr_tail=tail,
            )
        return self._reply_of(obj, tail)

    def _reply_of(self, obj: dict[str, Any], tail: str) -> AgentReply:
        raw = obj.get("result", "")
        body = raw if isinstance(raw, str) else ("" if raw is None else _json_text(raw))
        if not body.strip():
            raise AgentError(
                f"agent '{self.name}' gave an empty response",
                hint="nothing was written; submit again",
                agent=self.name,
                stderr_tail=tail,
            )
        sid = obj.get("session_id")
        return AgentReply(body, sid if isinstance(sid, str) and sid else None)

    def _reported_error(self, obj: dict[str, Any], result: ProcessResult) -> AgentError:
        """The CLI ran and reported a failure in its result (``is_error``): an API error
        (``api_error_status``), a login problem, a turn limit."""
        raw = obj.get("result")
        body = raw.strip() if isinstance(raw, str) else ""
        status = obj.get("api_error_status")
        lowered = body.lower()
        doc = self._document or "FILE"
        if "too long" in lowered:
            hint = ("the document (or its conversation) is too long for the model; nothing "
                    f"was written: shorten {doc}, or run `agent-doc reset {doc}` to start a new "
                    "conversation")
        elif status in (429, 500, 502, 503, 504, 529) or "overloaded" in lowered:
            hint = "the API is busy or rate-limited; nothing was written — try again later"
        elif status in (401, 403) or "log in" in lowered or "/login" in lowered:
            hint = "log Claude Code in (run `claude` once and follow /login) or set an API key"
        else:
            hint = ("the agent ran but reported a failure; try again, or check its setup "
                    "(login, quota, model name)")
        where = f" (API status {status})" if isinstance(status, int) else ""
        return AgentError(
            f"agent '{self.name}' returned an error{where}: {body or '(no message)'}",
            hint=hint,
            agent=self.name,
            stderr_tail=stderr_tail(result.stderr),
        )


def _says(result: ProcessResult, phrase: str) -> bool:
    text = (result.stderr[-4000:] + b"\n" + result.stdout[-4000:]).decode("utf-8", "replace")
    return phrase in text.lower()


def _json_text(value: object) -> str:
    """A ``result`` that is not text, as JSON (rare: ``json`` is imported only for it)."""
    import json

    return json.dumps(value)


def _result_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        for item in reversed(value):
            if isinstance(item, dict) and item.get("type") == "result":
                return item
    return None


def _result_object_of(stdout: bytes) -> dict[str, Any] | None:
    try:
        return _result_object(json_loads(stdout.decode("utf-8")))
    except (ValueError, UnicodeDecodeError):
        return None


def _json_result_text(stdout: bytes) -> str:
    obj = _result_object_of(stdout)
    if obj is None or not isinstance(obj.get("result"), str):
        return ""
    return obj["result"].strip()[:500]


# -- stream-json ------------------------------------------------------------------------------


class StreamEvent(FrozenRecord):
    """One line of ``claude -p --output-format stream-json --verbose`` output.

    ``kind``: ``"system"`` (``subtype`` ``init``/``status``…), ``"text"`` (a text delta of a
    streamed answer, with ``--include-partial-messages``), ``"assistant"`` (a whole assistant
    message; ``text`` is its text blocks joined), ``"user"`` (tool results), ``"result"`` (the
    final object, as in ``--output-format json``), or ``"other"`` (a ``stream_event`` that is
    not a text delta, and any type a newer CLI adds). ``raw`` is the decoded object.
    """

    kind: str
    subtype: str | None
    text: str
    session_id: str | None
    raw: dict[str, Any]


def parse_stream_line(line: str | bytes) -> StreamEvent | None:
    """One stream-json line as a :class:`StreamEvent`; None for a blank line. A line that is
    not a JSON object raises :class:`AgentError`."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    if not line.strip():
        return None
    try:
        obj = json_loads(line)
    except ValueError as exc:
        raise AgentError(f"claude printed a stream-json line that is not JSON ({exc}): "
                         f"{line.strip()[:200]!r}",
                         hint="is the CLI run with --output-format stream-json --verbose?") \
            from None
    if not isinstance(obj, dict):
        raise AgentError(f"claude printed a stream-json line that is not an object: "
                         f"{line.strip()[:200]!r}")
    kind = obj.get("type")
    sid = obj.get("session_id") if isinstance(obj.get("session_id"), str) else None
    sub = obj.get("subtype") if isinstance(obj.get("subtype"), str) else None
    if kind == "stream_event":
        event = obj.get("event") or {}
        delta = event.get("delta") or {} if isinstance(event, dict) else {}
        if isinstance(delta, dict) and delta.get("type") == "text_delta":
            return StreamEvent("text", None, str(delta.get("text", "")), sid, obj)
        return StreamEvent("other", event.get("type") if isinstance(event, dict) else None,
                           "", sid, obj)
    if kind in ("assistant", "user"):
        content = (obj.get("message") or {}).get("content")
        text = "".join(b.get("text", "") for b in content or []
                       if isinstance(b, dict) and b.get("type") == "text") \
            if isinstance(content, list) else (content if isinstance(content, str) else "")
        return StreamEvent(kind, sub, text, sid, obj)
    if kind == "result":
        raw = obj.get("result")
        return StreamEvent("result", sub, raw if isinstance(raw, str) else "", sid, obj)
    if kind == "system":
        return StreamEvent("system", sub, "", sid, obj)
    return StreamEvent("other", sub, "", sid, obj)


def parse_stream_json(output: str | bytes) -> tuple[list[StreamEvent], StreamEvent | None]:
    """All events of a stream-json output and its final ``result`` event (None if the
    stream ended without one, e.g. the CLI was killed)."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    events = [e for e in (parse_stream_line(line) for line in output.splitlines()) if e]
    final = next((e for e in reversed(events) if e.kind == "result"), None)
    return events, final


class StreamJsonReader:
    """Reads ``stream-json`` output incrementally: :meth:`feed` takes each stdout chunk as it
    is read (``procrun``'s ``on_stdout``, on the reading thread), :meth:`close` the end of the
    output. Complete lines are parsed at once; text deltas of the main conversation go to the
    ``stream`` (``write``), a ``message_start`` after text calls ``restart``. ``events`` are
    all events (the same as :func:`parse_stream_json` of the whole output), ``final`` the last
    ``result`` event, ``bad_lines`` the lines that are not JSON objects (skipped)."""

    def __init__(self, stream: TextStream | None = None) -> None:
        self.stream = stream
        self.events: list[StreamEvent] = []
        self.final: StreamEvent | None = None
        self.bad_lines: list[bytes] = []
        self.streamed = 0  # characters handed on since the last restart
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> None:
        if b"\n" not in chunk:
            self._buffer += chunk
            return
        head, _, rest = chunk.rpartition(b"\n")
        self._buffer += head
        lines = self._buffer.split(b"\n")
        self._buffer = bytearray(rest)
        for line in lines:
            self._line(bytes(line))

    def close(self) -> None:
        """The output ended: a last line without its newline is read too."""
        if self._buffer:
            line = bytes(self._buffer)
            self._buffer.clear()
            self._line(line)

    def restart(self) -> None:
        if self.streamed and self.stream is not None:
            self.stream.restart()
        self.streamed = 0

    def progress(self) -> str:
        return f" ({self.streamed} characters of its answer had arrived)" if self.streamed \
            else ""

    def _line(self, line: bytes) -> None:
        try:
            event = parse_stream_line(line)
        except AgentError:
            self.bad_lines.append(line)
            return
        if event is None:
            return
        self.events.append(event)
        if event.kind == "result":
            self.final = event
        elif event.raw.get("parent_tool_use_id"):
            return  # a subagent's messages (the Task tool) are not the answer
        elif event.kind == "text":
            if event.text and self.stream is not None:
                self.stream.write(event.text)
                self.streamed += len(event.text)
        elif event.kind == "other" and event.subtype == "message_start":
            self.restart()
