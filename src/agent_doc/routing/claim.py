"""``claim``: bind a document to a tmux pane (Part B §5.8 with the fixes of SPEC A4/A8).

A hotkey command: module-level imports are limited to what docs/ARCHITECTURE.md allows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from agent_doc.errors import AgentDocError
from agent_doc.project import Project, doc_realpath
from agent_doc.record import FrozenRecord
from agent_doc.routing.common import (
    POSITIONS,
    Say,
    _check_exists,
    _new_entry,
    _registry,
    _same_document,
    _stderr,
    in_project,
    live_map,
    panes_snapshot,
    prune_known,
    short,
)

TYPE_CHECKING = False  # `typing` stays off the hot path (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

    from tmux_router.registry import Entry
    from tmux_router.tmux import Pane, Tmux


class ClaimResult(FrozenRecord):
    """What ``claim`` did: the entry it wrote, the stale ones it pruned, warnings it printed."""

    file: str  # as typed
    rel: str  # the registry's `file` value (relative to the root)
    session: str
    generated: bool
    pane: str
    window: str
    tmux_session: str | None
    tmux_session_changed: bool
    removed: list[tuple[str, dict[str, Any]]]
    warnings: list[str]

    def __init__(
        self,
        file: str,
        rel: str,
        session: str,
        generated: bool,
        pane: str,
        window: str,
        tmux_session: str | None,
        tmux_session_changed: bool,
        removed: list[tuple[str, dict[str, Any]]] | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self._assign(file, rel, session, generated, pane, window, tmux_session,
                     tmux_session_changed, removed if removed is not None else [],
                     warnings if warnings is not None else [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.rel,
            "session_id": self.session,
            "pane": self.pane,
            "window": self.window,
            "tmux_session": self.tmux_session,
            "removed": [{"session_id": k, "pane": e.get("pane")} for k, e in self.removed],
        }


def pick_by_position(panes: list[Pane], position: str) -> Pane:
    """The pane at ``position`` (left/right/top/bottom); ties broken deterministically."""
    if position not in POSITIONS:
        raise AgentDocError(
            f"invalid position '{position}' — use left, right, top, or bottom",
            hint="e.g. `agent-doc claim FILE --position left`",
        )
    if len(panes) == 1:
        return panes[0]

    def num(p: Pane) -> int:
        try:
            return int(p.id.lstrip("%"))
        except ValueError:
            return 0

    keys: dict[str, Callable[[Pane], tuple[int, ...]]] = {
        "left": lambda p: (p.left, p.top, num(p)),
        "right": lambda p: (-(p.left + p.width), p.top, num(p)),
        "top": lambda p: (p.top, p.left, num(p)),
        "bottom": lambda p: (-(p.top + p.height), p.left, num(p)),
    }
    return min(panes, key=keys[position])


def _window_fallback(
    entries: Mapping[str, Entry], panes: list[Pane], live: Mapping[str, int]
) -> str | None:
    """The window of the most recently started live entry of this project.

    ``started`` has one-second resolution; ties go to the entry written later in the file (new
    keys are appended), so the choice never depends on hash order (C28). The window is the
    pane's *actual* window from the snapshot, not the possibly stale stored one (C26).

    A deliberate departure from the reference, which falls back to tmux's current window once
    the recorded windows are stale: seen from outside tmux (an editor plugin) the "current
    window" is that of whichever session tmux used last, often another project's, while the
    project's own most recently registered live agent pane is where its documents live. Only
    when no entry of the project has a live pane does ``claim`` use tmux's current window.
    """
    from tmux_router.registry import identity_ok

    by_id = {p.id: p for p in panes}
    best: tuple[str, int, str] | None = None
    for position, entry in enumerate(entries.values()):
        if not identity_ok(entry, live):
            continue
        pane = by_id.get(str(entry.get("pane")))
        if pane is None:
            continue
        cand = (str(entry.get("started") or ""), position, pane.window)
        if best is None or cand[:2] > best[:2]:
            best = cand
    return best[2] if best else None


def claim_document(
    doc: str,
    *,
    pane: str | None = None,
    position: str | None = None,
    window: str | None = None,
    tmux: Tmux,
    say: Say = _stderr,
) -> ClaimResult:
    """Bind ``doc`` to a tmux pane (Part B §5.8 with the fixes of SPEC A4/A8)."""
    from safefile import append_line
    from tmux_router.procs import agent_of_pane
    from tmux_router.tmux import TmuxError

    _check_exists(doc)
    if position is not None and position not in POSITIONS:
        pick_by_position([], position)  # raises the usage message
    project = Project.for_document(doc)
    registry = _registry(project)
    before = registry.load()
    panes = panes_snapshot(tmux)  # the ONE liveness call, before any write
    live = live_map(panes)
    by_id = {p.id: p for p in panes if not p.dead}
    warnings: list[str] = []

    # effective window
    eff_window: str | None = None
    if window:
        if any(p.window == window for p in by_id.values()):
            eff_window = window
        else:
            say(f"warning: window {window} is dead, searching for alive window")
            eff_window = _window_fallback(
                {k: v for k, v in before.items() if in_project(project, v)}, panes, live
            )
            if eff_window:
                say(f"found alive window {eff_window} from registry")

    # the pane
    if pane:
        chosen = by_id.get(pane)
        if chosen is None:
            raise AgentDocError(
                f"pane {pane} is not alive (no such pane in tmux); {doc} was not claimed",
                hint="list the panes with `tmux list-panes -a -F '#{pane_id} #{pane_title}'`",
            )
    elif position:
        target_window = eff_window
        if target_window is None:
            current = tmux.current_pane()
            cur = by_id.get(current or "")
            target_window = cur.window if cur else None
        candidates = [p for p in by_id.values() if p.window == target_window]
        if not candidates:
            raise AgentDocError(
                f"no panes found in window {target_window or '(current)'} to claim {doc}",
                hint="pass --window @N or --pane %N",
            )
        chosen = pick_by_position(candidates, position)
    else:
        current = tmux.current_pane()
        chosen = by_id.get(current or "")
        if chosen is None:
            raise AgentDocError(
                f"cannot tell which pane to claim {doc} for (not inside tmux)",
                hint="run it inside the agent's pane, or pass --pane %N or --position left",
            )

    from agent_doc.document import ensure_session_fields

    sid, generated, changed = ensure_session_fields(doc, tmux_session=chosen.session or None)
    if generated:
        say(f"Generated session UUID: {sid}")
    if changed:
        say(f"set tmux_session={chosen.session} in {doc}")
    rel = project.rel(doc)
    # the pid that proves the agent is still there: the program in the pane's foreground (the
    # agent started in the pane's shell), not the shell, which outlives the agent (SPEC A14)
    agent = agent_of_pane(chosen.pid, own_pgrp=os.getpgrp())

    real = doc_realpath(doc)
    os.makedirs(project.state_dir, exist_ok=True)
    with registry.lock():
        with registry.transaction() as entries:
            removed = prune_known(entries, before, live)
            for _key, entry in removed:
                if _same_document(project, entry, real):
                    say(
                        f"stale claim: {doc} was bound to dead pane {entry.get('pane')}, "
                        f"replacing"
                    )
            entries[sid] = _new_entry(entries.get(sid), chosen, pid=agent, project=project, rel=rel)
        append_line(project.claims_log, f"Claimed {rel} for pane {chosen.id}\n",
                    state_root=project.root)
    if removed:
        say(f"resync: pruned {len(removed)} stale session(s)")

    # select the pane and show a notification: ONE tmux process (select-window, select-pane,
    # display-message; '#' doubled so the message is literal, as Tmux.display_message does)
    note = f"Claimed {rel} (pane {chosen.id})".replace("#", "##")
    try:
        tmux.run_many(
            [
                ["select-window", "-t", chosen.id],
                ["select-pane", "-t", chosen.id],
                ["display-message", "-t", chosen.id, "-d", "3000", note],
            ]
        )
    except TmuxError as exc:  # reported, not swallowed: the claim itself is done
        msg = f"warning: could not select/notify pane {chosen.id}: {exc}"
        warnings.append(msg)
        say(msg)
    say(f"Claimed {doc} for pane {chosen.id} (session {short(sid)})")
    return ClaimResult(
        file=doc,
        rel=rel,
        session=sid,
        generated=generated,
        pane=chosen.id,
        window=chosen.window,
        tmux_session=chosen.session or None,
        tmux_session_changed=changed,
        removed=removed,
        warnings=warnings,
    )
