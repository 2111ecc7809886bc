"""``agent-doc prompt FILE | --all | --answer N FILE``: permission prompts in agent panes.

Parses and prints only; the work is in :mod:`agent_doc.prompt`. JSON goes to stdout on one
line (the shape of Part B §8.2); messages go to stderr.
"""

from __future__ import annotations

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse

DESCRIPTION = """Detect Claude Code permission prompts in the documents' panes.

  prompt FILE             JSON for FILE's pane: {"active":false} or question/options/selected
  prompt --all            JSON array for every registered live pane of the project (cwd);
                          `[]` when no tmux server runs
  prompt --answer N FILE  choose option N (re-checked right before Enter; refused if changed)"""


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option

    parser.add_argument("file", metavar="FILE", nargs="?", help="the session document")
    parser.add_argument("--all", action="store_true", help="all registered panes of the project")
    parser.add_argument("--answer", type=int, metavar="N", help="choose option N")
    add_socket_option(parser)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from agent_doc.cli.tmuxcli import tmux_errors
    from agent_doc.errors import AgentDocError
    from agent_doc.prompt import answer_document, prompt_all, prompt_for_document
    from agent_doc.routing.common import open_tmux

    tmux = open_tmux(args.socket_name)
    if args.all:
        from tmux_router.tmux import NoServer

        with tmux_errors():
            try:
                data = prompt_all(tmux)
            except NoServer:  # polled by editor plugins: no server is no prompts, not an error
                data = []
                if sys.stderr.isatty():
                    sys.stderr.write("no tmux server is running: no prompts\n")
        sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        return 0
    if not args.file:
        raise AgentDocError(
            "FILE required when not using --all", hint="agent-doc prompt FILE | --all"
        )
    if args.answer is not None:
        with tmux_errors():
            pane, _info = answer_document(args.file, args.answer, tmux)
        sys.stderr.write(f"Sent option {args.answer} to pane {pane}\n")
        return 0
    with tmux_errors():
        info = prompt_for_document(args.file, tmux)
    sys.stdout.write(info.to_json() + "\n")
    return 0
