"""``agent-doc watch [FILE...] [--debounce MS] [--max-cycles N] [--stop] [--status] [--json]``.

Runs the watch daemon in the foreground (:mod:`agent_doc.watch`), or stops / reports the one
running for the project of the working directory. ``--stop`` wins over ``--status`` (§3.17).
``--status`` prints to stdout (as the reference does): ``Watch daemon running (PID n)``,
``Watch daemon not running (stale PID file: n)`` or ``Watch daemon not running.``; with
``--json`` an object ``{running, pid, stale_pid, pid_file}``. Both exit 0.
"""

from __future__ import annotations

import argparse

from agent_doc.cli.common import emit_json, existing_file, say

DESCRIPTION = """Watch the project's registered documents (and any FILE given) and submit each one
when it is saved, as `agent-doc run` would. One daemon per project; it runs in the foreground
until SIGTERM/SIGINT or `agent-doc watch --stop`, which never cuts a write-back in half."""


def _non_negative(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", metavar="FILE", nargs="*", help="documents to watch besides the registered ones"
    )
    parser.add_argument(
        "--debounce", metavar="MS", type=_non_negative, default=500,
        help="wait this long after the last save before submitting (default 500)",
    )
    parser.add_argument(
        "--max-cycles", metavar="N", type=_non_negative, default=3,
        help="at most N cycles in a row triggered by edits made during a cycle (default 3)",
    )
    parser.add_argument("--agent", metavar="NAME", help="agent to use (default: as `run`)")
    parser.add_argument("--stop", action="store_true", help="stop the running daemon")
    parser.add_argument("--status", action="store_true", help="say whether a daemon runs")
    parser.add_argument("--json", action="store_true", help="with --status: JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from agent_doc import watch
    from agent_doc.project import Project

    project = Project.for_cwd()
    if args.stop:
        return watch.stop(project, say=say)
    if args.status:
        st = watch.status(project)
        if args.json:
            emit_json(st)
        elif st["running"]:
            print(f"Watch daemon running (PID {st['pid']})")
        elif st["stale_pid"] is not None:
            print(f"Watch daemon not running (stale PID file: {st['stale_pid']})")
        else:
            print("Watch daemon not running.")
        return 0
    files = [existing_file(f) for f in args.files]
    return watch.serve(
        project, files, debounce_ms=args.debounce, max_cycles=args.max_cycles, agent=args.agent
    )
