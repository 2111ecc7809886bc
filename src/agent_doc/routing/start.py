"""``start``: register the current pane for a document and exec the agent in it."""

from __future__ import annotations

import os
import sys

from agent_doc.errors import AgentDocError
from agent_doc.project import Project
from agent_doc.routing.common import (
    Say,
    _agent_command,
    _check_exists,
    _ensure_uuid,
    _new_entry,
    _registry,
    _stderr,
    live_map,
    open_tmux,
    panes_snapshot,
    prune_known,
    short,
)

TYPE_CHECKING = False  # `typing` stays off the hot path (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from tmux_router.tmux import Tmux


def start_document(doc: str, *, tmux: Tmux | None = None, say: Say = _stderr) -> None:
    """Register the current pane for ``doc`` and exec the agent in it (Part B §3.8).

    The session UUID is written *before* the tmux check (the reference's order). The entry's
    ``pid`` is this process's pid, which becomes the agent's after ``exec``: the identity check
    accepts it while the agent runs (its ancestor is the pane's process) and rejects the pane
    once the agent has exited, so route never types into the bare shell left behind.
    """
    _check_exists(doc)
    sid, _generated = _ensure_uuid(doc, say)
    if not os.environ.get("TMUX"):
        raise AgentDocError(
            "not running inside tmux — start a tmux session first",
            hint=f"run `agent-doc start {doc}` in a tmux pane",
        )
    handle = tmux if tmux is not None else open_tmux()
    project = Project.for_document(doc)
    registry = _registry(project)
    before = registry.load()
    panes = panes_snapshot(handle)
    live = live_map(panes)
    current = handle.current_pane()
    me = next((p for p in panes if p.id == current and not p.dead), None)
    if me is None:
        raise AgentDocError(
            f"cannot find this tmux pane ({current or 'unknown'}) on the tmux server",
            hint="run `agent-doc start FILE` directly in a tmux pane",
        )
    command = _agent_command(project)
    rel = project.rel(doc)
    with registry.transaction() as entries:
        prune_known(entries, before, live)
        entries[sid] = _new_entry(entries.get(sid), me, pid=os.getpid(), project=project, rel=rel)
    say(f"Registered session {short(sid)} → pane {me.id}")
    say(f"Starting {os.path.basename(command)}...")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(command, [command])
    except OSError as exc:
        raise AgentDocError(
            f"failed to exec {command}: {exc.strerror or exc}",
            hint="check that the agent command is installed and executable",
        ) from None
