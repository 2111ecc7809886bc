"""``focus``: select the document's pane; writes nothing.

A hotkey command: module-level imports are limited to what docs/ARCHITECTURE.md allows.
"""

from __future__ import annotations

from agent_doc.errors import AgentDocError
from agent_doc.project import Project
from agent_doc.routing.common import (
    Say,
    _check_exists,
    _read_session,
    _registry,
    _stderr,
    live_map,
    panes_snapshot,
    short,
)

TYPE_CHECKING = False  # `typing` stays off the hot path (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tmux_router.tmux import Tmux


def focus_document(
    doc: str, *, pane: str | None = None, tmux: Tmux, say: Say = _stderr
) -> str:
    """Select the document's pane (Part B §3.11). Returns the pane id. Writes nothing."""
    from tmux_router.registry import identity_ok

    _check_exists(doc)
    panes = panes_snapshot(tmux)
    live = live_map(panes)
    if pane:
        if pane not in live:
            raise AgentDocError(
                f"pane {pane} is dead for {doc}", hint="claim a live pane with `agent-doc claim`"
            )
        tmux.select_pane(pane)
        say(f"Focused pane {pane} ({doc})")
        return pane
    sid = _read_session(doc)
    if sid is None:
        raise AgentDocError(
            f"no session UUID in {doc} (use Claim to register)",
            hint=f"run `agent-doc claim {doc}` in the agent's pane",
        )
    project = Project.for_document(doc)
    entry = _registry(project).load().get(sid)
    if entry is None:
        raise AgentDocError(
            f"no pane registered for {doc} (session {short(sid)})",
            hint=f"run `agent-doc claim {doc}` in the agent's pane",
        )
    if not identity_ok(entry, live):
        raise AgentDocError(
            f"pane {entry.get('pane')} is dead for {doc}",
            hint=f"claim a live pane with `agent-doc claim {doc}`, or `agent-doc route {doc}`",
        )
    target = str(entry["pane"])
    tmux.select_pane(target)
    say(f"Focused pane {target} ({doc})")
    return target
