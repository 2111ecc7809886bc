"""Can this write succeed? Checked before a command changes anything (issue 11 item 5).

A command that writes two files (a document and its snapshot, say) cannot make both changes
one atomic step. So it proves first that the second write can be done: :func:`check_write`
creates a temporary file beside the target and allocates the bytes it will need
(``posix_fallocate``), then removes it. A folder we may not write, a read-only target, a full
disk or quota fail there — before the first file was touched — and the command exits 1
having changed nothing. What can still fail afterwards (another process filled the disk in
between) is reported by the caller as a warning: the command did its main job.
"""

from __future__ import annotations

import errno
import os


def _writable(path: str) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)


def check_write(
    path: str, size: int, *, make_parents: bool = True, state_root: str | None = None
) -> None:
    """Raise the ``OSError`` an atomic write of ``size`` bytes to ``path`` would meet now.

    With ``state_root`` (a state file under ``.agent-doc/``), nothing is followed through a
    link: the folders are checked like every state write does and a link at ``path`` is
    refused (:class:`safefile.NotRegularFileError`), so the probe never lands outside."""
    if state_root is not None:
        from safefile.state import check_state_folders, state_link_error

        check_state_folders(path, state_root, create=make_parents)
        if os.path.islink(path):
            raise state_link_error(path)
        target = path
    else:
        target = os.path.realpath(path)
    folder = os.path.dirname(target)
    if make_parents:
        os.makedirs(folder, exist_ok=True)
    if os.path.exists(target) and not _writable(target):
        raise PermissionError(errno.EACCES, f"cannot write {path}: the file is read-only",
                              path)
    probe = os.path.join(folder, f".{os.path.basename(target)}.preflight-{os.getpid()}-"
                         f"{os.urandom(4).hex()}")
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)
    try:
        if size > 0:
            os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)
        try:
            os.unlink(probe)
        except OSError:
            pass
