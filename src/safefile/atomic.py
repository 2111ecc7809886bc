"""Atomic, durable file writes and strict reads (SPEC A5).

:func:`atomic_write` is the one function that writes every file that matters: documents,
snapshots, the registry, pid files, pending responses. Steps:

1. Resolve symlinks, so the link's *target* gets the new content and the link stays a link.
2. Create ``.<name>.tmp-<pid>-<random>`` in the target's folder (same file system, so the
   rename is atomic), write, ``fsync``.
3. Give it the mode (and, where permitted, the owner) of the file it replaces; a new file gets
   ``0o666 & ~umask`` like any ``open()``.
4. ``os.replace`` over the target, then ``fsync`` the folder so the rename itself is durable.

On any failure the temporary file is removed. A writer killed with SIGKILL cannot clean up, so
every write first removes stale temporary files of the same target whose writer process is
gone. Readers therefore see the complete old or the complete new content, never a torn file.
"""

from __future__ import annotations

import contextlib
import os
import secrets


def _umask() -> int:
    # os.umask has no getter; read it from /proc when available to avoid a racy set/reset.
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _tmp_prefix(name: str) -> str:
    return f".{name}.tmp-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(target: str) -> list[str]:
    """Remove temp files left for ``target`` by writers that died. Returns what was removed."""
    folder = os.path.dirname(target) or "."
    prefix = _tmp_prefix(os.path.basename(target))
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_part = name[len(prefix) :].split("-", 1)[0]
        try:
            pid = int(pid_part)
        except ValueError:
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, name))
            removed.append(name)
    return removed


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    mode: int | None = None,
    durable: bool = True,
    make_parents: bool = False,
) -> None:
    """Atomically replace ``path`` with ``data`` (str is encoded as UTF-8).

    ``mode`` applies only when the file is new (an existing file keeps its own mode).
    ``durable=False`` skips the fsyncs (for scratch files only).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target)
    if make_parents:
        os.makedirs(folder, exist_ok=True)
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    clean_stale_temps(target)
    tmp = os.path.join(
        folder, f"{_tmp_prefix(os.path.basename(target))}{os.getpid()}-{secrets.token_hex(4)}"
    )
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(raw)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if st is not None:
                os.fchmod(fd, st.st_mode & 0o7777)
                if st.st_uid != os.geteuid() or st.st_gid != os.getegid():
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, st.st_uid, st.st_gid)
            else:
                os.fchmod(fd, (0o666 if mode is None else mode) & ~_umask())
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(folder)


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


class DecodeError(ValueError):
    """A file is not valid UTF-8; the message names the file and the byte offset."""


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 file exactly (no newline translation); invalid UTF-8 is an error."""
    raw = read_bytes(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DecodeError(
            f"{os.fspath(path)}: not valid UTF-8 (line {line}, byte {exc.start}); "
            f"agent-doc only edits UTF-8 text — convert the file (e.g. with iconv) and retry"
        ) from None


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append ``line`` with one ``O_APPEND`` write (atomic against other appenders)."""
    data = line.encode("utf-8")
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
