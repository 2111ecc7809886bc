"""``agent-doc claim FILE [--pane P | --position POS] [--window W]``: bind a document to a pane.

Parses and prints only; the work is :func:`agent_doc.routing.claim.claim_document`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse

DESCRIPTION = """Bind a document to a tmux pane (the last claim wins; several documents may
share one pane). Without --pane/--position the current pane is claimed.

The pane's tmux session is written to the document's `tmux_session` key; the claim is logged
to .agent-doc/claims.log for the Claude Code skill."""


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option
    from agent_doc.routing.common import POSITIONS

    parser.add_argument("file", metavar="FILE", help="the session document")
    parser.add_argument("--pane", "-p", metavar="P", help="pane id to claim (e.g. %%3)")
    parser.add_argument(
        "--position", metavar="POS", help=f"pick the pane by position: {', '.join(POSITIONS)}"
    )
    parser.add_argument("--window", "-w", metavar="W", help="window id to pick --position in")
    parser.add_argument("--json", action="store_true", help="print the claim as JSON on stdout")
    add_socket_option(parser)


def run(args: argparse.Namespace) -> int:
    from agent_doc.cli.common import emit_json
    from agent_doc.cli.tmuxcli import tmux_errors
    from agent_doc.routing.claim import claim_document
    from agent_doc.routing.common import open_tmux

    with tmux_errors():
        result = claim_document(
            args.file,
            pane=args.pane,
            position=args.position,
            window=args.window,
            tmux=open_tmux(args.socket_name),
        )
    if args.json:
        emit_json(result.to_dict())
    return 0
