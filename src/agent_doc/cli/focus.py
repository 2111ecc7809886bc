"""``agent-doc focus FILE [--pane P]``: select the tmux pane of a document (writes nothing).

Parses and prints only; the work is :func:`agent_doc.routing.focus.focus_document`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option

    parser.add_argument("file", metavar="FILE", help="the session document")
    parser.add_argument("--pane", "-p", metavar="P", help="select this pane instead")
    add_socket_option(parser)


def run(args: argparse.Namespace) -> int:
    from agent_doc.cli.tmuxcli import tmux_errors
    from agent_doc.routing.common import open_tmux
    from agent_doc.routing.focus import focus_document

    with tmux_errors():
        focus_document(args.file, pane=args.pane, tmux=open_tmux(args.socket_name))
    return 0
