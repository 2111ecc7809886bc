"""``agent-doc diff FILE [--full | --stat] [-v]``: what changed since the last submit (§3.3).

**Read-only** (SPEC A6), with one exception: when the last write-back's answer was removed by
a stale editor save, it is put back first (:mod:`agent_doc.repair`). Otherwise it writes nothing
at all — no snapshot (the reference could rewrite it
through its stale-snapshot heuristic, which we do not build), no session UUID, not even a lock
file. The snapshot is therefore read without the snapshot lock: every snapshot write is an
atomic replace, so an unlocked read sees a whole old or a whole new snapshot, never a torn one
(taking the lock would create or rewrite the lock file, which records its holder).

The document is read as strict UTF-8. Its frontmatter is not parsed: a diff is useful even
while the YAML is broken. A missing snapshot means an empty baseline (the whole document is
new).

Output: the diff on stdout, byte for byte (``--- snapshot`` / ``+++ document``, ``@@`` hunks,
3 lines of context); ``--full`` gives the reference's full listing instead (every line
prefixed); ``--stat`` one summary line. No change: ``No changes since last submit.`` on stderr.
Exit 0 in both cases.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # argparse is imported only when fastargs cannot parse
if TYPE_CHECKING:  # pragma: no cover
    import argparse

    from agent_doc.project import Project

DESCRIPTION = """\
Show what changed in FILE since the last submit: a unified diff between the snapshot (the
document as it was after the last exchange) and the document, with comments stripped from
both (<!-- ... --> except agent markers, and [//]: # (...) lines). Nothing is written.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the session document")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--full",
        action="store_true",
        help="list every line prefixed '-', '+' or ' ' (the reference's format, no hunks)",
    )
    mode.add_argument(
        "--stat", action="store_true", help="print only the number of inserted/deleted lines"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print [diff] diagnostics on stderr"
    )


def _read_document(path: str) -> str:
    from agent_doc.errors import AgentDocError, FileNotFound
    from safefile import DecodeError, read_text

    try:
        return read_text(path)
    except FileNotFoundError:
        raise FileNotFound(path) from None
    except IsADirectoryError:
        raise AgentDocError(
            f"{path} is a folder, not a document", hint="give the path of a Markdown file"
        ) from None
    except DecodeError as exc:
        raise AgentDocError(
            str(exc), hint="agent-doc reads documents as UTF-8; convert the file and retry"
        ) from None
    except PermissionError:
        raise AgentDocError(
            f"cannot read {path}: permission denied", hint="check the file's permissions"
        ) from None


def _repair(project: Project, path: str) -> None:
    """Put back an answer a stale editor save removed (:mod:`agent_doc.repair`), only when
    the last write-back left a record; otherwise nothing is written."""
    from agent_doc import repair
    from agent_doc.errors import AgentDocError

    if not os.path.exists(repair.record_path(project, path)):
        return
    try:
        repair.check(project, path)
    except AgentDocError as exc:
        from agent_doc.cli.common import say

        say(f"warning: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else ""))


def _without_stream(project: Project, path: str, text: str) -> str:
    """The document without the region of an answer streaming into it (issue 16), live or
    left by a run that died: its journal says where it is. A partial answer is never the
    user's text."""
    if not os.path.isdir(project.pending_dir):
        return text
    from agent_doc.errors import AgentDocError
    from agent_doc.journal import load_pending
    from agent_doc.writeback import strip_streaming

    try:
        record = load_pending(project, path)
    except (AgentDocError, OSError):
        return text
    return text if record is None else strip_streaming(text, record)


def _settled_snapshot(project: Project, path: str, text: str) -> str | None:
    """The snapshot a left journal's settle would save when the document already holds its
    answer (a run killed between its final write and the snapshot save): the answer is not
    the user's text either (:func:`agent_doc.writeback.settled_snapshot`; read-only)."""
    if not os.path.isdir(project.pending_dir):
        return None
    from agent_doc.errors import AgentDocError
    from agent_doc.journal import load_pending
    from agent_doc.writeback import settled_snapshot

    try:
        record = load_pending(project, path)
    except (AgentDocError, OSError):
        return None
    return None if record is None else settled_snapshot(text, record, path)


def _write_stdout(text: str) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def run(args: argparse.Namespace) -> int:
    from agent_doc import diff
    from agent_doc.cli.common import existing_file, say
    from agent_doc.project import Project

    path = existing_file(args.file)
    project = Project.for_document(path)
    _repair(project, path)
    raw = _read_document(path)
    text = _without_stream(project, path, raw)
    from agent_doc.snapshot import SnapshotStore

    snap_path = os.fspath(project.snapshot_path(path))
    snapshot = _settled_snapshot(project, path, raw)
    if snapshot is None:
        snapshot = SnapshotStore(project).peek(path)
    if args.verbose:
        say(
            f"[diff] doc={path} snapshot={snap_path} doc_len={len(text)} "
            f"snap_len={len(snapshot) if snapshot is not None else 'none'}"
        )
    if snapshot is None:
        say(f"No snapshot for {path} yet: the whole document counts as new.")
    if args.stat:
        ins, dels = diff.stat(snapshot, text)
        if ins == dels == 0:
            say("No changes since last submit.")
            return 0
        _write_stdout(
            f"{ins} insertion{'s' if ins != 1 else ''}(+), "
            f"{dels} deletion{'s' if dels != 1 else ''}(-)\n"
        )
        return 0
    result = diff.compute_full(snapshot, text) if args.full else diff.compute(snapshot, text)
    if result is None:
        if args.verbose:
            say("[diff] no changes detected (comments stripped)")
        say("No changes since last submit.")
        return 0
    if args.verbose:
        say(f"[diff] changes detected ({len(result.encode('utf-8'))} bytes of diff)")
    _write_stdout(result)
    return 0
