"""``agent-doc route FILE [--pane P]``: send ``/agent-doc FILE`` to the document's agent pane.

Parses and prints only; the work is :func:`agent_doc.routing.route.route_document`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse

DESCRIPTION = """Type `/agent-doc FILE` and Enter into the agent registered for FILE.

FILE gets its session id first (if it has none). Keys are typed only while the registered agent
is alive and in its pane's foreground, never into a shell prompt. If the document has no live
agent: with --pane P the document is claimed to P and sent there; otherwise a Claude pane is
started (a window in the `claude` session; with no tmux server, a detached session `claude` on
a new server) unless AGENT_DOC_NO_AUTOSTART is set. Run route again once Claude is up."""


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option

    parser.add_argument("file", metavar="FILE", help="the session document")
    parser.add_argument(
        "--pane", "-p", metavar="P", help="claim this pane if the document has no live pane"
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    add_socket_option(parser)


def run(args: argparse.Namespace) -> int:
    from agent_doc.cli.tmuxcli import tmux_errors
    from agent_doc.routing.common import open_tmux
    from agent_doc.routing.route import route_document

    with tmux_errors():
        result = route_document(args.file, pane=args.pane, tmux=open_tmux(args.socket_name))
    if args.json:
        from agent_doc.cli.common import emit_json

        emit_json(result.to_dict())
    return 0
