"""``status``: the project at a glance (SPEC A1); reads only, writes nothing."""

from __future__ import annotations

import os

from agent_doc.project import Project
from agent_doc.routing.common import _registry, live_map

TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

    from tmux_router.tmux import Tmux


def project_status(project: Project, tmux: Tmux | None) -> dict[str, Any]:
    """The project at a glance (SPEC A1 ``status``); reads only, writes nothing.

    Unlike the other commands it does not fail without tmux: it reports ``tmux`` as
    ``"not installed"`` or ``"no server"`` and every pane as not alive, because the rest of
    the report (pending responses, watch daemon, locks) matters without tmux too.
    """
    import json
    import time

    from safefile import held_locks
    from safefile.lock import is_locked_elsewhere
    from tmux_router.registry import identity_ok
    from tmux_router.tmux import TmuxError, TmuxNotInstalled

    tmux_state = "running"
    live: dict[str, int] = {}
    if tmux is None:
        tmux_state = "not used"
    else:
        try:
            panes = tmux.list_panes()
            if not panes and not tmux.server_running():
                tmux_state = "no server"
            live = live_map(panes)
        except TmuxNotInstalled:
            tmux_state = "not installed"
        except TmuxError as exc:
            tmux_state = f"error: {exc}"
    entries = _registry(project).load() if os.path.exists(project.registry_path) else {}
    documents = []
    for key, entry in entries.items():
        pane_id = entry.get("pane")
        documents.append(
            {
                "session_id": key,
                "file": entry.get("file", ""),
                "pane": pane_id,
                "window": entry.get("window", ""),
                "alive": identity_ok(entry, live),
                "exists": pane_id in live,
            }
        )
    pending = []
    if os.path.isdir(project.pending_dir):
        names = sorted(n for n in os.listdir(project.pending_dir) if n.endswith(".json"))
        for name in names:
            p = os.path.join(project.pending_dir, name)
            item: dict[str, Any] = {"path": p}
            try:
                from safefile import read_bytes

                data = json.loads(read_bytes(p, state_root=project.root).decode("utf-8"))
                if isinstance(data, dict):
                    for k in ("file", "document", "path", "doc"):
                        if isinstance(data.get(k), str):
                            item["file"] = data[k]
                            break
                    # by session id: a document renamed while its agent answered is found
                    if isinstance(data.get("agent_doc_session"), str):
                        item["session_id"] = data["agent_doc_session"]
                    doc = data.get("document")
                    if isinstance(doc, str):
                        item["document_exists"] = os.path.exists(doc)
            except (OSError, ValueError):  # a link or FIFO there too: never followed
                item["unreadable"] = True
            try:
                item["since"] = time.strftime(
                    "%Y-%m-%dT%H:%M:%S", time.localtime(os.stat(p).st_mtime)
                )
            except OSError:
                pass
            pending.append(item)
    watch_pid: int | None = None
    try:
        from safefile import read_bytes

        watch_pid = int(read_bytes(project.watch_pid_path, state_root=project.root).strip())
    except (OSError, ValueError):
        watch_pid = None
    watch_running = is_locked_elsewhere(project.watch_lock_path)
    locks = []
    if os.path.isdir(project.state_dir):
        for path, holder in held_locks(project.state_dir):
            locks.append({"path": path, "holder": holder})
    return {
        "root": str(project.root),
        "tmux": tmux_state,
        "documents": documents,
        "pending": pending,
        "watch": {"running": watch_running, "pid": watch_pid},
        "locks": locks,
    }
