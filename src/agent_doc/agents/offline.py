"""The built-in ``offline`` agent: deterministic, no network, no model (SPEC A7).

It reads the prompt the cycle built (:func:`agent_doc.prompts.parse_prompt`) and answers with a
short Markdown summary of what the user changed: how many lines were added and removed, the
added lines quoted, and the questions it found (lines ending with ``?``) with an
acknowledgement. On a first run (no diff) it summarises the user's latest block instead.

It is what ``agent-doc demo`` runs, and what tests and CI use to exercise a whole cycle. Its
session id is ``offline-<8 hex>``, the start of the SHA-256 of the document's session UUID (or
of its first non-empty line), so ``resume`` gets set and the next submit uses the resumed
prompt; when called with a ``resume_id`` it returns that id unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import time

from agent_doc.agents.base import AgentReply

TYPE_CHECKING = False
if TYPE_CHECKING:
    from agent_doc.agents.base import TextStream

#: at most this many changed lines are quoted; the rest are counted
MAX_QUOTED = 12
#: headings that are the document's own structure, not the user's words
_STRUCTURE = re.compile(r"^\s{0,3}##\s+(User|Assistant)\s*$")
_SESSION_LINE = re.compile(r"^(?:agent_doc_session|session)\s*:\s*['\"]?([^'\"#\s]+)")
_QUESTION_PREFIX = re.compile(r"^\s*(?:>\s*)*(?:[-*+]\s+|\d+[.)]\s+)?(?:\[[ xX]\]\s+)?")
#: seconds between two streamed pieces (env ``AGENT_DOC_OFFLINE_STREAM_DELAY`` overrides)
STREAM_DELAY = 0.01
_PIECE = re.compile(r"\s*\S+")


def stream_delay() -> float:
    raw = os.environ.get("AGENT_DOC_OFFLINE_STREAM_DELAY")
    if raw:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
    return STREAM_DELAY


def stream_pieces(text: str, stream: TextStream, delay: float) -> None:
    """Hand ``text`` to ``stream`` word by word (each piece with the whitespace before it),
    pausing ``delay`` seconds between pieces; the concatenation is exactly ``text``."""
    pos = 0
    for m in _PIECE.finditer(text):
        if pos and delay:
            time.sleep(delay)
        stream.write(m.group(0))
        pos = m.end()
    if pos < len(text):
        stream.write(text[pos:])


class OfflineAgent:
    name = "offline"
    streams = True

    def send(
        self, prompt: str, *, resume_id: str | None, fork: bool, model: str | None,
        stream: TextStream | None = None,
    ) -> AgentReply:
        from agent_doc.prompts import parse_prompt

        diff, document = parse_prompt(prompt)
        if document is None:  # not a prompt of ours: treat all of it as the user's message
            document = prompt
        session_id = resume_id or session_id_for(document)
        if diff is not None:
            text = _answer_diff(diff, document)
        else:
            text = _answer_first(document)
        if stream is not None:
            stream_pieces(text, stream, stream_delay())
        return AgentReply(text, session_id)


def session_id_for(document: str) -> str:
    """``offline-`` + 8 hex of sha256(session UUID of the document, else its first line)."""
    key = ""
    lines = document.splitlines()
    if lines and lines[0].strip() == "---":
        for line in lines[1:]:
            if line.strip() == "---":
                break
            m = _SESSION_LINE.match(line)
            if m:
                key = m.group(1)
                break
    if not key:
        key = next((line.strip() for line in lines if line.strip()), "")
    return "offline-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


# -- reading the prompt ----------------------------------------------------------------------


def _diff_lines(diff: str) -> tuple[list[str], list[str]]:
    """``(added, removed)`` lines of a diff: unified (headers and ``@@`` lines skipped) or the
    full-context listing (prefix ``+``/``-``/space)."""
    added: list[str] = []
    removed: list[str] = []
    lines = diff.splitlines()
    if any(line.startswith("@@") for line in lines):
        first = next(i for i, line in enumerate(lines) if line.startswith("@@"))
        lines = [line for line in lines[first:] if not line.startswith("@@")]
    for line in lines:
        if line.startswith("\\"):  # "\ No newline at end of file"
            continue
        if line.startswith("+"):
            added.append(line[1:])
        elif line.startswith("-"):
            removed.append(line[1:])
    return added, removed


def _body(document: str) -> list[str]:
    lines = document.splitlines()
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                return lines[i + 1 :]
    return lines


def _latest_user_block(document: str) -> list[str]:
    body = _body(document)
    starts = [i for i, line in enumerate(body) if line.strip() == "## User"]
    return body[starts[-1] + 1 :] if starts else body


def _content(lines: list[str]) -> list[str]:
    """The user's words: non-blank lines that are not the ``## User``/``## Assistant`` headings."""
    return [line.rstrip() for line in lines if line.strip() and not _STRUCTURE.match(line)]


