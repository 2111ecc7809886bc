"""The one lock primitive: an advisory ``flock(2)`` lock on a lock file.

Why hand-written instead of ``filelock``/``portalocker``: importing ``filelock`` costs about
64 ms and ``portalocker`` about 74 ms on our 2-core machine (``shared/LIBRARIES.md``), and
every hotkey command takes at least one lock; this module imports only stdlib modules that the
interpreter has loaded anyway (``fcntl``, ``os``, ``_thread``, ``time``; ``threading`` only
when a lock is busy and has to be waited for), well under 1 ms. An
uncontended acquire+release (open, flock, holder record, unlock, close) costs about 15–25 µs
and a nested level about 2 µs (``bench/bench_registry.py`` prints the figures; ``filelock``:
~137 µs). Neither library gives the semantics below out of the box either
(``filelock`` raises "Deadlock" for two objects on one path in one thread; ``portalocker``'s
nested ``Lock`` releases at the *inner* exit).

Semantics (SPEC A4):

* **Across processes**: ``flock(LOCK_EX)`` on the lock file. It interoperates with the Rust
  reference (``fs2``), ``filelock`` and ``portalocker``, which all use ``flock`` on Linux. POSIX
  record locks (``lockf``) would not, and are never used.
* **Across threads**: a per-path thread lock guards the process's single open descriptor, so
  two threads of one process exclude each other.
* **Re-entrant within a thread**: nesting the same path (through the same or another
  :class:`FileLock` object, with a relative, absolute or symlinked path) just increments a
  counter; the descriptor is unlocked and closed when the outermost holder releases.
  Releasing from a thread that does not own the lock is refused and changes nothing.
* **Bounded wait**: default 30 s (``AGENT_DOC_LOCK_TIMEOUT`` overrides it; ``inf`` waits
  forever). A busy lock is waited for with a *blocking* ``flock`` in a helper thread while the
  caller waits for that thread with the bound, so a waiter wakes the moment the lock is free
  (polling ``LOCK_NB`` starved some of 16 contending processes for seconds in
  ``bench/bench_registry.py``). After one second of waiting the waiter prints once on
  stderr who holds the lock (pid, command, since), read from the lock file, where each holder
  writes that line after acquiring and which it blanks before releasing. A timeout raises
  :class:`LockTimeout` naming the lock, the file and the holder.
* **Never through a link**: a lock file is state (:mod:`safefile.state`): it is opened with
  ``O_NOFOLLOW | O_NONBLOCK`` and must be a regular file, so the holder record is never
  written into whatever a committed link points at; with ``state_root`` the folders below it
  must be real folders too. Such a lock is refused with ``NotRegularFileError`` when taken.
* A holder that dies releases the lock (the kernel closes its descriptor). Lock files are never
  deleted: a waiter blocked on a deleted inode would hold a lock nobody else can see.
* **Fork**: a child created by ``fork`` starts with an empty lock table and closes its copies
  of the parent's lock descriptors, so (a) the child must take a lock itself before it holds
  it, and (b) a parent killed while holding a lock releases it at once even if the child lives
  on. Releasing in the child a lock the parent acquired is a no-op.
"""

from __future__ import annotations

import _thread
import fcntl
import os
import sys
import time
from stat import S_ISREG

import fastpath
from safefile.state import ensure_state_dir, open_state

DEFAULT_TIMEOUT = 30.0
_NOTICE_AFTER = 1.0


class LockTimeout(TimeoutError):
    """Raised when a lock could not be taken within the bound."""

    def __init__(
        self, path: str, waited: float, holder: str | None, what: str | None = None
    ) -> None:
        self.path = path
        self.waited = waited
        self.holder = holder
        self.what = what
        name = f"lock '{what}' ({path})" if what else f"lock {path}"
        who = f", held by {holder}" if holder else ""
        secs = f"{waited:.1f}" if waited < 10 else f"{waited:.0f}"
        pid = holder_pid(holder)
        stop = f"stop it (kill {pid})" if pid else "stop it"
        self.hint = (
            f"if that process is stuck, {stop} — the lock is released as soon as it exits; "
            f"or wait longer with AGENT_DOC_LOCK_TIMEOUT=SECONDS"
        )
        super().__init__(f"timed out after {secs}s waiting for {name}{who}; {self.hint}")


