"""``layout``: arrange the panes of documents side by side or stacked (Part B §5.5).

Not a hotkey command: it may import ``dataclasses`` (bench/IMPORTS.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent_doc.errors import AgentDocError
from agent_doc.project import Project
from agent_doc.routing.common import (
    Say,
    _read_session,
    _registry,
    _stderr,
    live_map,
    panes_snapshot,
)
from agent_doc.routing.focus import focus_document

TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tmux_router.registry import Entries
    from tmux_router.tmux import Tmux


@dataclass(frozen=True)
class LayoutResult:
    """The panes ``layout`` arranged, in order, and what it moved to get there."""

    panes: list[str]
    window: str | None
    moved: list[str] = field(default_factory=list)
    broken_out: list[str] = field(default_factory=list)


def layout_documents(
    files: list[str],
    *,
    split: str = "h",
    pane: str | None = None,
    window: str | None = None,
    tmux: Tmux,
    say: Say = _stderr,
) -> LayoutResult:
    """Arrange the panes of ``files`` side by side (``h``) or stacked (``v``) (Part B §5.5).

    Deterministic: the target window is the one holding most wanted panes, then most panes,
    then the earliest file. The registry's ``window`` fields of moved panes are updated in one
    transaction (fixes C26).
    """
    from tmux_router.registry import identity_ok

    if not files:
        raise AgentDocError("at least one file required", hint="agent-doc layout A.md B.md")
    if len(files) == 1:
        target = focus_document(files[0], pane=pane, tmux=tmux, say=say)
        return LayoutResult([target], None)
    for f in files:
        if not os.path.exists(f):
            raise AgentDocError(f"file not found: {f}", hint="check the path")
    stacked = split in ("v", "vertical")
    panes = panes_snapshot(tmux)
    live = live_map(panes)
    by_id = {p.id: p for p in panes if not p.dead}
    registries: dict[str, Entries] = {}
    kept: list[tuple[str, str]] = []  # (pane, file)
    for f in files:
        sid = _read_session(f)
        if sid is None:
            say(f"warning: {f} has no session UUID (claim it first); skipped")
            continue
        project = Project.for_document(f)
        if project.root not in registries:
            registries[project.root] = _registry(project).load()
        entry = registries[project.root].get(sid)
        if entry is None or not identity_ok(entry, live):
            state = "dead" if entry is not None else "not registered"
            say(f"warning: pane for {f} is {state}; skipped")
            continue
        kept.append((str(entry["pane"]), f))
    if window:
        inside = [(p, f) for p, f in kept if by_id[p].window == window]
        if len(inside) != len(kept):
            say(f"Filtered {len(kept) - len(inside)} panes outside window {window}")
        kept = inside
    if len(kept) < 2:
        if kept and kept[0][1] == files[0]:
            tmux.select_pane(kept[0][0])
        return LayoutResult([p for p, _ in kept], None)
    seen: set[str] = set()
    ordered: list[str] = []
    for p, _f in kept:
        if p not in seen:
            seen.add(p)
            ordered.append(p)
    if len(ordered) < 2:
        raise AgentDocError(
            "all files share the same pane — nothing to arrange",
            hint="claim the documents to different panes first",
        )
    # target window: most wanted panes, then most panes; the earliest file wins further ties
    counts: dict[str, tuple[int, int]] = {}
    for p in ordered:
        w = by_id[p].window
        if w not in counts:
            wanted = sum(1 for q in ordered if by_id[q].window == w)
            total = sum(1 for q in by_id.values() if q.window == w)
            counts[w] = (wanted, total)
    target = max(counts, key=lambda w: counts[w])  # max keeps the first of equal keys
    registered = {
        str(e.get("pane")) for entries in registries.values() for e in entries.values()
    }
    in_target = [q for q in by_id.values() if q.window == target]
    broken: list[str] = []
    if len(in_target) > 1:
        for q in sorted(in_target, key=lambda q: (q.left, q.top)):
            if q.id not in seen and q.id in registered:
                tmux.break_pane(q.id)
                broken.append(q.id)
    flag = "-v" if stacked else "-h"
    moved: list[str] = []
    prev: str | None = None
    for p in ordered:
        if by_id[p].window != target:
            if prev is not None:  # right of (below) the previous document's pane
                tmux.join_pane(p, prev, "-d", flag)
            else:  # the first document goes before (above) the first wanted pane there
                first_in = next(q for q in ordered if by_id[q].window == target)
                tmux.join_pane(p, first_in, "-d", "-b", flag)
            moved.append(p)
        prev = p
    tmux.select_pane(ordered[0])
    if moved or broken:
        _update_windows(tmux, registries, moved + broken)
    say(f"Layout: {len(ordered)} panes arranged {'stacked' if stacked else 'side-by-side'}")
    return LayoutResult(ordered, target, moved, broken)


def _update_windows(tmux: Tmux, registries: Mapping[str, Entries], moved: list[str]) -> None:
    """Set ``window`` of registry entries whose pane moved (one list-panes, one transaction
    per registry)."""
    now = {p.id: p.window for p in tmux.list_panes()}
    for root, snapshot in registries.items():
        if not any(str(e.get("pane")) in moved for e in snapshot.values()):
            continue
        with _registry(Project(root)).transaction() as entries:
            for e in entries.values():
                pid = str(e.get("pane"))
                if pid in moved and pid in now and e.get("window") != now[pid]:
                    e["window"] = now[pid]
