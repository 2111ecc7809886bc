"""Shared pieces of the streaming proofs (issue 16): the fake streaming agent's project set-up,
the documents, and the checks of a document after a streamed answer — used by
``tests/test_stream_torture.py``, ``stress/streaming.py`` and ``bench/bench_stream.py``.

Nothing here performs an operation under test: commands run as real ``python -m agent_doc``
processes; this module only writes the project's config, the initial documents, and reads
what the commands left. The expected documents are built here by hand from the SPEC A3 format,
independently of ``agent_doc.cycle``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

FAKES = Path(__file__).resolve().parent
AGENT = FAKES / "stream_agent.py"
EDITOR = FAKES / "stream_editor.py"
READER = FAKES / "stream_reader.py"
if str(FAKES) not in sys.path:
    sys.path.insert(0, str(FAKES))

from stream_agent import answer_lines, answer_text  # noqa: E402
from stream_editor import ANCHOR, edit  # noqa: E402

__all__ = ["AGENT", "ANCHOR", "EDITOR", "INTERRUPTED_NOTE", "READER", "answer_lines",
           "answer_text", "edit"]

#: the line an interrupted answer ends with (STREAM-DESIGN.md §3, ``INTERRUPTED_NOTE``)
INTERRUPTED_NOTE = "*[answer interrupted]*"
MARKER = "<!-- agent:boundary:"
CONFLICT = re.compile(r"^(<{7}|>{7}|={7}|\|{7})( |$)", re.M)


def config_toml(python: str = sys.executable, name: str = "fake") -> str:
    return (f'default_agent = "{name}"\n\n[agents.{name}]\ncommand = {json.dumps(python)}\n'
            f'args = [{json.dumps(str(AGENT))}]\nprotocol = "text"\n')


def setup_project(root: Path, env: dict[str, str] | None = None, *,
                  extra_config: str = "") -> Path:
    """A project whose default agent is the fake streaming agent, trusted with
    ``agent-doc trust`` (a real process)."""
    state = root / ".agent-doc"
    state.mkdir(parents=True, exist_ok=True)
    (state / "config.toml").write_text(config_toml() + extra_config)
    p = subprocess.run([sys.executable, "-m", "agent_doc", "trust", str(root)],
                       capture_output=True, text=True, env=env, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"agent-doc trust {root} failed: {p.stderr}")
    return root


def doc_text(session: str, title: str = "Streaming", *, crlf: bool = False) -> str:
    """A document whose last ``## User`` section asks a question; ``QUESTION-ANCHOR`` is the
    line the stand-in editor adds its "above" lines after (inside the sent text)."""
    text = (f"---\nagent_doc_session: {session}\nagent: fake\n---\n\n# {title}\n\n## User\n\n"
            f"{ANCHOR}\nPlease answer at length.\n")
    return text.replace("\n", "\r\n") if crlf else text


def block(sent: str, answer: str) -> str:
    """The response block of SPEC A3, written out by hand (not ``writeback.response_block``)."""
    nl = "\r\n" if "\r\n" in sent else "\n"
    lead = nl if sent and not sent.endswith("\n") else ""
    body = answer.replace("\n", nl)
    return f"{lead}{nl}## Assistant{nl}{nl}{body}{nl}{nl}## User{nl}{nl}"


def replay(initial: str, saves: list[dict[str, object]], prefix: str = "user") -> str:
    """The user's text without any answer: ``initial`` with the editor's saves replayed."""
    text = initial
    for s in saves:
        text = edit(text, str(s["above"]), str(s["below"]), prefix)
    return text


def split_user(user_text: str, sent: str) -> tuple[str, str]:
    """``user_text`` = the sent text with lines inserted inside it, then lines appended:
    (the first part, the appended part). The first part ends with the sent text's last line."""
    nl = "\r\n" if "\r\n" in sent else "\n"
    last = sent.rstrip("\r\n").rsplit(nl, 1)[-1] + nl
    at = user_text.rindex(last) + len(last)
    return user_text[:at], user_text[at:]


def expected_document(sent: str, user_text: str, answer: str) -> str:
    """What the final document must be: the user's text above the answer, the answer block,
    then what the user appended after it (the merge's "agent first, then the user")."""
    head, tail = split_user(user_text, sent)
    return head + block(sent, answer) + tail


def read_jsonl(path: Path) -> list[dict[str, object]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class Settled:
    """What a document holds after a streamed answer was settled (completed, or recovered
    after a crash): how much of the answer, whether the interrupted note is there, and every
    violation of the streaming invariants."""

    def __init__(self, text: str, answer: list[str], user_lines: list[str]) -> None:
        self.text = text
        lines = text.replace("\r\n", "\n").split("\n")
        want = [ln for ln in answer if ln.strip()]
        tag = want[0].split("-", 1)[0] + "-" if want else "\0"
        shown = [ln for ln in lines if ln.startswith(tag)]
        self.answer_lines = len(shown)
        self.complete = bool(want) and shown == want
        self.notes = sum(1 for ln in lines if ln.strip() == INTERRUPTED_NOTE)
        self.violations: list[str] = []
        markers = [ln for ln in lines if ln.startswith(MARKER)]
        if markers:
            self.violations.append(f"boundary marker left: {markers}")
        if CONFLICT.search(text.replace("\r\n", "\n")):
            self.violations.append("conflict markers in the document")
        if shown != want[: len(shown)]:
            self.violations.append(f"the answer's lines are not its first {len(shown)} lines, "
                                   "once each, in order")
        # every line streamed but the agent never finished (killed, Ctrl-C) is still an
        # interrupted answer: all its lines, then the note
        if shown and not self.complete and self.notes != 1:
            self.violations.append(f"a partial answer ({len(shown)} of {len(want)} lines) "
                                   f"with {self.notes} interrupted notes (want 1)")
        if self.notes > 1:
            self.violations.append(f"{self.notes} interrupted notes")
        for u in user_lines:
            n = lines.count(u)
            if n != 1:
                self.violations.append(f"user line {u!r} found {n}x")
        if self.notes == 1:  # the note closes the answer: right after its last line
            at = lines.index(INTERRUPTED_NOTE)
            prev = [ln for ln in lines[:at] if ln.strip()]
            if shown and prev and prev[-1] != shown[-1]:
                self.violations.append(f"the interrupted note follows {prev[-1]!r}, not the "
                                       "answer's last line")

    @property
    def kind(self) -> str:
        if self.notes:
            return "interrupted"
        if self.complete:
            return "complete"
        return "none"


def answer_in(text: str, answer: list[str]) -> list[str]:
    """The lines of ``text`` (a diff, say) that are lines of the answer or the note."""
    want = {ln for ln in answer if ln.strip()}
    out = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        body = raw[1:] if raw[:1] in "+- " else raw
        if body in want or body.strip() == INTERRUPTED_NOTE or body.startswith(MARKER):
            out.append(raw)
    return out


def env_without(keys: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in keys}
