"""Atomic, durable file writes and strict reads (SPEC A5).

:func:`atomic_write` is the one function that writes every file that matters: documents,
snapshots, the registry, pid files, pending responses. Steps:

1. Resolve symlinks (whole chains, relative or absolute), so the final *target* gets the new
   content and every link stays a link. A dangling link creates its target.
2. Refuse a target that is not writable (a read-only document stays unwritten, as an editor
   would refuse it) with a message naming the file.
3. Create ``.<name>.tmp-<pid>-<random>`` in the target's folder (same file system, so the
   rename is atomic), ``flock`` it (marks it "being written"), write, give it the owner (where
   permitted) and mode of the file it replaces — a new file gets ``mode`` (default ``0o666``)
   masked by the umask, like any ``open()`` — and ``fsync``.
4. ``os.replace`` over the target, then ``fsync`` the folder so the rename itself is durable.

On any failure (including KeyboardInterrupt) the temporary file is removed. A writer killed
with SIGKILL cannot clean up, so every write first removes the stale temporary files of the
same target: those no process holds an ``flock`` on and whose writer is gone (or that are older
than :data:`STALE_AFTER` seconds, in case the pid was reused). Readers therefore see the
complete old or the complete new content, never a torn file.

State files (``state_root`` given, see :mod:`safefile.state`) are the exception to step 1: no
component below ``state_root`` is followed — a link there (or a FIFO, socket, device) is
refused with :class:`~safefile.state.NotRegularFileError` and nothing is written — and their
mode is always ``mode`` (default: :func:`~safefile.state.copy_mode` of ``state_root``) narrowed
by the umask, whatever the replaced file had. A document (no ``state_root``) must be a regular
file once its links are followed.

Every temporary file of this module — :func:`atomic_write`'s, :func:`exchange_write`'s and
:func:`create_new`'s, documents and state files alike (``sessions.json``, snapshots, pending
answers, ``watch.pid``) — is created, locked, filled, given its owner/mode and fsynced by one
pair of functions, :func:`_open_temp` and :func:`_fill_temp`; no other module writes a file by
temporary file and rename.

:func:`exchange_write` puts the new content in with an atomic exchange and hands back what it
displaced; with ``keep_as`` the displaced file is left on disk under the caller's name (never a
``.tmp-`` name, so :func:`clean_stale_temps` leaves it) until the caller has merged it.

Known limits (inherent to rename-based writes): hard links to the target are split (the other
names keep the old content), and ACLs / extended attributes are not copied.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

from fastpath import load_renameat2, signal_module
from safefile.state import (
    check_state_folders,
    document_kind_error,
    ensure_state_dir,
    open_state,
    read_all,
    regular_fd,
    state_kind_error,
    state_link_error,
)

#: a temp file whose writer pid is alive is still removed when older than this (pid reuse)
STALE_AFTER = 10.0


def _tmp_prefix(name: str) -> str:
    # keep the temp name within NAME_MAX (255 bytes) for long target names
    while len(os.fsencode(name)) > 200:
        name = name[:-1]
    return f".{name}.tmp-"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(target: str) -> list[str]:
    """Remove temp files left for ``target`` by writers that died. Returns what was removed.

    A temp file is in use while its writer holds an ``flock`` on it; one that nobody locks is
    removed when its writer's pid is gone or when it is older than :data:`STALE_AFTER`
    (the short window between a writer's create and its ``flock`` is covered by both).
    """
    folder = os.path.dirname(target) or "."
    prefix = _tmp_prefix(os.path.basename(target))
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    me = os.getpid()
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_part = name[len(prefix) :].split("-", 1)[0]
        try:
            pid = int(pid_part)
        except ValueError:
            continue
        if pid == me:
            continue  # ours: either being written by another thread or already cleaned up
        full = os.path.join(folder, name)
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live writer holds it
            age = time.time() - os.fstat(fd).st_mtime
            if _pid_alive(pid) and age < STALE_AFTER:
                continue
            try:
                os.unlink(full)
                removed.append(name)
            except FileNotFoundError:
                pass
        finally:
            os.close(fd)
    return removed


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename is still atomic
    finally:
        os.close(fd)


def _writable(target: str) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(target, os.W_OK, effective_ids=True)
    return os.access(target, os.W_OK)


def _check_writable(target: str, given: str, st: os.stat_result) -> None:
    """Refuse a read-only target (as an editor would) with a message naming it."""
    if not _writable(target):
        raise PermissionError(
            errno.EACCES, f"cannot write {given}: the file is read-only (mode "
            f"{st.st_mode & 0o777:o}); make it writable to let agent-doc update it"
        )


def _resolve_target(path: str) -> str:
    target = os.path.realpath(path)
    if os.path.islink(target):  # realpath stops inside a symlink loop
        raise OSError(errno.ELOOP, f"cannot write {path}: symbolic link loop at {target}")
    return target


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    mode: int | None = None,
    durable: bool = True,
    make_parents: bool = False,
    state_root: str | None = None,
) -> None:
    """Atomically replace ``path`` with ``data`` (str is encoded as UTF-8).

    A document (``state_root`` None): symlinks are written through; ``mode`` applies only when
    the file is new (an existing file keeps its own mode and, where permitted, its owner); a
    FIFO, socket or device there is refused. A state file (``state_root`` = the trusted folder
    it lives under): nothing below ``state_root`` is followed — a link is refused — and the
    file gets ``mode`` (default :func:`~safefile.state.copy_mode` of ``state_root``) narrowed
    by the umask. ``durable=False`` skips the fsyncs (for scratch files only).
    ``make_parents`` creates missing folders. Errors are ``OSError`` subclasses whose message
    names the target.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    given = os.fspath(path)
    if state_root is not None:
        target = os.path.abspath(given)
        if make_parents:
            ensure_state_dir(os.path.dirname(target), state_root=state_root)
        else:
            check_state_folders(target, state_root)
        if mode is None:
            from safefile.state import copy_mode_of

            mode = copy_mode_of(state_root, 0o644)
        folder = os.path.dirname(target)
        try:
            st: os.stat_result | None = os.lstat(target)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise state_link_error(given)
        if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            raise state_kind_error(given, st.st_mode)
    else:
        target = _resolve_target(given)
        folder = os.path.dirname(target)
        if make_parents:
            os.makedirs(folder, exist_ok=True)
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            raise document_kind_error(given, st.st_mode)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"cannot write {given}: it is a folder")
        _check_writable(target, given, st)
    clean_stale_temps(target)
    # a new file gets `mode` masked by the umask from the kernel itself; a replacement starts
    # private and gets the old file's mode below
    if state_root is not None:  # a state file always gets `mode` (narrowed by the umask)
        create_mode = 0o600 if mode is None else mode
    else:
        create_mode = 0o600 if st is not None else (0o666 if mode is None else mode)
    fd, tmp = _open_temp(target, given, create_mode)
    try:
        try:
            _fill_temp(fd, raw, st, keep_mode=state_root is None, durable=durable)
            try:
                os.replace(tmp, target)
            except PermissionError as exc:  # e.g. another user's file in a sticky folder
                raise PermissionError(
                    exc.errno, f"cannot write {given}: replacing it is not permitted "
                    f"({exc.strerror})"
                ) from None
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if durable:
        _fsync_dir(folder)


