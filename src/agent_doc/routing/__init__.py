"""The tmux side of agent-doc: one module per command (claim, route, start, focus, layout, sync,
resync, status) and :mod:`~agent_doc.routing.common` for what they share.

The CLI modules (``agent_doc/cli/claim.py`` …) only parse arguments and print; the decisions
live here. Every tmux call goes through :class:`tmux_router.tmux.Tmux` (SPEC A8, C32), every
registry change is one :meth:`tmux_router.registry.Registry.transaction` (A4), every
frontmatter change is a surgical edit under the document lock (A4/A5).

Rules shared by all commands (SPEC A4/A8, hazards of Part B §10):

* **Liveness from one call, taken before the registry transaction** (C25): one
  ``list-panes -a`` gives every pane with its ``#{pane_pid}``; nothing spawns tmux while the
  registry lock is held.
* **Identity, not just existence** (C29): an entry is usable only if its pane exists *and*
  still runs the process it was claimed with (``identity_ok``), so after a tmux restart that
  reuses pane ids nothing is typed into an unrelated pane.
* **Safe pruning**: a liveness snapshot says nothing about panes created after it. Pruning
  therefore only removes entries that were already in the registry when it was read *before*
  the snapshot (same key, pane, pid and start time); an entry registered meanwhile by another
  process (for a pane our snapshot could not know) is never removed on stale evidence.
* **No dedup by pane** (C23, use case U6): several documents may share one pane.
* **Fail before touching state** when tmux is missing or no server runs (the liveness call is
  made before any document or registry write) — except ``route``, which, as the reference
  does, first gives the document its session UUID and, with no server, starts one.
* **Type only into a live agent** (SPEC A14): ``route`` types only while the registered
  process is alive and in its pane's foreground and the pane is not at a shell prompt;
  ``claim`` records the program in the pane's foreground, not the shell.
* **Entries outside the project** (``file`` not under the root, SPEC A13) are ignored by
  ``route``, ``sync`` and ``claim`` and removed by ``resync``.
* **Deterministic choices** (C28): ties are broken by explicit keys, never by hash order.

This package imports none of its modules: a hotkey command imports ``common`` and its own
module, nothing else (docs/ARCHITECTURE.md, "Start-up discipline"). ``from agent_doc.routing
import NAME`` still works for every name below; it loads only the module that defines NAME.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # `typing` stays off the hot path (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - the names, for type checkers
    from typing import Any

    from agent_doc.routing.claim import ClaimResult, claim_document, pick_by_position
    from agent_doc.routing.common import (
        AGENT_SESSION,
        NO_AUTOSTART_ENV,
        POSITIONS,
        SOCKET_ENV,
        Say,
        in_project,
        live_map,
        open_tmux,
        panes_snapshot,
        prune_known,
        short,
    )
    from agent_doc.routing.common import _check_exists as _check_exists
    from agent_doc.routing.common import _registry as _registry
    from agent_doc.routing.focus import focus_document
    from agent_doc.routing.layout import LayoutResult, layout_documents
    from agent_doc.routing.route import (
        DEFAULT_ENTER_DELAY,
        RouteResult,
        check_file_name,
        enter_delay,
        route_document,
    )
    from agent_doc.routing.start import start_document
    from agent_doc.routing.status import project_status
    from agent_doc.routing.sync import SyncOutcome, sync_documents

__all__ = [
    "AGENT_SESSION",
    "DEFAULT_ENTER_DELAY",
    "NO_AUTOSTART_ENV",
    "POSITIONS",
    "SOCKET_ENV",
    "ClaimResult",
    "LayoutResult",
    "RouteResult",
    "Say",
    "SyncOutcome",
    "check_file_name",
    "claim_document",
    "enter_delay",
    "focus_document",
    "in_project",
    "layout_documents",
    "live_map",
    "open_tmux",
    "panes_snapshot",
    "pick_by_position",
    "project_status",
    "prune_known",
    "route_document",
    "short",
    "start_document",
    "sync_documents",
]

#: name -> the module of this package that defines it (`_check_exists` and `_registry` for
#: agent_doc.prompt, which reads the registry as the routing commands do). Not `resync`: once
#: imported, the submodule `agent_doc.routing.resync` is that attribute of the package, so
#: the function is imported from its module (`from agent_doc.routing.resync import resync`).
_WHERE = {
    "AGENT_SESSION": "common",
    "NO_AUTOSTART_ENV": "common",
    "POSITIONS": "common",
    "SOCKET_ENV": "common",
    "Say": "common",
    "_check_exists": "common",
    "_registry": "common",
    "in_project": "common",
    "live_map": "common",
    "open_tmux": "common",
    "panes_snapshot": "common",
    "prune_known": "common",
    "short": "common",
    "ClaimResult": "claim",
    "claim_document": "claim",
    "pick_by_position": "claim",
    "DEFAULT_ENTER_DELAY": "route",
    "RouteResult": "route",
    "check_file_name": "route",
    "enter_delay": "route",
    "route_document": "route",
    "start_document": "start",
    "focus_document": "focus",
    "LayoutResult": "layout",
    "layout_documents": "layout",
    "SyncOutcome": "sync",
    "sync_documents": "sync",
    "project_status": "status",
}


def __getattr__(name: str) -> Any:
    """Load the module of this package that defines ``name`` (PEP 562) and return the value."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    __import__(f"{__name__}.{module}")
    return getattr(sys.modules[f"{__name__}.{module}"], name)
