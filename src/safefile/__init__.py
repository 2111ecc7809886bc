"""safefile: the file-system primitives shared by ``agent_doc`` and ``tmux_router``.

Two things live here and nowhere else in the code base:

* :func:`atomic_write` — the one function that writes a file that matters (temp file in the
  destination folder, fsync, ``os.replace``, fsync of the folder; mode/owner kept, symlinks
  written through, temp file cleaned up on failure).
* :func:`create_new` — exclusive atomic create (never overwrites; used by ``init``).
* :class:`FileLock` / :func:`locked` — the one lock primitive (``flock(2)``; exclusive across
  processes and threads, re-entrant per thread, bounded wait that names the holder).

This package imports neither ``agent_doc`` nor ``tmux_router``.
"""

from safefile.atomic import (
    DecodeError,
    append_line,
    atomic_write,
    clean_stale_temps,
    create_new,
    read_bytes,
    read_text,
)
from safefile.lock import (
    FileLock,
    LockTimeout,
    default_timeout,
    held_locks,
    holder_pid,
    is_locked_elsewhere,
    locked,
    read_holder,
)

__all__ = [
    "DecodeError",
    "FileLock",
    "LockTimeout",
    "append_line",
    "atomic_write",
    "clean_stale_temps",
    "create_new",
    "default_timeout",
    "held_locks",
    "holder_pid",
    "is_locked_elsewhere",
    "locked",
    "read_bytes",
    "read_holder",
    "read_text",
]