def _questions(lines: list[str]) -> list[str]:
    found = []
    in_fence = False
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        text = _QUESTION_PREFIX.sub("", line).strip()
        if text.endswith("?") and len(text) > 1:
            found.append(text)
    return found


# -- writing the answer ----------------------------------------------------------------------


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _quote(lines: list[str], strike: bool = False) -> list[str]:
    shown = lines[:MAX_QUOTED]
    out = [f"> ~~{line.strip()}~~" if strike else f"> {line}" for line in shown]
    if len(lines) > len(shown):
        out.append(f"> *… and {_n(len(lines) - len(shown), 'more line')}*")
    return out


def _question_section(questions: list[str]) -> list[str]:
    if not questions:
        return []
    title = "A question I found:" if len(questions) == 1 else "Questions I found:"
    out = ["", title, ""]
    out += [f"{i}. *{q}*" for i, q in enumerate(questions, 1)]
    them = "it" if len(questions) == 1 else "them"
    out += [
        "",
        f"Noted — but I am the offline agent and cannot answer {them}. Submit again with a "
        "real agent (`--agent claude`, or one configured under `[agents.NAME]` in "
        f"`config.toml`) to get an answer.",
    ]
    return out


def _exchange(document: str) -> int:
    return 1 + sum(1 for line in _body(document) if line.strip() == "## Assistant")


def _answer_diff(diff: str, document: str) -> str:
    added_all, removed_all = _diff_lines(diff)
    added, removed = _content(added_all), _content(removed_all)
    out = ["*Offline agent — no model was called; this reply is worked out from your changes.*", ""]
    if not added and not removed:
        if added_all or removed_all:
            out.append("Since your last submit only blank lines or headings changed.")
        else:
            out.append("I see no changed lines since your last submit.")
    else:
        parts = []
        if added:
            parts.append(f"added {_n(len(added), 'line')}")
        if removed:
            parts.append(f"removed {_n(len(removed), 'line')}")
        out.append(f"Since your last submit you {' and '.join(parts)}.")
        if added:
            out += ["", "What you wrote:", "", *_quote(added)]
        if removed:
            out += ["", "What you removed:", "", *_quote(removed, strike=True)]
    out += _question_section(_questions(added))
    out += ["", f"*This was exchange {_exchange(document)} of this document.*"]
    return "\n".join(out)


def _answer_first(document: str) -> str:
    message = _content(_latest_user_block(document))
    total = len(document.splitlines())
    out = [
        "*Offline agent — no model was called; this reply is worked out from your document.*",
        "",
    ]
    earlier = _exchange(document) - 1
    if earlier == 0:
        out.append(f"Hello! This is the first exchange of this document ({_n(total, 'line')}).")
    else:
        out.append(
            f"Hello again! This conversation starts afresh on a document that already holds "
            f"{_n(earlier, 'earlier exchange')} ({_n(total, 'line')})."
        )
    if message:
        out += ["", "Your message:", "", *_quote(message)]
    else:
        out += ["", "I found no message from you yet: write under the `## User` heading."]
    out += _question_section(_questions(message))
    out += [
        "",
        "Write your next message under the new `## User` heading below and submit again: "
        "from now on I will tell you exactly what changed.",
    ]
    return "\n".join(out)