# -- the one temporary-file routine (atomic_write, exchange_write, create_new) ----------------


def _open_temp(
    target: str, given: str, create_mode: int, *, verb: str = "write", name: str | None = None
) -> tuple[int, str]:
    """Create ``.<name>.tmp-<pid>-<random>`` beside ``target`` (``O_EXCL``, a new name on a
    collision, up to 5 tries) and ``flock`` it — the "being written" mark
    :func:`clean_stale_temps` respects. Returns ``(fd, temp path)``. Errors name ``given``:
    ``PermissionError`` (no permission to create a file in the folder), ``FileNotFoundError``
    (the folder is missing). ``verb``: "write" or "create", for the messages. ``name``: the
    exact path to create instead (one try; :func:`exchange_write`'s ``keep_as``)."""
    folder = os.path.dirname(target)
    prefix = os.path.join(folder, _tmp_prefix(os.path.basename(target)))
    for _ in range(1 if name else 5):
        tmp = name or f"{prefix}{os.getpid()}-{os.urandom(4).hex()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, create_mode)
        except FileExistsError:
            continue
        except PermissionError:
            where = (f"no permission to create a file in {folder} (a safe write puts a "
                     "temporary file beside the target)") if verb == "write" else (
                f"no permission to write in {folder}")
            raise PermissionError(errno.EACCES, f"cannot {verb} {given}: {where}") from None
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT, f"cannot {verb} {given}: folder {folder} does not exist"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "in use" mark for cleaners
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        return fd, tmp
    raise FileExistsError(errno.EEXIST, f"cannot create a temporary file for {given}")


