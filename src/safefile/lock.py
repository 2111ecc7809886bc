"""The one lock primitive: an advisory ``flock(2)`` lock on a lock file.

Why hand-written instead of ``filelock``/``portalocker``: importing ``filelock`` costs about
64 ms and ``portalocker`` about 74 ms on our 2-core machine (``../shared/LIBRARIES.md``), and
every hotkey command takes at least one lock; this module imports only stdlib modules that the
interpreter has loaded anyway (``fcntl``, ``os``, ``threading``, ``time``), about 1 ms. An
acquire costs about 2 µs uncontended (``filelock``: ~137 µs).

Semantics (SPEC A4):

* **Across processes**: ``flock(LOCK_EX)`` on the lock file. It interoperates with the Rust
  reference (``fs2``), ``filelock`` and ``portalocker``, which all use ``flock`` on Linux. POSIX
  record locks (``lockf``) would not, and are never used.
* **Across threads**: a per-path :class:`threading.RLock` guards the process's single open
  descriptor, so two threads exclude each other.
* **Re-entrant within a thread**: nesting the same path just increments a counter; the
  descriptor is unlocked and closed when the outermost holder releases.
* **Bounded wait**: default 30 s (``AGENT_DOC_LOCK_TIMEOUT`` overrides it). After one second of
  waiting the waiter prints once on stderr who holds the lock (pid, command, since), read from
  the lock file, where each holder writes that line after acquiring.
* A holder that dies releases the lock (the kernel closes its descriptor). Lock files are never
  deleted: a waiter blocked on a deleted inode would hold a lock nobody else can see.
* Fork safety: a child created by ``fork`` starts with an empty lock table (the inherited
  descriptors are not used by the child's own locks).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 30.0
_NOTICE_AFTER = 1.0


class LockTimeout(TimeoutError):
    """Raised when a lock could not be taken within the bound."""

    def __init__(self, path: str, waited: float, holder: str | None) -> None:
        self.path = path
        self.waited = waited
        self.holder = holder
        who = f" (held by {holder})" if holder else ""
        super().__init__(
            f"timed out after {waited:.0f}s waiting for lock {path}{who}; if that process is "
            f"stuck, stop it — the lock is released as soon as it exits"
        )


@dataclass
class _LockState:
    rlock: threading.RLock = field(default_factory=threading.RLock)
    fd: int = -1
    count: int = 0


_table_guard = threading.Lock()
_table: dict[str, _LockState] = {}


def _reset_after_fork() -> None:
    global _table_guard, _table
    _table_guard = threading.Lock()
    _table = {}


os.register_at_fork(after_in_child=_reset_after_fork)


def default_timeout() -> float:
    raw = os.environ.get("AGENT_DOC_LOCK_TIMEOUT")
    if raw:
        try:
            return float(raw)
        except ValueError:
            pass
    return DEFAULT_TIMEOUT


def _state_for(path: str) -> _LockState:
    with _table_guard:
        st = _table.get(path)
        if st is None:
            st = _table[path] = _LockState()
        return st


def read_holder(path: str | os.PathLike[str]) -> str | None:
    """Return the holder line written into a lock file, or None."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(512)
    except OSError:
        return None
    text = raw.decode("utf-8", "replace").strip()
    return text or None


def _holder_line() -> bytes:
    argv = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:4]))
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    return f"pid {os.getpid()} ({argv or 'python'}) since {since}\n".encode()


def _open_lock_file(path: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


class FileLock:
    """An exclusive, re-entrant, bounded-wait lock on ``path`` (see module docstring).

    Use as a context manager; ``what`` names the lock in messages ("registry", "document
    notes.md", ...).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        what: str | None = None,
        quiet: bool = False,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.timeout = default_timeout() if timeout is None else timeout
        self.what = what
        self.quiet = quiet
        self._state = _state_for(self.path)

    # -- acquire / release ------------------------------------------------------------------
    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock. Returns False only when ``blocking`` is False and it is busy."""
        st = self._state
        start = time.monotonic()
        deadline = start + self.timeout
        if blocking:
            if not st.rlock.acquire(timeout=max(self.timeout, 0.0)):
                raise LockTimeout(self.path, time.monotonic() - start, read_holder(self.path))
        elif not st.rlock.acquire(blocking=False):
            return False
        try:
            if st.count > 0:  # re-entry by the owning thread
                st.count += 1
                return True
            fd = _open_lock_file(self.path)
            try:
                noticed = False
                delay = 0.0005
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        pass
                    if not blocking:
                        os.close(fd)
                        st.rlock.release()
                        return False
                    now = time.monotonic()
                    if now >= deadline:
                        raise LockTimeout(self.path, now - start, read_holder(self.path))
                    if not noticed and not self.quiet and now - start >= _NOTICE_AFTER:
                        noticed = True
                        holder = read_holder(self.path) or "unknown process"
                        name = self.what or self.path
                        print(
                            f"agent-doc: waiting for the {name} lock, held by {holder} "
                            f"({self.path})",
                            file=sys.stderr,
                            flush=True,
                        )
                    time.sleep(min(delay, max(deadline - now, 0.0)))
                    delay = min(delay * 2, 0.01)
            except BaseException:
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                raise
            try:
                line = _holder_line()
                os.ftruncate(fd, 0)
                os.pwrite(fd, line, 0)
            except OSError:
                pass  # holder info is best effort (read-only lock folder, full disk)
            st.fd = fd
            st.count = 1
            return True
        except BaseException:
            st.rlock.release()
            raise

    def release(self) -> None:
        st = self._state
        if st.count <= 0:
            raise RuntimeError(f"release of unheld lock {self.path}")
        st.count -= 1
        if st.count == 0:
            fd, st.fd = st.fd, -1
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        st.rlock.release()

    @property
    def held_here(self) -> bool:
        """True if this process holds the lock (in any thread)."""
        return self._state.count > 0

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def locked(
    path: str | os.PathLike[str], *, timeout: float | None = None, what: str | None = None
) -> Iterator[FileLock]:
    """``with locked(path):`` — shorthand for :class:`FileLock`."""
    lk = FileLock(path, timeout=timeout, what=what)
    lk.acquire()
    try:
        yield lk
    finally:
        lk.release()


def is_locked_elsewhere(path: str | os.PathLike[str]) -> bool:
    """True if another open file description holds an flock on ``path`` right now."""
    p = os.fspath(path)
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe lock if we took it
    return False


def held_locks(folder: str | os.PathLike[str]) -> list[tuple[str, str | None]]:
    """List lock files under ``folder`` (recursively) that some process holds, with holders.

    The probe itself takes and drops each free lock in a few microseconds; it never waits.
    """
    found: list[tuple[str, str | None]] = []
    for dirpath, _dirs, files in os.walk(os.fspath(folder)):
        for name in sorted(files):
            if not name.endswith(".lock"):
                continue
            full = os.path.join(dirpath, name)
            st = _table.get(os.path.abspath(full))
            if (st is not None and st.count > 0) or is_locked_elsewhere(full):
                found.append((full, read_holder(full)))
    return found
