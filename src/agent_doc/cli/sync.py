"""``agent-doc sync --col A,B [--col C ...] [--window W] [--focus FILE]``: mirror editor columns.

Parses and prints only; the work is :func:`agent_doc.routing.sync.sync_documents`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse

DESCRIPTION = """Arrange the documents' panes in tmux like the editor's split columns: each
--col is one column (top to bottom, comma-separated). Registered panes that are not wanted
move to the `stash` window; unregistered panes (shells) are left alone."""


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option

    parser.add_argument(
        "--col", action="append", default=[], metavar="A,B", help="one column of files"
    )
    parser.add_argument("--window", "-w", metavar="W", help="target window id")
    parser.add_argument("--focus", "-f", metavar="FILE", help="the file whose pane gets focus")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")
    add_socket_option(parser)


def run(args: argparse.Namespace) -> int:
    from agent_doc.cli.tmuxcli import tmux_errors
    from agent_doc.errors import AgentDocError
    from agent_doc.routing.common import open_tmux
    from agent_doc.routing.sync import sync_documents

    if not args.col:
        raise AgentDocError(
            "at least one --col required", hint="e.g. `agent-doc sync --col a.md,b.md --col c.md`"
        )
    with tmux_errors():
        out = sync_documents(
            args.col, window=args.window, focus=args.focus, tmux=open_tmux(args.socket_name)
        )
    if args.json:
        from agent_doc.cli.common import emit_json

        emit_json(
            {
                "target_session": out.target_session,
                "target_window": out.target_window,
                "columns": out.columns,
                "moved": out.moved,
                "tmux_session_written": out.written,
                "warnings": out.warnings,
            }
        )
    return 0