def _fill_temp(
    fd: int, raw: bytes, st: os.stat_result | None, *, keep_mode: bool, durable: bool
) -> None:
    """Write ``raw`` into the temporary file; give it the owner (where permitted) of the file
    ``st`` it replaces and, with ``keep_mode``, its mode; ``fsync`` it when ``durable``."""
    _write_all(fd, raw)
    if st is not None:
        if st.st_uid != os.geteuid() or st.st_gid != os.getegid():
            try:
                os.fchown(fd, st.st_uid, st.st_gid)
            except PermissionError:
                try:
                    os.fchown(fd, -1, st.st_gid)  # a group we belong to
                except PermissionError:
                    pass
        if keep_mode:  # after chown, which may clear set-id bits
            os.fchmod(fd, st.st_mode & 0o7777)
    if durable:
        os.fsync(fd)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def create_new(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    mode: int | None = None,
    make_parents: bool = False,
) -> str:
    """Create ``path`` with ``data`` only if nothing exists there; return the file written.

    Exclusive *and* atomic: the content goes to a temporary file beside the target (flocked,
    fsynced), which is then hard-linked into place with ``os.link`` — the kernel refuses the
    link if the name exists (``FileExistsError``), so of two concurrent creators exactly one
    wins, and nobody ever sees a partly written file. ``O_CREAT|O_EXCL`` alone would be just as
    exclusive, but between the create and the last write a reader (an editor, the watch daemon)
    could see an empty or truncated file. On a file system without hard links (FAT, some FUSE
    mounts) it falls back to ``O_EXCL`` + write + ``fsync``. Symlinks are followed like
    :func:`atomic_write` (a dangling link creates its target).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    given = os.fspath(path)
    target = _resolve_target(given)
    folder = os.path.dirname(target)
    if make_parents:
        os.makedirs(folder, exist_ok=True)
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, f"file already exists: {given}")
    perm = 0o666 if mode is None else mode  # the kernel applies the umask
    fd, tmp = _open_temp(target, given, perm, verb="create")
    try:
        try:
            _fill_temp(fd, raw, None, keep_mode=False, durable=True)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, f"file already exists: {given}") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            _create_excl_in_place(target, given, raw, perm)
    finally:
        _unlink_quietly(tmp)
    _fsync_dir(folder)
    return target


def _create_excl_in_place(target: str, given: str, raw: bytes, perm: int) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, perm)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, f"file already exists: {given}") from None
    try:
        _write_all(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, raw: bytes) -> None:
    view = memoryview(raw)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# -- reading a file nobody is writing, and replacing it while seeing what was replaced --------


def _pread_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


class BusyError(OSError):
    """Another process kept the file open for writing longer than we were willing to wait."""


_lease_ok: bool | None = None


def _lease_signal_safe() -> bool:
    """Whether we may hold a lease: the kernel signals a lease holder (SIGIO) when another
    process opens the file for writing, and SIGIO's default action terminates the process. So
    the first lease of a process sets SIGIO to "ignore" when it still has its default action
    (only the main thread can do that; elsewhere leases are skipped and the file is re-read
    until two reads agree). A handler installed by someone else is left alone."""
    global _lease_ok
    if _lease_ok is not None:
        return _lease_ok
    signal = signal_module()  # the C module, without ``signal``'s enums (see fastpath)

    if not hasattr(signal, "SIGIO"):
        _lease_ok = False
        return False
    if signal.getsignal(signal.SIGIO) in (signal.SIG_DFL, None):
        try:
            signal.signal(signal.SIGIO, signal.SIG_IGN)
        except ValueError:  # not the main thread: try again from the main thread later
            return False
    _lease_ok = True
    return True


def _read_fd_settled(fd: int, wait: float, *, refuse_busy: bool = False, name: str = "") -> bytes:
    """Read an open file once no process holds it open for writing (bounded wait).

    An editor that saves *in place* truncates the file and then writes it: a read in between
    sees an empty or partial document, and a rename-based write after it would send the rest of
    the editor's save into the replaced inode. A read lease (``F_SETLEASE F_RDLCK``) is refused
    by the kernel while any process has the file open for writing, so taking one first waits
    such a save out. Without lease support (not the owner, other OS) the file is re-read until
    two reads agree.
    """
    leased = False
    try:
        deadline = time.monotonic() + wait
        while _lease_signal_safe():
            try:
                fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
                leased = True
                break
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    if time.monotonic() < deadline:
                        time.sleep(0.001)
                        continue
                    if refuse_busy:
                        raise BusyError(
                            errno.EBUSY,
                            f"{name} has been open for writing by another process for more than "
                            f"{wait:.0f}s (an editor still saving it?)",
                        ) from None
                break  # no lease support or permission: settle by re-reading
        data = _pread_all(fd)
        if not leased:
            for _ in range(5):
                time.sleep(0.002)
                again = _pread_all(fd)
                if again == data:
                    break
                data = again
        return data
    finally:
        if leased:
            try:
                fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
            except OSError:
                pass


def read_settled(path: str | os.PathLike[str], *, wait: float = 2.0) -> bytes:
    """Read ``path`` once no process holds it open for writing (see :func:`_read_fd_settled`).

    Raises :class:`BusyError` when a writer keeps it open for longer than ``wait`` seconds: the
    content may be half-saved, so a caller that would write the file back must not go on.
    """
    fd = _open_regular(os.fspath(path))
    try:
        return _read_fd_settled(fd, wait, refuse_busy=True, name=os.fspath(path))
    finally:
        os.close(fd)


def _open_regular(path: str) -> int:
    """Open a document for reading without ever blocking: ``O_NONBLOCK`` (a FIFO opens at once
    instead of waiting for a writer), then ``fstat`` — anything but a regular file (after the
    document's own links) is refused with :class:`~safefile.state.NotRegularFileError`, a
    folder with ``IsADirectoryError``. No syscall more than a plain open + fstat."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except BlockingIOError:
        # a regular file under another process's write lease refuses a non-blocking open:
        # check what it is first, then wait for the lease break like a plain open would
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise document_kind_error(path, st.st_mode) from None
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # a socket (or a device without its driver) cannot open
            raise
        st = os.stat(path)
        raise document_kind_error(path, st.st_mode) from None
    return regular_fd(fd, path, document_kind_error)


_RENAME_EXCHANGE = 2
_renameat2: object = None  # None = not looked up yet; False = unavailable
_get_errno: object = None


def _load_renameat2() -> None:
    """Look up libc's ``renameat2`` once (:func:`fastpath.load_renameat2`)."""
    global _renameat2, _get_errno
    found = load_renameat2()  # through ``_ctypes``, ``ctypes`` without it (see fastpath)
    _renameat2, _get_errno = found if found is not None else (False, None)


def _exchange(a: str, b: str) -> bool:
    """Atomically swap the names ``a`` and ``b`` (Linux ``renameat2``); False if unsupported."""
    if _renameat2 is None:
        _load_renameat2()
    if _renameat2 is False:
        return False
    at_fdcwd = -100
    rc = _renameat2(  # type: ignore[operator]
        at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE
    )
    if rc == 0:
        return True
    err = _get_errno()  # type: ignore[operator]
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, f"cannot replace {b}: {os.strerror(err)}")


