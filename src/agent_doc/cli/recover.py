"""``agent-doc recover FILE``: apply a response left in ``.agent-doc/pending/`` by a process
that died after the agent answered (SPEC A1, A6) — with the same write-back as ``run``.

No pending response → says so and exits 0. Applying one twice is harmless: a response already
in the document is recognised and not added again. A response left pending under the
document's old name (it was renamed or moved while the agent answered) is found by the
document's session id (``agent-doc status`` lists it) and applied to FILE.
"""

from __future__ import annotations

from agent_doc.cli.common import emit_json, existing_file, say

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse

DESCRIPTION = (
    "Apply a response that an interrupted run left pending for FILE (also one left under its\n"
    "old name, if FILE was renamed or moved while the agent answered)."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the session document")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from agent_doc.cycle import recover

    path = existing_file(args.file)
    result = recover(path)
    if result is None:
        say(f"No pending response for {path}")
    if args.json:
        emit_json({"file": path, "status": "none" if result is None else result.status,
                   "conflicts": 0 if result is None else result.conflicts,
                   "written_hash": None if result is None else result.written_hash})
    return 0
