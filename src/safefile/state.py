"""State files: never followed through a link, only regular files (issue 11, items 2, 6, 8).

agent-doc writes two kinds of files:

* **documents** — the user's own files. A document that is a symbolic link the user made is
  written *through* (the link stays a link: :func:`safefile.atomic_write` without
  ``state_root``). It must be a regular file once its link is followed: a FIFO, socket or
  device would make a plain ``open()`` block forever (:class:`NotRegularFileError`).
* **state** — everything agent-doc keeps under a project's ``.agent-doc/`` (registry, its
  lock, snapshots, locks, pending answers, ``claims.log``, ``watch.pid``). A cloned project
  can carry a committed ``.agent-doc/`` whose entries are links to anywhere
  (``sessions.json.lock -> ~/.bashrc``, ``snapshots -> /etc``); following them would let
  agent-doc overwrite, truncate or append to files outside the project. So every state entry
  point takes ``state_root`` — the trusted folder the state lives under (the project root) —
  and then no component of the path *below* ``state_root`` is ever followed: folders must be
  real folders, the file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and must be a regular file
  (``fstat``). Anything else is refused with :class:`NotRegularFileError`, whose message names
  the path and what it is, and whose ``hint`` says how to fix it; nothing is written.

The folder check is ``lstat`` per folder below ``state_root`` (one or two syscalls); it does not
defend against a process that swaps a folder for a link between the check and the open — a
local attacker who can write into the project — only against links that are already there.

Modes (item 8): a state file gets the mode its writer asks for, whatever the file it replaces
had, given to ``open(O_CREAT)`` so the umask narrows it further and never widens it. Copies of a
document's text (snapshot, pending answer) are owner-only (``0o600``); the registry and
``claims.log`` follow the project folder (:func:`copy_mode`: owner read/write plus the folder's
read bits); a version of the document saved aside beside it gets the document's own mode
(:func:`doc_mode`).
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False  # `import typing` costs start-up time (bench/IMPORTS.md)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFREG: "a regular file",
}


def kind_of(st_mode: int) -> str:
    """``"a FIFO (named pipe)"``, ``"a symbolic link"``, ... for a ``st_mode``."""
    return _KINDS.get(stat.S_IFMT(st_mode), "not a regular file")


class NotRegularFileError(OSError):
    """A path is not a regular file where one is required: a state path that is a symbolic
    link (or under a linked folder), or a document/state file that is a FIFO, socket or device.

    ``str()`` is the message (naming the path and what it is); ``hint`` says what to do.
    """

    def __init__(self, path: str, message: str, hint: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, message)
        self.path = path
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


def _link_target(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def state_link_error(path: str, *, folder: bool = False) -> NotRegularFileError:
    """The error for a symbolic link found on a state path (the file or one of its folders)."""
    what = "folder" if folder else "file"
    return NotRegularFileError(
        path,
        f"refusing to use {path}: it is a symbolic link (to {_link_target(path)}); agent-doc "
        f"never reads or writes its state through a link, which could point outside the project",
        f"remove the link (`rm {path}`); agent-doc creates a real {what} there when it needs one",
        errno.ELOOP,
    )


def state_kind_error(path: str, st_mode: int) -> NotRegularFileError:
    """The error for a state path that exists but is not a regular file (or real folder)."""
    return NotRegularFileError(
        path,
        f"refusing to use {path}: it is {kind_of(st_mode)}, not a regular file; agent-doc keeps "
        "its state only in regular files",
        f"remove it (`rm {path}`); agent-doc creates a regular file there when it needs one",
    )


def document_kind_error(path: str, st_mode: int) -> NotRegularFileError:
    """The error for a document that is a FIFO, socket or device (after its own link)."""
    return NotRegularFileError(
        path,
        f"{path} is {kind_of(st_mode)}, not a regular file; agent-doc only reads and writes "
        "regular files (reading this one could block forever)",
        "give the path of a Markdown document",
    )


def check_state_folders(path: str, state_root: str, *, create: bool = False) -> None:
    """Make sure every folder between ``state_root`` (exclusive, trusted) and ``path``'s folder
    is a real folder: not a symbolic link, not a file. With ``create``, missing ones are created
    (as real folders); otherwise a missing folder is left for the caller's open to report.

    ``path`` must lie under ``state_root`` (``ValueError`` otherwise: a programming error).
    """
    root = state_root.rstrip("/") or "/"
    prefix = root if root == "/" else root + "/"
    if not path.startswith(prefix):
        norm = os.path.normpath(os.path.abspath(path))
        root = os.path.normpath(os.path.abspath(state_root))
        prefix = root if root == "/" else root + "/"
        if not norm.startswith(prefix):
            raise ValueError(f"state path {path} is not under its state root {state_root}")
        path = norm
    parts = path[len(prefix):].split("/")[:-1]
    current = root
    for part in parts:
        if not part or part == ".":
            continue
        current = current + "/" + part if current != "/" else "/" + part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if not create:
                return
            try:
                os.mkdir(current)
                continue
            except FileExistsError:  # created meanwhile (by another process): check it
                st = os.lstat(current)
        if stat.S_ISDIR(st.st_mode):
            continue
        if stat.S_ISLNK(st.st_mode):
            raise state_link_error(current, folder=True)
        raise NotRegularFileError(
            current,
            f"refusing to use {current}: it is {kind_of(st.st_mode)}, not a folder; agent-doc "
            "keeps its state in real folders",
            f"remove it (`rm {current}`); agent-doc creates the folder when it needs one",
            errno.ENOTDIR,
        )


def open_state(
    path: str, flags: int, mode: int = 0o666, *, state_root: str | None
) -> int:
    """``os.open`` for a state file: folders below ``state_root`` checked (created with
    ``O_CREAT``), the file itself never followed (``O_NOFOLLOW``) and never blocked on
    (``O_NONBLOCK``), and it must be a regular file. Returns the descriptor (close-on-exec).

    ``state_root`` None checks only the file itself (its folders are trusted).
    """
    if state_root is not None:
        check_state_folders(path, state_root, create=bool(flags & os.O_CREAT))
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise state_link_error(path) from None
        if exc.errno in (errno.ENXIO, errno.EWOULDBLOCK):  # a FIFO/socket opened for writing
            try:
                st = os.lstat(path)
            except OSError:
                raise exc from None
            raise state_kind_error(path, st.st_mode) from None
        raise
    return regular_fd(fd, path, state_kind_error)


def regular_fd(fd: int, path: str, kind_error: Callable[[str, int], NotRegularFileError]) -> int:
    """``fd`` if it is a regular file (one ``fstat``); otherwise it is closed and a folder raises
    ``IsADirectoryError``, anything else ``kind_error(path, st_mode)`` — the one such check of
    :func:`open_state` (state) and of documents' reads (:mod:`safefile.atomic`)."""
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"{path} is a folder")
        raise kind_error(path, st.st_mode)
    return fd


