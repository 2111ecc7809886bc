"""``agent-doc commit FILE``: commit the document — and nothing else — with the agent-doc
message (SPEC A9, Part B §3.7). Other staged files stay staged. Outside a git repository it
says so and exits 0 (the cycle runs without git there too)."""

from __future__ import annotations

import argparse

from agent_doc.cli.common import emit_json, say

DESCRIPTION = (
    "Commit FILE (only FILE, whatever else is staged) with the message\n"
    "`agent-doc(<stem>): <local time>`. Nothing to commit is not an error."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the session document")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from agent_doc.gitops import commit_document, locate_document

    path = str(locate_document(args.file))
    outcome = commit_document(path)
    if outcome.status == "committed":
        say(f"Committed {path} ({(outcome.commit or '')[:7]}: {outcome.message})")
    elif outcome.status == "nothing to commit":
        say(f"Nothing to commit for {path}")
    elif outcome.status == "skipped":
        say(f"Not committed: {path} ({outcome.message})")
    if args.json:
        emit_json({"file": path, "status": outcome.status, "commit": outcome.commit,
                   "message": outcome.message})
    return 0
