"""The watch daemon's intake: which documents are watched, file events in, per-document debounce
out (the cycle side is :mod:`agent_doc.watch`).

:class:`Intake` keeps the watched set (the registry's documents plus those named on the command
line, re-read when ``sessions.json`` changes and every :data:`RESCAN_EVERY` seconds), watches
their **parent folders** with :class:`_FolderWatcher` (``watchfiles``, used nowhere else; why
folders and not files: :mod:`agent_doc.watch`), turns each event for a document into a due time
(:meth:`Intake._mark`: ``debounce`` after the save, dated by the file's mtime when the event
arrives within :data:`_MTIME_TRUST` of it) and wakes the daemon's loop through a pipe. A new
folder set is watched by a new watcher; the old one runs until the new one has seen a probe
write of ``watch.pid`` (so no save falls between the two), then :meth:`Intake.safety_scan`
catches anything saved meanwhile. A stat check at each rescan is the safety net for anything
an event could miss.

It decides nothing about a document's content: :class:`DocState` carries the classification
fields the cycle side fills in (``written_hash``, ``cycles``, ``capped``, ``busy``).
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agent_doc.project import Project
from agent_doc.record import Record
from safefile import atomic_write, is_locked_elsewhere

#: watchfiles' polling step (ms): the Rust side sleeps this long between checks
STEP_MS = 20
#: registry re-read and stat safety net (s)
RESCAN_EVERY = 10.0
#: how often a busy document's submit lock is probed (s)
BUSY_POLL = 0.2
#: an event arriving this soon after the file's mtime dates the change by its mtime (s)
_MTIME_TRUST = 0.2


def log(message: str) -> None:
    """One log line on stderr: ``HH:MM:SS.mmm message``."""
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    try:
        sys.stderr.write(f"[{stamp}] {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, RuntimeError):
        pass  # stderr closed (daemon detached from its terminal): keep running


# -- the folder watcher ------------------------------------------------------------------------


class _FolderWatcher:
    """``watchfiles.watch`` over some folders (non-recursive) in a background thread.

    Every batch is handed to ``sink(watcher_id, arrival_monotonic, {(change, path), ...})``;
    a failure is handed over as ``sink(watcher_id, arrival, exc)``.
    """

    _ids = 0

    def __init__(self, folders: Iterable[str], sink: Callable[[int, float, Any], None]) -> None:
        _FolderWatcher._ids += 1
        self.id = _FolderWatcher._ids
        self.folders = sorted(set(folders))
        self.sink = sink
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"watchfiles-{self.id}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()

    def _run(self) -> None:
        import watchfiles

        try:
            for changes in watchfiles.watch(
                *self.folders,
                watch_filter=None,
                debounce=max(STEP_MS * 3, 50),
                step=STEP_MS,
                stop_event=self.stop_event,
                rust_timeout=0,
                yield_on_timeout=False,
                recursive=False,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                self.sink(self.id, time.monotonic(), {(int(c), p) for c, p in changes})
        except Exception as exc:  # a folder vanished, inotify limits, ...
            if not self.stop_event.is_set():
                self.sink(self.id, time.monotonic(), exc)


# -- per-document state ---------------------------------------------------------------------------


class DocState(Record):
    """One watched document: where it is, when it is due, and what its last cycle did."""

    path: Path  # real path
    label: str  # for messages: relative to the project root when inside it
    project: Project
    from_cli: bool = False
    written_hash: str | None = None  # sha256 of what our last cycle wrote
    cycles: int = 0  # agent-triggered cycles in a row
    capped: bool = False  # "max cycles" already said
    due: float | None = None  # monotonic time the document is due, None = nothing pending
    busy: bool = False  # another process runs a cycle; retry when its submit lock is free
    stat: tuple[int, int, int] | None = None  # (ino, size, mtime_ns) when last looked at

    @classmethod
    def of(cls, path: Path, label: str, from_cli: bool = False) -> DocState:
        return cls(path, label, Project.for_document(path), from_cli)


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


# -- the intake ----------------------------------------------------------------------------------


class Intake:
    """The watched documents, their folder watchers and the inbox of events (see the module
    docstring). The daemon's loop calls :meth:`wait`, :meth:`take_inbox`, :meth:`probe`,
    :meth:`rescan_due`/:meth:`reload_targets`, :meth:`release_busy` and :meth:`due`; the
    watcher threads only append to the inbox and write to the wake pipe."""

    def __init__(self, project: Project, cli_files: list[Path], debounce: float) -> None:
        self.project = project
        self.cli_files = cli_files
        self.debounce = debounce
        self.docs: dict[Path, DocState] = {}
        self._names: dict[tuple[str, str], Path] = {}  # (folder, file name) -> document
        self._watchers: list[_FolderWatcher] = []
        self._folders: set[str] = set()
        self._inbox: deque[tuple[int, float, Any]] = deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._registry_dirty = False
        self._next_rescan = 0.0
        #: (watcher id, give-up deadline, next probe write): see :meth:`_rewatch`
        self._ready_probe: tuple[int, float, float] | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def wake(self) -> None:
        """Make :meth:`wait` return (from any thread or a signal handler)."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _sink(self, watcher_id: int, arrival: float, payload: Any) -> None:
        self._inbox.append((watcher_id, arrival, payload))
        self.wake()

    def close(self) -> None:
        for w in self._watchers:
            w.stop()
        self._watchers.clear()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds unless events are waiting or :meth:`wake` is called;
        then drain the wake pipe."""
        if timeout > 0 and not self._inbox:
            try:
                select.select([self._wake_r], [], [], timeout)
            except InterruptedError:
                pass
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self._wake_r, 4096)

    def timeout(self) -> float:
        """How long the loop may sleep: until the next rescan, the next due document, the next
        busy probe or the next readiness probe, whichever is first."""
        now = time.monotonic()
        t = self._next_rescan - now
        dues = [s.due for s in self.docs.values() if s.due is not None]
        if dues:
            t = min(t, min(dues) - now)
        if any(s.busy for s in self.docs.values()):
            t = min(t, BUSY_POLL)
        if self._ready_probe is not None:
            t = min(t, 0.05)
        return max(t, 0.0)

    def schedule_rescan(self) -> None:
        self._next_rescan = time.monotonic() + RESCAN_EVERY

    def rescan_due(self) -> tuple[bool, bool]:
        """(re-read the registry now?, is it the periodic rescan?) — the latter also runs the
        safety net (:meth:`safety_scan`, and the daemon's pid-file check)."""
        rescan = time.monotonic() >= self._next_rescan
        return self._registry_dirty or rescan, rescan

    def release_busy(self) -> None:
        """A busy document whose other cycle released its submit lock is due at once."""
        for st in self.docs.values():
            if st.busy and not is_locked_elsewhere(st.project.submit_lock_path(st.path)):
                st.busy = False
                st.due = time.monotonic()

    def due(self) -> list[DocState]:
        """The documents due now, oldest due first."""
        return sorted(
            (s for s in self.docs.values() if s.due is not None and s.due <= time.monotonic()),
            key=lambda s: s.due or 0.0,
        )

    def await_ready(self, stopping: Callable[[], bool]) -> None:
        """Block until the first watcher is live (or the probe gave up, or ``stopping()``)."""
        while self._ready_probe is not None and not stopping():
            self.probe()
            with contextlib.suppress(InterruptedError):
                select.select([self._wake_r], [], [], 0.05)
            with contextlib.suppress(BlockingIOError, OSError):
                os.read(self._wake_r, 4096)
            self.take_inbox()

    # -- targets ----------------------------------------------------------------------------
    def _label(self, real: Path) -> str:
        return self.project.rel(real)

    def _registry_docs(self) -> list[Path]:
        from agent_doc.routing import in_project
        from tmux_router.registry import Registry

        out: list[Path] = []
        registry = Registry(self.project.registry_path, state_root=self.project.root)
        for entry in registry.load().values():
            stored = entry.get("file")
            if not isinstance(stored, str) or not stored:
                continue
            p = Path(self.project.resolve(stored))
            cwd = entry.get("cwd")
            if not p.exists() and not Path(stored).is_absolute() and isinstance(cwd, str) and cwd:
                alt = Path(cwd) / stored  # reference entries: the path as typed in its CWD
                if alt.exists():
                    p = alt
            if not in_project(self.project, {"file": str(p)}):
                continue  # an entry naming a file outside the project is ignored (SPEC A13)
            out.append(Path(os.path.realpath(p)))
        return out

    def reload_targets(self, *, initial: bool = False) -> None:
        """Re-read the registry; watch new documents, forget unclaimed ones."""
        self._registry_dirty = False
        wanted: dict[Path, bool] = {}
        try:
            for p in self._registry_docs():
                wanted[p] = False
        except Exception as exc:  # an unreadable registry must not kill the daemon
            log(f"warning: cannot read {self.project.registry_path}: {exc}")
            wanted = {p: s.from_cli for p, s in self.docs.items()}
        for p in self.cli_files:
            wanted[p] = True
        for p, from_cli in wanted.items():
            st = self.docs.get(p)
            if st is None:
                st = self.docs[p] = DocState.of(p, self._label(p), from_cli=from_cli)
                st.stat = _stat_key(p)
                if not initial:
                    log(f"Now watching {st.label}")
            st.from_cli = from_cli
        for p in list(self.docs):
            if p not in wanted:
                log(f"No longer watching {self.docs[p].label} (no longer registered)")
                del self.docs[p]
        self._names = {(os.path.dirname(p), p.name): p for p in self.docs}
        folders = {f for f, _n in self._names if os.path.isdir(f)}
        missing = sorted({f for f, _n in self._names} - folders)
        for f in missing:
            log(f"warning: folder {f} does not exist; its documents are not watched yet")
        folders.add(os.fspath(self.project.state_dir))
        if folders != self._folders or not self._watchers:
            self._rewatch(folders)

    def _rewatch(self, folders: set[str]) -> None:
        """Start a watcher for ``folders``; the old one runs until the new one is ready."""
        self._folders = folders
        watcher = _FolderWatcher(folders, self._sink)
        watcher.start()
        self._watchers.append(watcher)
        # readiness probe: the pid file is rewritten (same content) until the new watcher
        # reports it, which proves its folder watches are live
        self._ready_probe = (watcher.id, time.monotonic() + 5.0, 0.0)
        self.probe()

    def probe(self) -> None:
        """Rewrite the probe if one is due; give up (with a warning) after 5 s."""
        if self._ready_probe is None:
            return
        wid, give_up, next_write = self._ready_probe
        now = time.monotonic()
        if now > give_up:
            log("warning: the file watcher did not confirm that it is live; continuing")
            self._watcher_ready(wid)
            return
        if now >= next_write:
            with contextlib.suppress(OSError):
                atomic_write(self.project.watch_pid_path, str(os.getpid()), durable=False,
                             state_root=self.project.root)
            self._ready_probe = (wid, give_up, now + 0.05)

    def _watcher_ready(self, watcher_id: int) -> None:
        if self._ready_probe is None or self._ready_probe[0] != watcher_id:
            return
        self._ready_probe = None
        for old in [w for w in self._watchers if w.id != watcher_id]:
            old.stop()
            self._watchers.remove(old)
        self.safety_scan()  # anything saved while the folder set changed

    # -- events -------------------------------------------------------------------------------
    def take_inbox(self) -> None:
        while self._inbox:
            watcher_id, arrival, payload = self._inbox.popleft()
            if isinstance(payload, BaseException):
                log(f"warning: file watcher stopped: {payload}; restarting it")
                self._watchers = [w for w in self._watchers if w.id != watcher_id]
                self._next_rescan = 0.0  # rescan (and re-watch) right away
                self._folders = set()
                continue
            for _change, raw in payload:
                folder, name = os.path.split(raw)
                if folder == os.fspath(self.project.state_dir):
                    if name == "sessions.json":
                        self._registry_dirty = True
                    elif name == "watch.pid":
                        self._watcher_ready(watcher_id)
                    continue
                doc = self._names.get((folder, name))
                if doc is not None:
                    self._mark(self.docs[doc], arrival)

    def _mark(self, st: DocState, arrival: float) -> None:
        base = arrival
        try:
            lag = time.time() - os.stat(st.path).st_mtime - (time.monotonic() - arrival)
        except OSError:
            lag = -1.0
        if 0.0 <= lag <= _MTIME_TRUST:
            base = arrival - lag
        st.due = base + self.debounce

    def safety_scan(self) -> None:
        """Schedule documents whose (inode, size, mtime) changed without an event."""
        for st in self.docs.values():
            key = _stat_key(st.path)
            if key != st.stat and st.due is None and not st.busy:
                st.due = time.monotonic()
            st.stat = key