class _LockState:
    """Per-path state of this process (a plain class: ``dataclasses`` is kept off the start-up
    path, bench/IMPORTS.md)."""

    __slots__ = ("count", "fd", "owner", "tlock")

    def __init__(self) -> None:
        self.tlock = _thread.allocate_lock()
        self.fd = -1
        self.count = 0
        self.owner = 0  # thread ident of the holder; 0 when free


_table_guard = _thread.allocate_lock()
_table: dict[str, _LockState] = {}
#: descriptors a helper thread is blocked on (see FileLock._block); closed in a forked child
_pending_fds: set[int] = set()


def _reset_after_fork() -> None:
    """In a forked child: drop the parent's lock table and close inherited lock descriptors."""
    global _table_guard, _table, _pending_fds
    fds = [st.fd for st in _table.values() if st.fd >= 0] + list(_pending_fds)
    for fd in fds:
        try:
            os.close(fd)  # drops only our reference; the parent's lock stays
        except OSError:
            pass
    _table_guard = _thread.allocate_lock()
    _table = {}
    _pending_fds = set()


os.register_at_fork(after_in_child=_reset_after_fork)


def default_timeout() -> float:
    """The bound on lock waits: ``AGENT_DOC_LOCK_TIMEOUT`` (seconds, ``inf``) or 30 s."""
    raw = os.environ.get("AGENT_DOC_LOCK_TIMEOUT")
    if raw:
        try:
            value = float(raw)
        except ValueError:
            return DEFAULT_TIMEOUT
        if value == value and value >= 0:  # not NaN, not negative
            return value
    return DEFAULT_TIMEOUT


def _state_for(path: str) -> _LockState:
    with _table_guard:
        st = _table.get(path)
        if st is None:
            st = _table[path] = _LockState()
        return st


#: the holder record: one line padded to a fixed size, so writing it and blanking it on
#: release never changes the file's size (no journaled metadata: ~5 µs instead of ~35 µs for
#: truncate + write on ext4)
_RECORD = 256
_BLANK = b" " * (_RECORD - 1) + b"\n"


def _open_probe(path: str) -> int:
    """Open an existing lock file read-only without following a link or blocking (a FIFO or
    device named like a lock file must not hang ``status``); -1 if it is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return -1
    if not S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return -1
    return fd


def read_holder(path: str | os.PathLike[str]) -> str | None:
    """Return the holder line written into a lock file (None if blank or unreadable)."""
    fd = _open_probe(os.fspath(path))
    if fd < 0:
        return None
    try:
        raw = os.pread(fd, _RECORD, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    text = raw.decode("utf-8", "replace").strip()
    return text or None


def holder_pid(holder: str | None) -> int | None:
    """The pid in a holder line (``pid 123 (...) since ...``), or None."""
    if not holder or not holder.startswith("pid "):
        return None
    try:
        return int(holder.split()[1])
    except (IndexError, ValueError):
        return None


def _program() -> str:
    """A readable name for this program: ``agent-doc`` for ``python -m agent_doc`` too."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    if argv0 in ("-c", "-m"):
        return f"python {argv0}"
    base = os.path.basename(argv0)
    if base == "__main__.py":
        base = os.path.basename(os.path.dirname(argv0)).replace("_", "-")
    return base or "python"


_COMMAND: str | None = None


def _holder_line() -> bytes:
    """``pid N (command) since TIME``, padded to the fixed record size."""
    global _COMMAND
    if _COMMAND is None:
        _COMMAND = " ".join([_program(), *sys.argv[1:4]]).replace("\n", " ")[:160]
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    line = f"pid {os.getpid()} ({_COMMAND}) since {since}".encode("utf-8", "replace")
    return line[: _RECORD - 1].ljust(_RECORD - 1) + b"\n"


