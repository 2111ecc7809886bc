"""``agent-doc reset FILE``: forget the agent conversation and the baseline (Part B §3.5, §9.3).

Under the document's locks, in the fixed order submit → document → snapshot (SPEC A4):

1. the **submit lock** is taken first (waiting, with the usual bound and holder notice), so a
   reset never interleaves with a running cycle — in the reference an in-flight run re-saved
   the snapshot and wrote ``resume`` back after a reset, undoing it (C18);
2. under the **document lock**, the ``resume`` line is removed surgically (every other byte —
   the session UUID, unknown keys, comments, line endings — is kept; a document without
   ``resume`` is not rewritten at all, and one without frontmatter does not gain a ``{}``
   block as in the reference);
3. the **snapshot** is deleted under the snapshot lock, so the next diff shows the whole
   document. That lock is taken, and the deletion checked possible, before step 2: a failure
   exit means nothing changed (a deletion failing after the edit is a warning).

The session UUID is **kept**, as in the reference (the pane binding survives). The next
``run`` chooses a new conversation id for a claude agent (``--session-id``), so it starts a new
conversation with the whole document. A pending
response (``.agent-doc/pending/<hash>.json``) is **not** deleted: it is an answer that was
already paid for; reset says so and points to ``agent-doc recover FILE``.

stderr: ``Reset session for FILE``. Malformed frontmatter is an error naming file and line,
and then nothing (document or snapshot) is touched.
"""

from __future__ import annotations

import argparse
import os

from agent_doc.cli.common import existing_file, say

DESCRIPTION = (
    "Forget the agent conversation (remove `resume`) and the snapshot of a document, so the\n"
    "next run starts a new conversation with the whole document. The session id is kept."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the session document")


def reset_document(path: str) -> tuple[bool, bool, bool]:
    """Reset ``path``; returns ``(resume_removed, snapshot_deleted, pending_exists)``."""
    from agent_doc.document import edit_document, set_field
    from agent_doc.errors import AgentDocError, os_cause, os_hint
    from agent_doc.project import Project
    from agent_doc.snapshot import SnapshotStore

    project = Project.for_document(path)
    store = SnapshotStore(project)
    snap = store.path(path)
    with project.submit_lock(path), project.doc_lock(path):
        # both changes or neither: the snapshot lock is taken and its deletion proven possible
        # before the document is edited (a failure exit means nothing changed)
        try:
            snap_lock = store.lock(path)
            snap_lock.acquire()
        except OSError as exc:
            raise AgentDocError(
                f"cannot reset {path}: its snapshot {snap} cannot be locked: "
                f"{os_cause(exc, snap)}; nothing was changed",
                hint=f"{os_hint(exc, os.path.dirname(snap))}, then run the reset again",
            ) from None
        try:
            folder = os.path.dirname(snap)
            if os.path.exists(snap) and not os.access(folder, os.W_OK, effective_ids=True):
                raise AgentDocError(
                    f"cannot reset {path}: its snapshot {snap} cannot be deleted (no "
                    f"permission to change {folder}); nothing was changed",
                    hint=f"check the permissions of {folder} (`ls -ld`), then run the reset "
                    "again",
                )
            old, new = edit_document(
                path, lambda text: set_field(text, "resume", None, path), project=project
            )
            try:
                deleted = store.delete(path)
            except OSError as exc:  # the document changed already: a warning, not a failure
                deleted = False
                say(f"warning: `resume` was removed from {path}, but its snapshot could not "
                    f"be deleted: {os_cause(exc, snap)}\nhint: {os_hint(exc, snap)}, then run "
                    "the reset again")
        finally:
            snap_lock.release()
        pending = os.path.exists(project.pending_path(path))
    return old != new, deleted, pending


def run(args: argparse.Namespace) -> int:
    path = existing_file(args.file)
    _removed, _deleted, pending = reset_document(path)
    if pending:
        say(
            f"note: a response for {path} is still pending (an agent answered but it was never "
            f"written); it was kept — apply it with `agent-doc recover {path}`"
        )
    say(f"Reset session for {path}")
    return 0
