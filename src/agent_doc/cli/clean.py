"""``agent-doc clean FILE``: squash the document's agent-doc commits (SPEC A9, Part B §9.4).

Only the **consecutive** agent-doc commits of FILE at the tip of the branch are folded into one
(``agent-doc: squashed session for FILE``); the index and the working tree are not touched.
When another commit sits between the tip and FILE's agent-doc commits, it refuses and explains
(exit 1) instead of folding that commit in as the reference did (C44).
"""

from __future__ import annotations

import argparse

from agent_doc.cli.common import say

DESCRIPTION = (
    "Squash the consecutive agent-doc commits of FILE at the tip of the current branch into\n"
    "one commit. Refuses if other commits are interleaved."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the session document")


def run(args: argparse.Namespace) -> int:
    from agent_doc.gitops import locate_document, squash_session

    path = str(locate_document(args.file))
    outcome = squash_session(path)
    say(outcome.message)
    return 0
