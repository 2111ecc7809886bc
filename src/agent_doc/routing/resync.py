"""``resync``: remove registry entries whose pane is gone or reused (Part B §3.14)."""

from __future__ import annotations

from agent_doc.project import Project
from agent_doc.routing.common import (
    Say,
    _label,
    _registry,
    _stderr,
    in_project,
    live_map,
    panes_snapshot,
    prune_known,
)

TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tmux_router.registry import Entry
    from tmux_router.tmux import Tmux


def resync(project: Project, tmux: Tmux, *, say: Say = _stderr) -> list[tuple[str, Entry]]:
    """Remove entries whose pane is gone or reused (identity check); return them (§3.14)."""
    registry = _registry(project)
    before = registry.load()
    panes = panes_snapshot(tmux)
    live = live_map(panes)
    if not before:
        say("All 0 session(s) have live panes.")
        return []
    with registry.transaction() as entries:
        removed = prune_known(entries, before, live)
        # entries naming a file outside the project are never used: drop them (SPEC A13)
        outside = [(k, entries.pop(k)) for k, v in list(entries.items())
                   if not in_project(project, v)]
        remaining = dict(entries)
    removed += outside
    if removed:
        say(f"Removed {len(removed)} stale session(s):")
        for key, entry in removed:
            why = "file outside the project" if (key, entry) in outside else "removed"
            say(f"  {_label(entry, key)} (pane {entry.get('pane')} {why})")
    else:
        say(f"All {len(remaining)} session(s) have live panes.")
    if remaining:
        say("Active sessions:")
        for key, entry in remaining.items():
            say(f"  {_label(entry, key)} → pane {entry.get('pane')}")
    return removed
