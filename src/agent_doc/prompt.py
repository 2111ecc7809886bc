"""Permission-prompt detection and answering in agent panes (SPEC Part B §8, hazard C30).

The JetBrains plugin polls ``agent-doc prompt --all`` to show Claude Code's permission prompts
("Do you want to proceed? ❯ 1. Yes  2. …  Esc to cancel") and answers them with
``prompt --answer N FILE``. This module holds the parser (pure: screen text in,
:class:`PromptInfo` out) and :func:`answer`, which drives the pane through the tmux wrapper.

Parser (§8.2), with three deliberate departures from the reference:

* **Box drawing** (``│ ❯ 1. Yes │``, ``╭───╮``): real Claude Code screens draw the prompt in a
  box; the reference only trims whitespace, so a boxed prompt was never detected. Leading and
  trailing box-drawing characters (U+2500–U+257F) are stripped from each line first.
* **Option lines** need whitespace after the number's dot (``1. Yes``): the reference read
  ``2.5 GB free`` as option 2, ``5 GB free`` (a Quirk of §8.2).
* **Navigation by position**, not by displayed number: the reference computed the cursor and
  the target as ``number − 1``, which is wrong as soon as a TUI numbers its options with gaps.
  The JSON ``selected`` field keeps the reference's meaning (displayed index − 1) for
  compatibility (SPEC A3).

:func:`answer` fixes C30: the decision is not taken on one stale capture. It navigates with
all Up/Down keys in one ``send-keys`` invocation, then re-captures until the cursor is on the
target option and confirms that the *same* prompt (same question, same options) is still shown
right before sending Enter; otherwise it refuses and presses nothing.

Hand-written ANSI stripping (two small regular expressions) instead of a library: the
candidates (``strip-ansi``, ``rich``'s ``Text.from_ansi``) are heavy imports (bench/IMPORTS.md
says what start-up costs) for a hot command the plugin runs every 1.5 s, and the reference's
rule is three lines. For the same reason the records below are not ``@dataclass`` (see
:mod:`agent_doc.record`).
"""

from __future__ import annotations

import json
import re
import time

from agent_doc.errors import AgentDocError
from agent_doc.record import FrozenRecord

TYPE_CHECKING = False  # `import typing` costs start-up time (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

    from tmux_router.tmux import Tmux


FOOTER = "Esc to cancel"
CURSORS = ("❯", ">")

# ESC [ ... final letter (CSI), then ESC + any other single character (§8.2 step 1).
# Compiled on first use: ``capture-pane -p`` output has no escapes, so the polled
# ``prompt`` command normally never needs them.
_PATTERNS: list[re.Pattern[str]] = []


def _patterns() -> list[re.Pattern[str]]:
    if not _PATTERNS:
        _PATTERNS.append(re.compile(r"\x1b\[[^A-Za-z]*[A-Za-z]?"))
        _PATTERNS.append(re.compile(r"\x1b.?", re.DOTALL))
    return _PATTERNS
_BOX = "".join(chr(c) for c in range(0x2500, 0x2580))
_EDGE = " \t\u00a0" + _BOX


def strip_ansi(line: str) -> str:
    """Remove ANSI escape sequences: ``ESC [ … letter`` and ``ESC x`` (two characters)."""
    if "\x1b" not in line:
        return line
    csi, esc2 = _patterns()
    return esc2.sub("", csi.sub("", line))


def clean_line(line: str) -> str:
    """ANSI-stripped, with surrounding whitespace and box-drawing borders removed."""
    return strip_ansi(line).strip(_EDGE)


class Option(FrozenRecord):
    """One numbered option of a prompt (immutable, hashable)."""

    index: int
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label}


def parse_option(line: str) -> tuple[Option, bool] | None:
    """Parse one cleaned line as ``[❯|>] N. label``; returns (option, marked) or None."""
    text = line.strip()
    marked = text.startswith(CURSORS)
    text = text.lstrip("❯").lstrip(">").strip()
    number, dot, rest = text.partition(".")
    if not dot or not number or not (number.isascii() and number.isdigit()):
        return None
    if not rest or not rest[0].isspace():
        return None  # "2.5 GB free" is not an option (reference Quirk, fixed)
    label = rest.strip()
    if not label:
        return None
    return Option(int(number), label), marked