def _open_lock_file(path: str, state_root: str | None) -> int:
    """Open (create) a lock file: a state file, so never through a link and only a regular
    file (:func:`safefile.state.open_state`: the holder record written into it would blank
    whatever a link points at). With ``state_root`` its folders below it must be real."""
    flags = os.O_RDWR | os.O_CREAT
    try:
        return open_state(path, flags, 0o644, state_root=state_root)
    except FileNotFoundError:
        if state_root is None:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        else:
            ensure_state_dir(os.path.dirname(path), state_root=state_root)
        return open_state(path, flags, 0o644, state_root=state_root)
    except PermissionError:
        # an existing lock file we may not write (another user's): flock works read-only
        return open_state(path, os.O_RDONLY, state_root=state_root)


class FileLock:
    """An exclusive, re-entrant, bounded-wait lock on ``path`` (see module docstring).

    Use as a context manager; ``what`` names the lock in messages ("registry", "document
    notes.md", ...). ``quiet`` suppresses the "waiting for" notice.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        what: str | None = None,
        quiet: bool = False,
        state_root: str | None = None,
    ) -> None:
        given = os.path.abspath(os.fspath(path))
        # the lock file itself is never followed (a link there is refused when the lock is
        # taken); with ``state_root`` neither is any folder below it (see safefile.state)
        self._given = given
        self.state_root = state_root
        # the real folder, so two spellings of one lock file (a symlinked folder above the
        # state root) share one state instead of deadlocking against each other in one thread
        folder, name = os.path.split(given)
        self.path = os.path.join(os.path.realpath(folder), name)
        self.timeout = default_timeout() if timeout is None else timeout
        self.what = what
        self.quiet = quiet
        self._pid = os.getpid()

    @property
    def _state(self) -> _LockState:
        # looked up on every use, so an object created before a fork is right in the child
        return _state_for(self.path)

    # -- waiting ------------------------------------------------------------------------------
    def _notice(self, holder: str | None) -> None:
        if self.quiet:
            return
        name = f"lock '{self.what}' ({self.path})" if self.what else f"lock {self.path}"
        sys.stderr.write(
            f"{_program()}: waiting for {name}, held by {holder or 'an unknown process'}\n"
        )
        sys.stderr.flush()

    def _timeout(self, start: float) -> LockTimeout:
        return LockTimeout(self.path, time.monotonic() - start, read_holder(self.path), self.what)

    def _wait_thread(self, st: _LockState, start: float, deadline: float) -> bool:
        """Take the in-process thread lock; returns whether the notice was printed."""
        first = min(_NOTICE_AFTER, deadline - start)
        if st.tlock.acquire(timeout=max(first, 0.0)):
            return False
        if time.monotonic() >= deadline:
            raise self._timeout(start)
        holder = read_holder(self.path)
        self._notice(f"{holder} (another thread of this process)" if holder else None)
        remaining = deadline - time.monotonic()
        ok = (
            st.tlock.acquire()
            if remaining == float("inf")
            else st.tlock.acquire(timeout=max(remaining, 0.0))
        )
        if not ok:
            raise self._timeout(start)
        return True

    def _block(self, fd: int, start: float, deadline: float, noticed: bool) -> None:
        """Wait for the flock on ``fd`` with a bound.

        A blocking ``flock`` cannot time out, so a helper thread makes the blocking call and
        this thread waits for it with the bound (printing the holder notice after a second).
        Compared with polling ``LOCK_NB``, a waiter wakes the instant the lock is released
        (lower latency, no CPU spent polling, and no starvation of slow pollers). If the wait
        is abandoned (timeout, Ctrl-C), the helper keeps ownership of ``fd``: should it get the
        lock later, it releases it at once and closes ``fd``.
        """
        import threading  # only a busy lock needs it (import cost: bench/IMPORTS.md)

        done = threading.Event()
        guard = threading.Lock()
        box: dict[str, object] = {"abandoned": False, "error": None}
        with _table_guard:
            _pending_fds.add(fd)

        def wait_for_flock() -> None:
            error: BaseException | None = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException as exc:  # reported to the waiting thread
                error = exc
            with guard:
                if box["abandoned"]:
                    with _table_guard:
                        _pending_fds.discard(fd)
                    os.close(fd)  # closing drops the lock if we got it
                    return
                box["error"] = error
                done.set()

        threading.Thread(target=wait_for_flock, name="safefile-flock", daemon=True).start()
        try:
            if not noticed:
                first = min(_NOTICE_AFTER - (time.monotonic() - start), deadline - start)
                if not done.wait(max(first, 0.0)) and time.monotonic() < deadline:
                    self._notice(read_holder(self.path))
            remaining = deadline - time.monotonic()
            if remaining == float("inf"):
                done.wait()
            elif not done.wait(max(remaining, 0.0)):
                raise self._timeout(start)
        except BaseException:
            with guard:
                if not done.is_set():
                    box["abandoned"] = True
                    raise
            # the flock arrived at the last moment: give it back
            with _table_guard:
                _pending_fds.discard(fd)
            os.close(fd)
            raise
        with _table_guard:
            _pending_fds.discard(fd)
        if box["error"] is not None:
            os.close(fd)
            raise box["error"]  # type: ignore[misc]

    # -- acquire / release --------------------------------------------------------------------
    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock. Returns False only when ``blocking`` is False and it is busy.

        Raises :class:`LockTimeout` when the bounded wait runs out.
        """
        st = self._state
        me = _thread.get_ident()
        if st.owner == me and st.count > 0:  # re-entry by the owning thread
            st.count += 1
            self._pid = os.getpid()
            return True
        start = time.monotonic()
        deadline = start + self.timeout
        noticed = False
        if not blocking:
            if not st.tlock.acquire(blocking=False):
                return False
        else:
            noticed = self._wait_thread(st, start, deadline)
        try:
            fd = _open_lock_file(self._given, self.state_root)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not blocking:
                    os.close(fd)
                    st.tlock.release()
                    return False
                self._block(fd, start, deadline, noticed)  # closes fd if it raises
                if fastpath.TRACE:
                    fastpath.trace("lock", f"waited for {self.path}", start, "acquired")
            except BaseException:
                os.close(fd)
                raise
            try:
                os.pwrite(fd, _holder_line(), 0)
            except OSError:
                pass  # holder info is best effort (read-only lock file, full disk)
            st.fd = fd
            st.count = 1
            st.owner = me
            self._pid = os.getpid()
            return True
        except BaseException:
            if st.owner != me:
                st.tlock.release()
            raise

    def release(self) -> None:
        """Release one level of nesting; the outermost release unlocks the file."""
        if os.getpid() != self._pid:
            return  # acquired by the parent before a fork: the child never held it
        st = self._state
        if st.count <= 0 or st.owner != _thread.get_ident():
            raise RuntimeError(
                f"release of lock {self.path} by a thread that does not hold it"
                if st.count > 0
                else f"release of unheld lock {self.path}"
            )
        st.count -= 1
        if st.count == 0:
            fd, st.fd, st.owner = st.fd, -1, 0
            try:
                try:
                    os.pwrite(fd, _BLANK, 0)  # no stale holder line once free
                except OSError:
                    pass
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
                st.tlock.release()

    @property
    def held_here(self) -> bool:
        """True if this process holds the lock (in any thread)."""
        return self._state.count > 0

    @property
    def held_by_me(self) -> bool:
        """True if the calling thread holds the lock."""
        st = self._state
        return st.count > 0 and st.owner == _thread.get_ident()

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def locked(
    path: str | os.PathLike[str], *, timeout: float | None = None, what: str | None = None,
    state_root: str | None = None,
) -> FileLock:
    """``with locked(path):`` — shorthand for :class:`FileLock` (the lock is taken on entry)."""
    return FileLock(path, timeout=timeout, what=what, state_root=state_root)


def is_locked_elsewhere(path: str | os.PathLike[str]) -> bool:
    """True if another open file description holds an flock on ``path`` right now (a link or
    anything but a regular file there is never opened: False)."""
    fd = _open_probe(os.fspath(path))
    if fd < 0:
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
    for dirpath, _dirs, files in sorted(os.walk(os.fspath(folder))):
        for name in sorted(files):
            if not name.endswith(".lock"):
                continue
            full = os.path.join(dirpath, name)
            st = _table.get(os.path.realpath(full))
            if (st is not None and st.count > 0) or is_locked_elsewhere(full):
                found.append((full, read_holder(full)))
    return found
