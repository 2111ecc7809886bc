"""``agent-doc outline FILE [--json]``: the document's sections with their sizes (Part B §9.1).

Read-only. The table (or one line of JSON with ``--json``) goes to stdout. Malformed
frontmatter is an error, as in the reference (the outline covers the body only).
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
List the sections of a document (its body, without frontmatter): each heading, indented by
depth, with its size in lines (heading included) and approximate tokens (bytes / 4). Text
before the first heading is shown as (preamble).

--json prints one line: [{"heading": "## User", "depth": 2, "line": 1, "lines": 4,
"tokens": 3}, ...] where heading is the raw line and line is 1-based within the body.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the session document")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from agent_doc.cli.common import existing_file
    from agent_doc.document import read_document
    from agent_doc.outline import format_json, format_text, sections

    doc = read_document(existing_file(args.file))
    secs = sections(doc.body)
    out = format_json(secs) + "\n" if args.json else format_text(secs)
    sys.stdout.flush()
    sys.stdout.buffer.write(out.encode("utf-8"))  # UTF-8 whatever the locale
    sys.stdout.buffer.flush()
    return 0