class PromptInfo:
    """The result of parsing one screen (§8.2)."""

    __slots__ = ("active", "cursor", "options", "question")

    def __init__(
        self,
        active: bool = False,
        question: str | None = None,
        options: list[Option] | None = None,
        cursor: int | None = None,
    ) -> None:
        self.active = active
        self.question = question
        self.options: list[Option] = options if options is not None else []
        #: position (0-based, in ``options``) of the option marked with the cursor, if any
        self.cursor = cursor

    def __repr__(self) -> str:
        return (
            f"PromptInfo(active={self.active!r}, question={self.question!r}, "
            f"options={self.options!r}, cursor={self.cursor!r})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PromptInfo) and self.same_prompt(other) and (
            self.cursor == other.cursor
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def selected(self) -> int | None:
        """The reference's ``selected``: the marked option's displayed index − 1."""
        if self.cursor is None:
            return None
        return self.options[self.cursor].index - 1

    def same_prompt(self, other: PromptInfo) -> bool:
        """Same question and same options (the cursor may differ)."""
        return (
            self.active == other.active
            and self.question == other.question
            and self.options == other.options
        )

    def position_of(self, index: int) -> int | None:
        for pos, opt in enumerate(self.options):
            if opt.index == index:
                return pos
        return None

    def to_dict(self) -> dict[str, Any]:
        """The §8.2 shape; ``question``, ``options`` and ``selected`` omitted when absent."""
        out: dict[str, Any] = {"active": self.active}
        if self.question is not None:
            out["question"] = self.question
        if self.options:
            out["options"] = [o.to_dict() for o in self.options]
        if self.selected is not None:
            out["selected"] = self.selected
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def parse_prompt(screen: str) -> PromptInfo:
    """Find the permission prompt on a captured screen (§8.2, with the departures above)."""
    lines = [clean_line(raw) for raw in screen.split("\n")]
    footer = -1
    for i in range(len(lines) - 1, -1, -1):
        if FOOTER in lines[i]:
            footer = i
            break
    if footer < 0:
        return PromptInfo()
    found: list[tuple[Option, bool]] = []
    question: str | None = None
    for i in range(footer - 1, -1, -1):
        line = lines[i]
        if not line:
            continue
        parsed = parse_option(line)
        if parsed is not None:
            found.append(parsed)
            continue
        if found:
            question = line
            break
    if not found:
        return PromptInfo()
    found.reverse()
    cursor = None
    for pos, (_opt, marked) in enumerate(found):
        if marked:
            cursor = pos  # the last marked one wins (only one is drawn in practice)
    return PromptInfo(
        active=True, question=question, options=[o for o, _ in found], cursor=cursor
    )


# -- driving a pane -----------------------------------------------------------------------------

#: how long :func:`answer` waits for the TUI to redraw its cursor after the navigation keys
REDRAW_TIMEOUT = 3.0


def read_prompt(tmux: Tmux, pane: str) -> PromptInfo:
    """Capture ``pane``'s visible screen and parse it."""
    return parse_prompt(tmux.capture(pane))


def answer(
    tmux: Tmux, pane: str, number: int, *, redraw_timeout: float = REDRAW_TIMEOUT
) -> PromptInfo:
    """Choose option ``number`` (as displayed) of the prompt shown in ``pane``.

    Capture and parse; send the Up/Down keys in one invocation; re-capture until the cursor is
    on the target (bounded by ``redraw_timeout``); confirm the prompt is unchanged; only then
    send Enter, and re-capture until the prompt is gone (same bound). Raises
    :class:`AgentDocError` (and presses nothing) when there is no prompt, the number is out of
    range, the prompt changed, or the cursor did not arrive; and (Enter sent once, never
    again) when the prompt is still shown after the bound.
    """
    from tmux_router.tmux import TmuxError

    try:
        first = read_prompt(tmux, pane)
    except TmuxError as exc:
        raise AgentDocError(
            f"cannot read pane {pane}: {exc}", hint="is the agent pane still open?"
        ) from None
    if not first.active:
        raise AgentDocError(
            f"no active prompt detected in pane {pane}",
            hint="check with `agent-doc prompt FILE`; the prompt may already be answered",
        )
    target = first.position_of(number)
    if target is None:
        numbers = [o.index for o in first.options]
        lo, hi = (min(numbers), max(numbers)) if numbers else (1, 0)
        raise AgentDocError(
            f"option {number} out of range ({lo}-{hi}) for the prompt in pane {pane}",
            hint="choose one of the numbers shown by `agent-doc prompt FILE`",
        )
    current = first.cursor if first.cursor is not None else 0
    steps = target - current
    keys = ["Up"] * (-steps) if steps < 0 else ["Down"] * steps
    try:
        if keys:
            tmux.send_keys(pane, *keys)
        deadline = time.monotonic() + redraw_timeout
        delay = 0.005
        while True:
            now_info = read_prompt(tmux, pane)
            if not first.same_prompt(now_info):
                raise AgentDocError(
                    f"the prompt in pane {pane} changed before option {number} was confirmed; "
                    f"nothing was confirmed",
                    hint="look at the pane and answer again with `agent-doc prompt --answer`",
                )
            effective = now_info.cursor if now_info.cursor is not None else 0
            if effective == target and (now_info.cursor is not None or not keys):
                break
            if time.monotonic() >= deadline:
                raise AgentDocError(
                    f"the cursor in pane {pane} did not reach option {number} within "
                    f"{redraw_timeout:g} s; nothing was confirmed",
                    hint="look at the pane and answer the prompt there",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        tmux.send_keys(pane, "Enter")
        # taken only when the prompt goes: an agent that was not reading its input yet (a
        # loaded machine) drops the Enter, and the user would believe the prompt answered.
        # Enter is never sent twice: a late first one would confirm the next prompt.
        deadline = time.monotonic() + redraw_timeout
        delay = 0.005
        while first.same_prompt(after := read_prompt(tmux, pane)) \
                and after.cursor == now_info.cursor:
            if time.monotonic() >= deadline:
                raise AgentDocError(
                    f"pane {pane} still shows the prompt {redraw_timeout:g} s after option "
                    f"{number} was confirmed (Enter sent): the agent did not take the answer",
                    hint="look at the pane and answer it there, or run `agent-doc prompt "
                    "--answer` again",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    except TmuxError as exc:
        raise AgentDocError(
            f"cannot drive pane {pane}: {exc}", hint="is the agent pane still open?"
        ) from None
    return now_info


# -- the commands (`prompt FILE`, `prompt --all`, `prompt --answer N FILE`) ---------------------


def _pane_of(doc: str, tmux: Tmux) -> tuple[str | None, bool]:
    """(registered pane or None, whether it is alive) of ``doc``; the UUID is read, never
    written (§8.1 step 2)."""
    from agent_doc.document import read_document
    from agent_doc.project import Project
    from agent_doc.routing import _check_exists, _registry, live_map, panes_snapshot
    from tmux_router.registry import identity_ok

    _check_exists(doc)
    live = live_map(panes_snapshot(tmux))  # fails clearly without a server
    sid = read_document(doc).session
    if sid is None:
        return None, False
    entry = _registry(Project.for_document(doc)).load().get(sid)
    if entry is None:
        return None, False
    return str(entry.get("pane")), identity_ok(entry, live)


def prompt_for_document(doc: str, tmux: Tmux) -> PromptInfo:
    """The prompt shown in ``doc``'s pane; inactive when it has no live pane (§8.1)."""
    from tmux_router.tmux import TmuxError

    pane, alive = _pane_of(doc, tmux)
    if pane is None or not alive:
        return PromptInfo()
    try:
        return read_prompt(tmux, pane)
    except TmuxError:
        return PromptInfo()


def prompt_all(tmux: Tmux, project: Any = None) -> list[dict[str, Any]]:
    """One element per registry entry with a live pane, in registry order (§8.3)."""
    from agent_doc.project import Project
    from agent_doc.routing import _registry, live_map, panes_snapshot
    from tmux_router.registry import identity_ok
    from tmux_router.tmux import TmuxError

    proj = project if isinstance(project, Project) else Project.for_cwd()
    entries = _registry(proj).load()
    live = live_map(panes_snapshot(tmux))
    out: list[dict[str, Any]] = []
    for key, entry in entries.items():
        if not identity_ok(entry, live):
            continue
        try:
            info = read_prompt(tmux, str(entry["pane"]))
        except TmuxError:
            info = PromptInfo()
        out.append({"session_id": key, "file": entry.get("file", ""), **info.to_dict()})
    return out


def answer_document(doc: str, number: int, tmux: Tmux) -> tuple[str, PromptInfo]:
    """Answer option ``number`` of the prompt in ``doc``'s pane (§8.4 with the C30 fix)."""
    pane, alive = _pane_of(doc, tmux)
    if pane is None:
        raise AgentDocError(
            f"no pane registered for this session ({doc})",
            hint=f"claim a pane first: `agent-doc claim {doc}`",
        )
    if not alive:
        raise AgentDocError(
            f"pane {pane} is not alive ({doc})",
            hint=f"claim a live pane with `agent-doc claim {doc}`",
        )
    return pane, answer(tmux, pane, number)
