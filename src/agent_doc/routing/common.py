"""What every routing command shares: the tmux handle, the one liveness snapshot, the registry
helpers (safe pruning; new entries keep unknown fields), the document checks, the agent command.

On the hot path (``route``, ``claim``, ``focus``, ``prompt``): at module level it imports
``agent_doc.errors``, ``agent_doc.project``, ``os``, ``sys`` and ``collections.abc``, everything
else inside the functions (docs/ARCHITECTURE.md, "Start-up discipline").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from agent_doc.errors import AgentDocError, FileNotFound
from agent_doc.project import Project, doc_realpath

TYPE_CHECKING = False  # `typing` stays off the hot path (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

    from tmux_router.registry import Entries, Entry
    from tmux_router.tmux import Pane, Tmux


Say = Callable[[str], None]

AGENT_SESSION = "claude"
POSITIONS = ("left", "right", "top", "bottom")
SOCKET_ENV = "AGENT_DOC_TMUX_SOCKET"
NO_AUTOSTART_ENV = "AGENT_DOC_NO_AUTOSTART"


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def short(session: str) -> str:
    """The first 8 characters of a session id, safe for any length (fixes C47)."""
    return session[:8]


def open_tmux(socket: str | None = None) -> Tmux:
    """The tmux server to talk to: ``socket`` (``--socket-name``), else ``$AGENT_DOC_TMUX_SOCKET``,
    else the one tmux itself would use (``$TMUX``, else ``$TMUX_TMPDIR``). A value with a ``/``
    is a socket path (``-S``), anything else a socket name (``-L``)."""
    from tmux_router.tmux import Tmux

    value = socket or os.environ.get(SOCKET_ENV) or None
    if value and "/" in value:
        return Tmux(socket_path=value)
    return Tmux(socket_name=value)


def panes_snapshot(tmux: Tmux) -> list[Pane]:
    """Every pane of the server from ONE ``list-panes -a`` call; raises if no server runs."""
    from tmux_router.tmux import NoServer

    panes = tmux.list_panes()
    if not panes and not tmux.server_running():
        raise NoServer()
    return panes


def live_map(panes: list[Pane]) -> dict[str, int]:
    """Live pane id → ``#{pane_pid}`` (the ``live`` argument of the registry functions)."""
    return {p.id: p.pid for p in panes if not p.dead}


# -- registry helpers ---------------------------------------------------------------------------


def _registry(project: Project) -> Any:
    from tmux_router.registry import Registry

    return Registry(project.registry_path, state_root=project.root)


def _same_entry(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("pane", "pid", "started"))


def prune_known(
    entries: Entries, before: Mapping[str, Entry], live: Mapping[str, int]
) -> list[tuple[str, Entry]]:
    """Remove (in place) entries that fail the identity check, but only those that were
    already present, unchanged, in ``before`` (read before the liveness snapshot ``live``).

    Returns the removed ``(key, entry)`` pairs in registry order.
    """
    from tmux_router.registry import prune_entries

    candidates = {
        k: v for k, v in entries.items() if k in before and _same_entry(before[k], v)
    }
    removed = prune_entries(candidates, live)
    for key, _ in removed:
        entries.pop(key, None)
    return removed


def _new_entry(
    old: Mapping[str, Any] | None, pane: Pane, *, pid: int, project: Project, rel: str
) -> Entry:
    """A registry entry for ``pane``; unknown fields of the entry it replaces are kept."""
    from tmux_router.registry import make_entry

    entry = make_entry(pane.id, pid=pid, cwd=str(project.root), file=rel, window=pane.window)
    if old:
        merged = {k: v for k, v in old.items() if k not in entry}
        merged.update(entry)
        return merged
    return entry


def _label(entry: Mapping[str, Any], key: str) -> str:
    f = entry.get("file")
    return f if isinstance(f, str) and f else key


def _same_document(project: Project, entry: Mapping[str, Any], real: str) -> bool:
    stored = entry.get("file")
    if not isinstance(stored, str) or not stored:
        return False
    try:
        return doc_realpath(project.resolve(stored)) == real
    except OSError:
        return False


def in_project(project: Project, entry: Mapping[str, Any]) -> bool:
    """False if the entry's ``file`` lies outside the project root (SPEC A13): such an entry is
    ignored by ``route``, ``sync``, ``claim`` and ``watch`` and removed by ``resync``.

    The test is on the path as written (relative to the root, or absolute), normalised
    lexically: ``../x.md`` and ``/etc/x.md`` are outside; a document inside the root that is
    itself a symlink to elsewhere stays usable (agent-doc writes through document symlinks,
    SPEC A5). An entry without ``file`` (legacy) is not outside.
    """
    stored = entry.get("file")
    if not isinstance(stored, str) or not stored:
        return True
    path = os.path.normpath(os.path.join(project.root, stored))
    root = project.root.rstrip("/")
    return path == root or path.startswith(root + "/")


# -- documents -------------------------------------------------------------------------------------


def _check_exists(doc: str) -> None:
    if not os.path.exists(doc):
        raise FileNotFound(doc)
    if os.path.isdir(doc):
        raise AgentDocError(f"{doc} is a folder, not a document", hint="pass a Markdown file")


def _ensure_uuid(doc: str, say: Say) -> tuple[str, bool]:
    from agent_doc.document import ensure_session_file

    sid, generated = ensure_session_file(doc)
    if generated:
        say(f"Generated session UUID: {sid}")
    return sid, generated


def _read_session(doc: str) -> str | None:
    """The document's session UUID without writing anything (focus, layout, prompt)."""
    from agent_doc.document import read_document

    return read_document(doc).session


def _agent_command(project: Project) -> str:
    """The program started in a new agent pane: ``[agents.claude] command``, else ``claude``,
    resolved on *our* PATH (the tmux server's environment may be older than ours)."""
    import shutil

    command = "claude"
    try:
        from agent_doc.config import load_config
    except ImportError:  # the config module is optional for these commands
        load_config = None  # type: ignore[assignment]
    if load_config is not None:
        agent = load_config(project.root).agents.get(AGENT_SESSION)
        if agent is not None:
            agent.require_trusted(("command",))  # never an untrusted project's program
        if agent is not None and agent.command:
            command = agent.command
    found = shutil.which(command)
    if not found:
        raise AgentDocError(
            f"cannot start the agent: `{command}` was not found on PATH",
            hint="install Claude Code, or set `command` under [agents.claude] in "
            "~/.config/agent-doc/config.toml",
        )
    return found
