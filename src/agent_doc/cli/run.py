"""``agent-doc run FILE``: one submit cycle (SPEC A6, Part B §3.2) — parsing and printing only.

The engine is :func:`agent_doc.cycle.submit`; it writes the reference's progress lines on
stderr (``[submit] starting for FILE``, ``Submitting to NAME...``, merge notes, ``Response
appended to FILE``, ``[submit] Nothing changed since last submit for FILE``). This module adds
the data on stdout: with ``--dry-run`` the diff (stderr frames it with ``--- Diff ---`` and
``--- Prompt would be N bytes ---``); with ``--json`` one JSON object describing the outcome.

Exit status: 0 for answered, nothing changed, busy (``--no-wait`` and another cycle runs) and
dry-run; 1 for errors (agent failure, bad frontmatter, git); 130 on Ctrl-C. Merge conflicts are
a warning (exit 0): the markers are in the document.
"""

from __future__ import annotations

import sys

from agent_doc.cli.common import emit_json, existing_file, say

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse

DESCRIPTION = (
    "Submit what changed in FILE since the last submit to the agent and append its answer.\n"
    "Edits you make while the agent works are merged in, never lost."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the session document")
    parser.add_argument("-b", "--branch", action="store_true",
                        help="work on the git branch agent-doc/<file stem> (created if needed)")
    parser.add_argument("--agent", metavar="NAME", help="agent to use (overrides the document)")
    parser.add_argument("--model", metavar="MODEL", help="model override for this submit")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the diff and the prompt size; write nothing at all")
    parser.add_argument("--no-git", action="store_true", help="do not commit or switch branch")
    parser.add_argument("--no-wait", action="store_true",
                        help="if a cycle for FILE is already running, exit at once (status 0)")
    parser.add_argument("--no-stream", action="store_true",
                        help="write the answer only when the agent has finished (default: it "
                        "grows in the document as it arrives; config [stream] enabled)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from agent_doc.cycle import SubmitOptions, submit

    path = existing_file(args.file)
    options = SubmitOptions(
        agent=args.agent, model=args.model, branch=args.branch, dry_run=args.dry_run,
        no_git=args.no_git, no_wait=args.no_wait,
        stream=False if getattr(args, "no_stream", False) else None,
    )
    result = submit(path, options)
    if result.status == "dry-run":
        say("--- Diff ---")
        if not args.json:
            sys.stdout.write(result.diff or "")
            sys.stdout.flush()
        say(f"--- Prompt would be {result.prompt_bytes} bytes ---")
    if args.json:
        emit_json({
            "file": path,
            "status": result.status,
            "conflicts": result.conflicts,
            "response": result.response,
            "written_hash": result.written_hash,
            "holder": result.holder,
            "pending_applied": result.pending_applied,
            "diff": result.diff,
            "prompt_bytes": result.prompt_bytes,
        })
    return 0
