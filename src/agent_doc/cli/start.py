"""``agent-doc start FILE``: register the current tmux pane for FILE and exec Claude in it.

Parses and prints only; the work is :func:`agent_doc.routing.start.start_document`.
"""

from __future__ import annotations

import argparse

DESCRIPTION = """Register this tmux pane for FILE (adding a session UUID to FILE if it has
none) and replace this process with Claude (`[agents.claude] command`, default `claude`)."""


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option

    parser.add_argument("file", metavar="FILE", help="the session document")
    add_socket_option(parser)


def run(args: argparse.Namespace) -> int:
    from agent_doc.cli.tmuxcli import tmux_errors
    from agent_doc.routing.common import open_tmux
    from agent_doc.routing.start import start_document

    with tmux_errors():
        start_document(args.file, tmux=open_tmux(args.socket_name))
    return 0
