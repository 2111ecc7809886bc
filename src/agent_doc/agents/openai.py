"""The ``openai`` protocol: chat completions over HTTP (SPEC A7).

``[agents.NAME]`` with ``protocol = "openai"``, ``base_url`` (e.g. ``http://127.0.0.1:8080/v1``
for llama.cpp, ``http://localhost:11434/v1`` for Ollama, ``https://api.openai.com/v1``),
``model`` and optionally ``api_key_env`` (the *name* of an environment variable holding the
key, sent as ``Authorization: Bearer``) and ``timeout``.

One request per submit: ``POST {base_url}/chat/completions`` with ``model`` (``--model`` or the
frontmatter ``model`` win over the configured one; when there is none the key is left out, which
local single-model servers accept), a system message (:data:`agent_doc.prompts.SYSTEM_PROMPT`)
and the user prompt. The answer is ``choices[0].message.content``.

**No conversation resume.** The protocol is stateless: ``resume_id`` and ``fork`` are ignored
and the session id is None, so the frontmatter ``resume`` stays unset and every submit uses the
first-run prompt. That prompt carries the **whole document**, which is the conversation: the
model sees every earlier exchange as text. (The cost is that each submit sends the full
document; the ``claude`` protocol instead continues a server-side conversation.)

**Streaming** (``send(..., stream=...)``, issue 16): the request carries ``"stream": true`` and
the answer is read as server-sent events while it arrives: each ``data:`` line is a JSON chunk
whose ``choices[0].delta.content`` goes to ``stream.write``; ``data: [DONE]`` ends it. An error
object in the stream (``{"error": ...}``), an HTTP error status before it, a connection cut
before ``[DONE]`` (unless a chunk already carried a ``finish_reason``) are errors that say so;
the answer is the concatenated content, cleaned as without streaming. A server that ignores
``"stream"`` and answers one JSON object (a JSON content type) is read as without streaming.

``httpx`` is imported only when a request is made (the costliest import of all,
``bench/IMPORTS.md``, that other commands do not pay).
"""

from __future__ import annotations

import json
import os

from agent_doc.agents.base import AgentError, AgentReply, AgentTimeout
from agent_doc.agents.command import config_hint
from fastpath import TRACE, trace, trace_clock

TYPE_CHECKING = False  # `import typing` costs start-up time (bench/IMPORTS.md)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from agent_doc.agents.base import TextStream


