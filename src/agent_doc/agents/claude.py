"""The ``claude`` protocol: the Claude Code CLI in print mode with JSON output (Part B §4.5).

Used for the agent ``claude`` and for any ``[agents.NAME]`` whose protocol is ``claude`` (the
default). The argument vector, in order:

1. the base arguments: ``-p --output-format json --permission-mode acceptEdits`` for
   ``claude``; ``[agents.NAME] args`` replaces them **entirely** (for other names they default
   to none, as in the reference: such a program must accept Claude's flags);
2. ``--resume ID`` when the document has a ``resume`` id, else ``--continue --fork-session``
   when ``fork`` (which continues the latest conversation *of the current directory*). In a
   folder with no earlier conversation the CLI fails with "No conversation found to
   continue" (anthropics/claude-code#14844, #18282); we then say so on stderr and call once
   more without these two flags, which starts a new conversation;
3. ``--model M`` when a model is given (``--model``/frontmatter, else ``[agents.NAME] model``);
4. ``--append-system-prompt`` with :data:`agent_doc.prompts.SYSTEM_PROMPT`.

The prompt goes to stdin (then closed); ``CLAUDECODE`` is removed from the environment; the
process runs in its own process group (see :mod:`agent_doc.agents.command`).

stdout must be one JSON value: an object with ``result`` (string), ``is_error`` (bool) and
``session_id`` (string, optional). With ``--verbose`` the CLI prints an array of messages
instead; then the last element whose ``type`` is ``"result"`` is used.
"""

from __future__ import annotations

import json
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

TYPE_CHECKING = False  # `import typing` costs ~5 ms of start-up
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ARGS = ("-p", "--output-format", "json", "--permission-mode", "acceptEdits")


class ClaudeAgent:
    def __init__(
        self,
        name: str = "claude",
        command: str = "claude",
        args: Sequence[str] = DEFAULT_ARGS,
        *,
        model: str | None = None,
        timeout: float | None = None,
        config_file: str | None = None,
    ) -> None:
        self.name = name
        self.command = os.path.expanduser(command)
        self.args = list(args)
        self.model = model
        self.timeout = timeout
        self.config_file = config_file

    def argv(self, *, resume_id: str | None, fork: bool, model: str | None) -> list[str]:
        from agent_doc.prompts import SYSTEM_PROMPT

        argv = [self.command, *self.args]
        if resume_id:
            argv += ["--resume", resume_id]
        elif fork:
            argv += ["--continue", "--fork-session"]
        chosen = model or self.model
        if chosen:
            argv += ["--model", chosen]
        argv += ["--append-system-prompt", SYSTEM_PROMPT]
        return argv

    def send(
        self, prompt: str, *, resume_id: str | None, fork: bool, model: str | None
    ) -> AgentReply:
        data = prompt.encode("utf-8")
        result = run_agent_process(
            self.argv(resume_id=resume_id, fork=fork, model=model), data,
            agent=self.name, timeout=self.timeout, config_file=self.config_file,
        )
        if fork and not resume_id and result.returncode != 0 and _nothing_to_continue(result):
            # `--continue` fails in a folder with no earlier conversation ("No conversation
            # found to continue"): start a new one instead, as a first submit means to.
            sys.stderr.write(
                f"agent '{self.name}': no earlier conversation in this folder to fork; "
                "starting a new one\n"
            )
            sys.stderr.flush()
            result = run_agent_process(
                self.argv(resume_id=None, fork=False, model=model), data,
                agent=self.name, timeout=self.timeout, config_file=self.config_file,
            )
        return self.parse(result)

    # -- response ---------------------------------------------------------------------------
    def parse(self, result: ProcessResult) -> AgentReply:
        if result.returncode != 0:
            # The CLI often reports the reason in its JSON result as well: show it.
            reason = _json_result_text(result.stdout)
            check_exit(
                self.name, self.command, result, self.config_file,
                detail=f": {reason}" if reason else "",
            )
        text = decode_output(self.name, result)
        tail = stderr_tail(result.stderr)
        try:
            value = json.loads(text)
        except ValueError as exc:
            shown = text.strip()
            raise AgentError(
                f"agent '{self.name}' did not answer with JSON ({exc}); "
                + (f"its output starts with: {shown[:200]!r}" if shown else "it printed nothing"),
                hint="a claude-protocol agent must print one JSON object like "
                '{"result": "...", "session_id": "..."} (`claude -p --output-format json`); '
                + config_hint(self.name, self.config_file, "check args")
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
        is_error = obj.get("is_error", False)
        raw = obj.get("result", "")
        body = raw if isinstance(raw, str) else ("" if raw is None else json.dumps(raw))
        if is_error is True:
            raise AgentError(
                f"agent '{self.name}' returned an error: {body or '(no message)'}",
                hint="the agent ran but reported a failure; try again, or check its setup "
                "(login, quota, model name)",
                agent=self.name,
                stderr_tail=tail,
            )
        if not body.strip():
            raise AgentError(
                f"agent '{self.name}' gave an empty response",
                hint="nothing was written; submit again",
                agent=self.name,
                stderr_tail=tail,
            )
        sid = obj.get("session_id")
        return AgentReply(body, sid if isinstance(sid, str) and sid else None)


def _nothing_to_continue(result: ProcessResult) -> bool:
    text = (result.stderr[-4000:] + b"\n" + result.stdout[-4000:]).decode("utf-8", "replace")
    return "no conversation found" in text.lower()


def _result_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        for item in reversed(value):
            if isinstance(item, dict) and item.get("type") == "result":
                return item
    return None


def _json_result_text(stdout: bytes) -> str:
    try:
        obj = _result_object(json.loads(stdout.decode("utf-8")))
    except (ValueError, UnicodeDecodeError):
        return ""
    if obj is None or not isinstance(obj.get("result"), str):
        return ""
    return obj["result"].strip()[:500]
