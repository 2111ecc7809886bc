"""The snapshot store: the baseline each diff is computed against (Part B §2.3).

``<root>/.agent-doc/snapshots/<sha256(realpath)>.md`` holds the whole document (comments
included) as it was at the end of the last exchange. Every access takes the snapshot lock
``<hash>.md.lock`` (the reference's name, so both tools exclude each other). Writes go through
:func:`safefile.atomic_write`. The snapshot and its lock are state: never read or written
through a link (``state_root``), and a snapshot is never more readable than its document.
An unreadable snapshot is treated as missing, with a warning
(SPEC A5). Lock order: the document lock, if needed, is taken *before* this one.
"""

from __future__ import annotations

import os
import sys

from agent_doc.project import Project
from agent_doc.record import Record
from safefile import (
    DecodeError,
    FileLock,
    NotRegularFileError,
    atomic_write,
    read_text,
    unlink_state,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType


class SnapshotTxn(Record):
    """The state of one snapshot inside :meth:`SnapshotStore.transaction`."""

    text: str | None
    _new: str | None = None
    _delete: bool = False

    def set(self, text: str) -> None:
        self._new, self._delete = text, False

    def delete(self) -> None:
        self._new, self._delete = None, True


class SnapshotStore:
    def __init__(self, project: Project) -> None:
        self.project = project

    def path(self, doc: str | os.PathLike[str]) -> str:
        return os.fspath(self.project.snapshot_path(doc))

    def lock(self, doc: str | os.PathLike[str]) -> FileLock:
        return FileLock(
            self.project.snapshot_lock_path(doc), what=f"snapshot of {doc}",
            state_root=self.project.root,
        )

    def _read(self, doc: str | os.PathLike[str]) -> str | None:
        path = self.path(doc)
        try:
            return read_text(path, state_root=self.project.root)
        except FileNotFoundError:
            return None
        except NotRegularFileError:
            raise  # a link or FIFO planted there: refuse, never read through it
        except (DecodeError, OSError) as exc:
            print(
                f"agent-doc: warning: snapshot {path} of {doc} is unreadable ({exc}); "
                f"treating it as missing, so the next diff shows the whole document",
                file=sys.stderr,
            )
            return None

    def peek(self, doc: str | os.PathLike[str]) -> str | None:
        """Read without the lock, creating and writing nothing (for read-only commands such as
        ``diff`` and ``run --dry-run``): snapshot writes are atomic renames, so an unlocked
        read sees a whole old or a whole new snapshot."""
        return self._read(doc)

    def load(self, doc: str | os.PathLike[str]) -> str | None:
        with self.lock(doc):
            return self._read(doc)

    def _write(self, doc: str | os.PathLike[str], text: str) -> None:
        # a copy of the document, never more readable than it: owner-only, also when an older
        # snapshot (another tool's, another umask) was wider; the umask may narrow it further
        atomic_write(
            self.path(doc), text, mode=0o600, make_parents=True, state_root=self.project.root
        )

    def save(self, doc: str | os.PathLike[str], text: str) -> None:
        with self.lock(doc):
            self._write(doc, text)

    def delete(self, doc: str | os.PathLike[str]) -> bool:
        with self.lock(doc):
            return unlink_state(self.path(doc), state_root=self.project.root)

    def transaction(self, doc: str | os.PathLike[str]) -> _Transaction:
        """Read-modify-write under the snapshot lock; changes apply if the block succeeds::

            with store.transaction(doc) as txn:
                txn.set(new_text)
        """
        return _Transaction(self, doc)


class _Transaction:
    """The context manager of :meth:`SnapshotStore.transaction` (a small class rather than
    ``@contextlib.contextmanager``, to keep ``contextlib`` off the start-up path)."""

    __slots__ = ("_doc", "_lock", "_store", "_txn")

    def __init__(self, store: SnapshotStore, doc: str | os.PathLike[str]) -> None:
        self._store = store
        self._doc = doc
        self._lock: FileLock | None = None
        self._txn: SnapshotTxn | None = None

    def __enter__(self) -> SnapshotTxn:
        lock = self._store.lock(self._doc)
        lock.acquire()
        try:
            txn = SnapshotTxn(self._store._read(self._doc))
        except BaseException:
            lock.release()
            raise
        self._lock, self._txn = lock, txn
        return txn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lock, txn = self._lock, self._txn
        self._lock = self._txn = None
        if lock is None or txn is None:
            raise RuntimeError("snapshot transaction exited without being entered")
        try:
            if exc_type is None:  # apply only if the block succeeded
                store = self._store
                if txn._delete:
                    unlink_state(store.path(self._doc), state_root=store.project.root)
                elif txn._new is not None and txn._new != txn.text:
                    store._write(self._doc, txn._new)
        finally:
            lock.release()