def exchange_write(
    path: str | os.PathLike[str], data: bytes | str, *, keep_as: str | None = None
) -> bytes | None:
    """Replace an existing file with ``data`` and return the bytes it displaced.

    Like :func:`atomic_write` (the same temporary file: :func:`_open_temp`, :func:`_fill_temp`,
    mode and owner kept, fsync; folder fsync, symlinks written through) but the new file is put
    in place with an atomic *exchange*, so the replaced file is still in our hands: the caller
    compares it with what it read and merges a save that landed in between instead of losing
    it. A writer still writing into the displaced
    file is waited for (read lease). Returns None where the exchange is unsupported (nothing was
    changed; fall back to check-then-:func:`atomic_write`).

    ``keep_as`` (a path beside the target, chosen by the caller, naming a hash of ``data``):
    the displaced file ends under that name and **stays** there — the caller deletes it only
    after what it holds is safe (merged and on disk). A displaced file may be the only copy of
    an editor's save: a process killed before it merged it must leave it for the next one to
    find. :func:`clean_stale_temps` never removes such a name (it is not a ``.tmp-`` name).
    Order, so that a kill at any instant leaves nothing ambiguous: our text is filled and
    fsynced under an ordinary ``.tmp-`` name (a kill leaves a partial temp file, which the
    cleaners remove), then renamed to ``keep_as`` (a kill leaves our *whole* text there, which
    its hash in the name identifies), then exchanged with the target (the name now holds the
    displaced file). It is removed when the exchange is unsupported or fails.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    given = os.fspath(path)
    target = _resolve_target(given)
    folder = os.path.dirname(target)
    st = os.stat(target)
    if not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"cannot write {given}: it is a folder")
        raise document_kind_error(given, st.st_mode)
    _check_writable(target, given, st)
    clean_stale_temps(target)
    fd, tmp = _open_temp(target, given, 0o600)
    exchanged = False
    try:
        try:
            _fill_temp(fd, raw, st, keep_mode=True, durable=True)
        finally:
            os.close(fd)
        if keep_as:
            # only the whole of our text ever bears the kept name (a partial copy under it
            # would be taken for an editor's save by a later write-back and merged), and the
            # displaced file takes it in the exchange itself: no instant where a kill leaves
            # the displaced save under a name a cleaner removes
            os.rename(tmp, keep_as)
            tmp = keep_as
        if not _exchange(tmp, target):
            return None
        exchanged = True
        _fsync_dir(folder)
        rfd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            return _read_fd_settled(rfd, 2.0)
        finally:
            os.close(rfd)
    finally:
        if not (exchanged and keep_as):  # a kept displaced file is the caller's to delete
            _unlink_quietly(tmp)


def read_bytes(path: str | os.PathLike[str], *, state_root: str | None = None) -> bytes:
    """The whole file. Never blocks: a FIFO, socket or device is refused
    (:class:`~safefile.state.NotRegularFileError`), a folder raises ``IsADirectoryError``. Without
    ``state_root`` links are followed (a document, a config file); with it, ``path`` is a state
    file and nothing below ``state_root`` is followed (see :mod:`safefile.state`)."""
    p = os.fspath(path)
    fd = _open_regular(p) if state_root is None else open_state(
        p, os.O_RDONLY, state_root=state_root
    )
    try:
        return read_all(fd)
    finally:
        os.close(fd)


class DecodeError(ValueError):
    """A file is not valid UTF-8; the message names the file and the line and byte offset."""


def read_text(path: str | os.PathLike[str], *, state_root: str | None = None) -> str:
    """Read a UTF-8 file exactly (no newline translation); invalid UTF-8 is an error.
    ``state_root``: as for :func:`read_bytes`."""
    raw = read_bytes(path, state_root=state_root)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DecodeError(
            f"{os.fspath(path)}: not valid UTF-8 (line {line}, byte {exc.start}); "
            f"agent-doc only edits UTF-8 text — convert the file (e.g. with iconv) and retry"
        ) from None


def append_line(
    path: str | os.PathLike[str], line: str, *, state_root: str | None = None,
    mode: int | None = None,
) -> None:
    """Append ``line`` with one ``O_APPEND`` write (atomic against other appenders).

    A log is a state file: it is never followed through a link and must be a regular file
    (:func:`~safefile.state.open_state`; with ``state_root`` its folders below it are checked
    too). A new file gets ``mode`` (default :func:`~safefile.state.copy_mode` of its folder, or
    of ``state_root``) narrowed by the umask; an existing one wider than ``mode`` is narrowed.
    """
    data = line.encode("utf-8")
    p = os.fspath(path)
    if mode is None:
        from safefile.state import copy_mode_of

        mode = copy_mode_of(state_root or os.path.dirname(os.path.abspath(p)), 0o644)
    fd = open_state(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode, state_root=state_root)
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o777 & ~mode:
            try:
                os.fchmod(fd, st.st_mode & 0o777 & mode)
            except PermissionError:
                pass  # another user's log: leave its mode alone

        view = memoryview(data)
        while view:  # one write in practice; the loop only guards against a short write
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)