def read_all(fd: int) -> bytes:
    """Everything from ``fd``'s current offset to its end."""
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def read_state(path: str, *, state_root: str | None) -> bytes:
    """The bytes of a state file (see :func:`open_state`); ``FileNotFoundError`` if missing."""
    fd = open_state(path, os.O_RDONLY, state_root=state_root)
    try:
        return read_all(fd)
    finally:
        os.close(fd)


def unlink_state(path: str, *, state_root: str | None) -> bool:
    """Remove a state file (a link there is removed itself, never its target) after checking
    its folders; False when it was not there."""
    if state_root is not None:
        check_state_folders(path, state_root)
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def ensure_state_dir(folder: str, *, state_root: str) -> None:
    """Create ``folder`` (and its parents below ``state_root``) as real folders; refuse links.
    ``state_root`` itself is trusted and created like any folder when missing."""
    os.makedirs(state_root, exist_ok=True)
    check_state_folders(os.path.join(folder, "x"), state_root, create=True)


def copy_mode(st_mode: int) -> int:
    """The mode of a file that follows the file or folder with ``st_mode`` (the registry and
    ``claims.log`` follow the project folder): owner read/write plus the original's
    group/other read bits — never more readable than the original. Given to
    ``open(O_CREAT)``, the umask can only narrow it."""
    return 0o600 | (st_mode & 0o044)


def doc_mode(path: str | os.PathLike[str], default: int = 0o600) -> int:
    """The read/write bits of the file at ``path`` (followed), for another version of it
    written beside it; ``default`` if it is gone."""
    try:
        return os.stat(path).st_mode & 0o666
    except OSError:
        return default


def copy_mode_of(path: str | os.PathLike[str], default: int = 0o600) -> int:
    """:func:`copy_mode` of the file or folder at ``path`` (followed); ``default`` if it is
    gone."""
    try:
        return copy_mode(os.stat(path).st_mode)
    except OSError:
        return default