class OpenAIAgent:
    #: hands the answer on as it arrives (``send(..., stream=...)``)
    streams = True

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        model: str | None = None,
        api_key_env: str | None = None,
        timeout: float | None = None,
        config_file: str | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.config_file = config_file

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def request_body(self, prompt: str, model: str | None) -> dict[str, Any]:
        from agent_doc.prompts import SYSTEM_PROMPT

        body: dict[str, Any] = {
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ],
        }
        chosen = model or self.model
        if chosen:
            body = {"model": chosen, **body}
        return body

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env, "")
            if not key:
                raise AgentError(
                    f"agent '{self.name}': the environment variable {self.api_key_env} "
                    "(api_key_env) is not set or empty",
                    hint=f"export {self.api_key_env}=YOUR_KEY, or "
                    + config_hint(self.name, self.config_file, "remove api_key_env")
                    + " for a server that needs no key",
                    agent=self.name,
                )
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def send(
        self, prompt: str, *, resume_id: str | None, fork: bool, model: str | None,
        stream: TextStream | None = None,
    ) -> AgentReply:
        import httpx

        headers = self.headers()
        body = self.request_body(prompt, model)
        url = self.url
        fix_url = config_hint(self.name, self.config_file, "check base_url")
        try:
            with httpx.Client(timeout=httpx.Timeout(self.timeout)) as client:
                if stream is not None:
                    return self._streamed(client, url, {**body, "stream": True},
                                          {**headers, "Accept": "text/event-stream"}, stream)
                response = _post(client, url, body, headers, self.name)
        except httpx.TimeoutException:
            raise AgentTimeout(
                f"agent '{self.name}' timed out after {_seconds(self.timeout)} s waiting for "
                f"{url}",
                hint=config_hint(self.name, self.config_file, "raise timeout (seconds)")
                + ", or remove it for no limit",
                agent=self.name,
            ) from None
        except httpx.ConnectError as exc:
            raise AgentError(
                f"agent '{self.name}': cannot connect to {url}: {_reason(exc)}",
                hint=f"is the server running? {fix_url}",
                agent=self.name,
            ) from None
        except httpx.HTTPError as exc:
            raise AgentError(
                f"agent '{self.name}': request to {url} failed: {_reason(exc)}",
                hint=f"is this an OpenAI-compatible server? {fix_url}",
                agent=self.name,
            ) from None
        self._check_status(response, url)
        return AgentReply(self._content(response.text, url), None)

    def _check_status(self, response: Any, url: str) -> None:
        """An HTTP error status as a clear :class:`AgentError` (the body read in full)."""
        fix_url = config_hint(self.name, self.config_file, "check base_url")
        if response.status_code >= 400:
            excerpt = response.text.strip()[:500]
            hint = f"{fix_url}, model and api_key_env"
            if response.status_code in (401, 403):
                hint = "the server refused the key: " + config_hint(
                    self.name, self.config_file, "check api_key_env"
                ) + " and the variable it names"
            elif response.status_code == 404:
                hint = f"no chat completions at that address: {fix_url} (it usually ends in /v1)"
            raise AgentError(
                f"agent '{self.name}': {url} answered HTTP {response.status_code} "
                f"{response.reason_phrase}" + (f": {excerpt}" if excerpt else ""),
                hint=hint,
                agent=self.name,
            )

    def _streamed(self, client: Any, url: str, body: dict[str, Any],
                  headers: dict[str, str], stream: TextStream) -> AgentReply:
        """POST with ``"stream": true`` and read the server-sent events as they arrive."""
        started = trace_clock() if TRACE else 0.0
        parts: list[str] = []
        with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code >= 400 or "json" in response.headers.get(
                    "content-type", ""):
                response.read()
                if TRACE:
                    trace("agent", f"{self.name}: POST {url} (stream)", started,
                          f"HTTP {response.status_code}, {len(response.content)} B, no stream")
                self._check_status(response, url)
                return AgentReply(self._content(response.text, url), None)  # not streamed
            done = finished = False
            try:
                for data in _sse_data(response.iter_lines()):
                    if data.strip() == "[DONE]":
                        done = True
                        break
                    delta, finish = self._chunk(data, url, parts)
                    finished = finished or finish
                    if delta:
                        parts.append(delta)
                        stream.write(delta)
            except Exception as exc:
                import httpx

                if not isinstance(exc, httpx.TransportError) or \
                        isinstance(exc, httpx.TimeoutException):
                    raise
                raise self._cut(url, parts, _reason(exc)) from None
            if TRACE:
                trace("agent", f"{self.name}: POST {url} (stream)", started,
                      f"HTTP {response.status_code}, {sum(map(len, parts))} characters"
                      + ("" if done else ", no [DONE]"))
        if not done and not finished:
            raise self._cut(url, parts, "the stream ended before its end ([DONE])")
        text = "".join(parts)
        if not text.strip():
            raise AgentError(
                f"agent '{self.name}' gave an empty response (the stream from {url} carried "
                "no content)",
                hint="nothing was written; submit again, or check the model name",
                agent=self.name,
            )
        return AgentReply(text.lstrip("\n").rstrip(), None)

    def _chunk(self, data: str, url: str, parts: list[str]) -> tuple[str, bool]:
        """``(content delta, whether a finish_reason was given)`` of one streamed chunk."""
        try:
            obj = json.loads(data)
        except ValueError:
            raise self._cut(url, parts, f"a streamed chunk is not JSON: {data.strip()[:200]!r}",
                            broken=True) from None
        if isinstance(obj, dict) and obj.get("error"):
            err = obj["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise AgentError(
                f"agent '{self.name}': {url} reported an error in the middle of its answer: "
                f"{str(message or json.dumps(err))[:300]}"
                + (f" ({sum(map(len, parts))} characters had arrived)" if parts else ""),
                hint="nothing was written; submit again (if it keeps failing, check the "
                "server's log, the model name and its context size)",
                agent=self.name,
            )
        try:
            choice = obj["choices"][0] if obj.get("choices") else {}
            delta = choice.get("delta") or {}
            content = delta.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self._cut(url, parts, f"a streamed chunk has no choices[0].delta: "
                            f"{data.strip()[:200]!r}", broken=True) from None
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return (content if isinstance(content, str) else "",
                bool(isinstance(choice, dict) and choice.get("finish_reason")))

    def _cut(self, url: str, parts: list[str], why: str, broken: bool = False) -> AgentError:
        got = sum(map(len, parts))
        return AgentError(
            f"agent '{self.name}': the streamed answer from {url} broke off: {why}"
            + (f" after {got} characters" if got else " before any text"),
            hint="nothing was written; submit again"
            + (" — is this an OpenAI-compatible chat completions server?" if broken else
               " (the server stopped or the connection was cut)"),
            agent=self.name,
        )

    def _content(self, text: str, url: str) -> str:
        try:
            data = json.loads(text)
        except ValueError:
            raise AgentError(
                f"agent '{self.name}': {url} did not answer with JSON; it starts with: "
                f"{text.strip()[:200]!r}",
                hint=config_hint(self.name, self.config_file, "check base_url")
                + " (it must point at an OpenAI-compatible API, usually ending in /v1)",
                agent=self.name,
            ) from None
        content: Any = None
        try:
            message = data["choices"][0]["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            err = data.get("error") if isinstance(data, dict) else None
            detail = f": {json.dumps(err)[:300]}" if err else f": {text.strip()[:200]!r}"
            raise AgentError(
                f"agent '{self.name}': the answer from {url} has no choices[0].message"
                + detail,
                hint="is this an OpenAI-compatible chat completions server?",
                agent=self.name,
            ) from None
        if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
            content = "".join(
                p.get("text", "") for p in content if isinstance(p, dict)
            )
        if not isinstance(content, str) or not content.strip():
            raise AgentError(
                f"agent '{self.name}' gave an empty response (choices[0].message.content is "
                f"{'empty' if isinstance(content, str) else json.dumps(content)})",
                hint="nothing was written; submit again, or check the model name",
                agent=self.name,
            )
        return content.lstrip("\n").rstrip()


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The ``data`` of each server-sent event (its ``data:`` lines joined by newlines; other
    fields and comments skipped); a last event without its blank line is given too."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def _post(client: Any, url: str, body: dict[str, Any], headers: dict[str, str], name: str) -> Any:
    """``client.post`` of the request, traced (``AGENT_DOC_TRACE``) with how it ended."""
    if not TRACE:
        return client.post(url, json=body, headers=headers)
    started = trace_clock()
    try:
        response = client.post(url, json=body, headers=headers)
    except Exception as exc:
        trace("agent", f"{name}: POST {url}", started, repr(exc))
        raise
    trace("agent", f"{name}: POST {url}", started,
          f"HTTP {response.status_code}, {len(response.content)} B")
    return response
