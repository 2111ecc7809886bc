"""safefile: the file-system primitives shared by ``agent_doc`` and ``tmux_router``.

Two things live here and nowhere else in the code base:

* :func:`atomic_write` — the one function that writes a file that matters (temp file in the
  destination folder, fsync, ``os.replace``, fsync of the folder; mode/owner kept, symlinks
  written through, temp file cleaned up on failure).
* :func:`exchange_write` — the same write by atomic exchange, returning what it replaced so a
  concurrent save can be merged, never lost; :func:`read_settled` reads once no writer has
  the file open.
* :func:`create_new` — exclusive atomic create (never overwrites; used by ``init``).
* :class:`FileLock` / :func:`locked` — the one lock primitive (``flock(2)``; exclusive across
  processes and threads, re-entrant per thread, bounded wait that names the holder).
* :mod:`safefile.state` — state files (``state_root=`` on the functions above): never followed
  through a link, only regular files, modes no wider than what they copy. Documents are
  written through their links; state files never.

This package imports neither ``agent_doc`` nor ``tmux_router``.
"""

from safefile.atomic import (
    BusyError,
    DecodeError,
    append_line,
    atomic_write,
    clean_stale_temps,
    create_new,
    exchange_write,
    read_bytes,
    read_settled,
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
from safefile.state import (
    NotRegularFileError,
    copy_mode,
    copy_mode_of,
    doc_mode,
    ensure_state_dir,
    open_state,
    read_state,
    unlink_state,
)

__all__ = [
    "BusyError",
    "DecodeError",
    "FileLock",
    "LockTimeout",
    "NotRegularFileError",
    "append_line",
    "atomic_write",
    "clean_stale_temps",
    "copy_mode",
    "copy_mode_of",
    "create_new",
    "default_timeout",
    "doc_mode",
    "ensure_state_dir",
    "exchange_write",
    "held_locks",
    "holder_pid",
    "is_locked_elsewhere",
    "locked",
    "open_state",
    "read_bytes",
    "read_holder",
    "read_settled",
    "read_state",
    "read_text",
    "unlink_state",
]
