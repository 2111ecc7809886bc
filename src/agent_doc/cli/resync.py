"""``agent-doc resync [--json]``: remove registry entries whose pane is gone or was reused.

Parses and prints only; the work is :func:`agent_doc.routing.resync.resync`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option

    parser.add_argument("--json", action="store_true", help="print removed/active as JSON")
    add_socket_option(parser)


def run(args: argparse.Namespace) -> int:
    from agent_doc.cli.tmuxcli import tmux_errors
    from agent_doc.project import Project
    from agent_doc.routing.common import open_tmux
    from agent_doc.routing.resync import resync

    project = Project.for_cwd()
    with tmux_errors():
        removed = resync(project, open_tmux(args.socket_name))
    if args.json:
        from agent_doc.cli.common import emit_json
        from tmux_router.registry import Registry

        active = Registry(project.registry_path, state_root=project.root).load()
        emit_json(
            {
                "removed": [
                    {"session_id": k, "file": e.get("file", ""), "pane": e.get("pane")}
                    for k, e in removed
                ],
                "active": [
                    {"session_id": k, "file": e.get("file", ""), "pane": e.get("pane")}
                    for k, e in active.items()
                ],
            }
        )
    return 0
