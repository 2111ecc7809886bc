"""``agent-doc layout FILE... [--split h|v] [--pane P] [--window W]``: arrange panes in a row.

Parses and prints only; the work is :func:`agent_doc.routing.layout.layout_documents`.
"""

from __future__ import annotations

import argparse

DESCRIPTION = """Arrange the panes of several documents side by side (--split h, default) or
stacked (--split v) in one window. One file: like `focus`. See also `sync` for columns."""

SPLITS = ("h", "horizontal", "v", "vertical")


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option

    parser.add_argument("files", metavar="FILE", nargs="+", help="session documents, in order")
    parser.add_argument(
        "--split", "-s", default="h", choices=SPLITS, help="h: side by side (default); v: stacked"
    )
    parser.add_argument("--pane", "-p", metavar="P", help="with one FILE: select this pane")
    parser.add_argument("--window", "-w", metavar="W", help="only panes already in window W")
    add_socket_option(parser)


def run(args: argparse.Namespace) -> int:
    from agent_doc.cli.tmuxcli import tmux_errors
    from agent_doc.routing.common import open_tmux
    from agent_doc.routing.layout import layout_documents

    with tmux_errors():
        layout_documents(
            args.files,
            split=args.split,
            pane=args.pane,
            window=args.window,
            tmux=open_tmux(args.socket_name),
        )
    return 0
