"""``agent-doc write FILE``: append a response read on stdin, exactly as ``run`` does after the
agent answers (SPEC A1, A6 steps 6–9) — for an agent that runs the cycle itself (the skill).

The engine is :func:`agent_doc.cycle.write_response`: the response is journalled in
``.agent-doc/pending/`` first, merged with any edit made meanwhile, written under the document
lock, and the snapshot is updated, so the next ``diff`` shows only what the user adds next.
"""

from __future__ import annotations

import sys

from agent_doc.cli.common import emit_json, existing_file

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse

    from agent_doc.writeback import SubmitResult

DESCRIPTION = (
    "Append the response given on standard input to FILE (with the same locking, merging and\n"
    "snapshot update as `run`). Used by the Claude Code skill."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the session document")
    parser.add_argument("--session-id", metavar="ID",
                        help="the agent conversation id to store as `resume`")
    parser.add_argument("--no-stream", action="store_true",
                        help="read all of standard input before writing (default: a pipe is "
                        "shown in FILE as it arrives; config [stream] enabled)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from agent_doc.cycle import write_response

    path = existing_file(args.file)
    if not getattr(args, "no_stream", False) and _is_pipe(sys.stdin):
        from agent_doc.cycle import stream_enabled, write_stream
        from agent_doc.project import Project

        enabled, interval = stream_enabled(None, Project.for_document(path))
        if enabled:
            result = write_stream(path, sys.stdin.fileno(), session_id=args.session_id,
                                  interval=interval)
            return _report(args, path, result)
    data = sys.stdin.buffer.read()
    try:
        response = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        from agent_doc.errors import AgentDocError

        raise AgentDocError(
            f"the response for {path} on standard input is not valid UTF-8 (byte {exc.start})",
            hint="send UTF-8 text",
        ) from None
    result = write_response(path, response, session_id=args.session_id)
    return _report(args, path, result)


def _is_pipe(stream: object) -> bool:
    """Standard input is a pipe (or socket): the response may arrive slowly (issue 16)."""
    import os
    import stat

    try:
        mode = os.fstat(stream.fileno()).st_mode  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _report(args: argparse.Namespace, path: str, result: SubmitResult) -> int:
    if args.json:
        emit_json({"file": path, "status": result.status, "conflicts": result.conflicts,
                   "written_hash": result.written_hash,
                   "pending_applied": result.pending_applied})
    return 0
