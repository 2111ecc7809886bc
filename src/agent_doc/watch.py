"""The watch daemon: submit documents when they are saved (SPEC A10, Part B §6).

``agent-doc watch`` watches the documents of the project's registry (``sessions.json``) plus any
named on the command line, and runs the submit cycle (:func:`agent_doc.cycle.submit` with
``no_wait``) when one has been saved and then left alone for ``--debounce`` milliseconds.

What is watched (fixes C38, C41). The **parent folders** of the documents, not the files:
an inotify watch on a file dies with its inode at the first rename-over (editors' "safe write",
our own atomic writes), while a folder watch sees every save (a rename-over arrives as
"added"). Events are filtered by file name, so our temporary files ``.name.tmp-*`` never match.
``.agent-doc/`` is watched too: when ``sessions.json`` changes, the registry is re-read and new
claims are watched without a restart (paths resolve against the project root, never the CWD).
A stat check every 10 s is the safety net for anything an event could miss (a folder that was
recreated, the short gap while the folder set is re-watched).

File watching is ``watchfiles`` (Rust ``notify``), wrapped in :class:`_FolderWatcher` and used
nowhere else. It batches events but does not wait for quiet, so the per-file debounce is ours:
a file is due ``debounce`` after its last modification (its mtime, when the event arrives
within 200 ms of it, so the watcher's own latency is not added on top; else the arrival time).
``step`` is 20 ms (reaction ≈ 20–40 ms; ``bench/bench_watch.py`` prints the figures).

Classification (fixes C39: the reference used "within 3 × debounce after the last submit").
Each cycle returns the sha256 of the bytes it wrote. When a document is due:

* bytes equal to its snapshot → nothing to send (our own write, or a save without a change);
* bytes equal to what our last cycle wrote, yet different from the snapshot → the difference
  was merged in during that cycle (an agent editing the document, or the user typing during the
  call): an **agent-triggered** cycle, at most ``--max-cycles`` in a row;
* anything else → a **user** change: the count starts again at zero.

So a user save right after a cycle is always answered, whatever the timing.

A document whose cycle is running in another process (``busy``) is retried as soon as that
process releases the submit lock, and that cycle's diff then holds only what is new (C1).

One daemon per project (fixes C34, C35): an exclusive :class:`safefile.FileLock` on
``.agent-doc/locks/watch.lock`` held for the daemon's lifetime (the kernel drops it if the
daemon dies, so there is no stale state to clean), plus ``.agent-doc/watch.pid`` written
atomically, for tools that read it. ``--stop`` checks that the pid in the pid file holds the
lock, sends SIGTERM and waits until the lock is free (fixes C36).

Stopping cleanly (fixes C37). SIGTERM, SIGINT or SIGHUP between cycles ends the loop at once.
During a cycle, a helper thread first takes the document's lock and the git lock of its
repository — so no write-back and no git command of ours can be in progress — and then
interrupts the cycle with KeyboardInterrupt, exactly like Ctrl-C interrupts ``agent-doc run``:
before the agent has answered, nothing was written; after it, the answer is in the pending
journal (``.agent-doc/pending/``) and the next ``run``/``recover`` applies it. A write-back is
never cut in half. Agent processes left behind are sent SIGTERM. The pid file is removed on exit.

Cycles run one at a time, in the main thread (as in the reference): a long agent call delays
the other documents' cycles; their saves are kept and answered afterwards.

After a restart (the daemon was killed with SIGKILL, say), :meth:`WatchDaemon.startup_scan`
makes due at once every document with an answer left pending and every document saved since
its last cycle: the pending answer is written back without a new agent call, and a save the
dead daemon never saw is answered once. An agent still running for the dead daemon does not
go on orphaned: :mod:`procrun`'s guard stops its process group when the daemon dies.

Log lines go to stderr, each with the time. An agent error is logged and the daemon goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent_doc.errors import AgentDocError
from agent_doc.project import Project
from safefile import (
    FileLock,
    LockTimeout,
    NotRegularFileError,
    atomic_write,
    holder_pid,
    is_locked_elsewhere,
    read_bytes,
    unlink_state,
)
from safefile import read_holder as _read_holder

DEFAULT_DEBOUNCE_MS = 500
DEFAULT_MAX_CYCLES = 3
#: watchfiles' polling step (ms): the Rust side sleeps this long between checks
STEP_MS = 20
#: registry re-read and stat safety net (s)
RESCAN_EVERY = 10.0
#: how often a busy document's submit lock is probed (s)
BUSY_POLL = 0.2
#: an event arriving this soon after the file's mtime dates the change by its mtime (s)
_MTIME_TRUST = 0.2
#: how long --stop waits for the daemon to exit by default (s)
STOP_WAIT = 60.0


class SubmitResultLike(Protocol):
    status: str
    response: str | None
    conflicts: int
    written_hash: str | None
    holder: str | None


SubmitFn = Callable[[Path], SubmitResultLike]


def log(message: str) -> None:
    """One log line on stderr: ``HH:MM:SS.mmm message``."""
    now = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
    try:
        sys.stderr.write(f"[{stamp}] {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, RuntimeError):
        pass  # stderr closed (daemon detached from its terminal): keep running


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


@dataclass
class DocState:
    path: Path  # real path
    label: str  # for messages: relative to the project root when inside it
    from_cli: bool = False
    written_hash: str | None = None  # sha256 of what our last cycle wrote
    cycles: int = 0  # agent-triggered cycles in a row
    capped: bool = False  # "max cycles" already said
    due: float | None = None  # monotonic time the document is due, None = nothing pending
    busy: bool = False  # another process runs a cycle; retry when its submit lock is free
    stat: tuple[int, int, int] | None = None  # (ino, size, mtime_ns) when last looked at
    project: Project = field(init=False)

    def __post_init__(self) -> None:
        self.project = Project.for_document(self.path)


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _children_of(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux /proc)."""
    out: list[int] = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2 :].split()
        try:
            if int(rest[1]) == pid and rest[0] != b"Z":
                out.append(int(name))
        except (IndexError, ValueError):
            continue
    return out


# -- the daemon ----------------------------------------------------------------------------------


class WatchDaemon:
    """The event loop. :func:`serve` wraps it with the daemon lock, pid file and signals."""

    def __init__(
        self,
        project: Project,
        files: Iterable[str | os.PathLike[str]] = (),
        *,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        max_cycles: int = DEFAULT_MAX_CYCLES,
        submit: SubmitFn | None = None,
        agent: str | None = None,
    ) -> None:
        self.project = project
        self.cli_files = [Path(os.path.realpath(os.fspath(f))) for f in files]
        self.debounce = debounce_ms / 1000.0
        self.max_cycles = max_cycles
        self.agent = agent
        self._submit_fn = submit
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
        # stopping
        self.stopping = False
        self._stop_reason = ""
        self._cycle_doc: Path | None = None
        self._cycle_done = threading.Event()
        self._cycle_done.set()
        self._abort_armed = False
        self._stopper: threading.Thread | None = None
        self._announce_lock = threading.Lock()
        self._announced = False

    # -- plumbing ---------------------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _sink(self, watcher_id: int, arrival: float, payload: Any) -> None:
        self._inbox.append((watcher_id, arrival, payload))
        self._wake()

    def close(self) -> None:
        for w in self._watchers:
            w.stop()
        self._watchers.clear()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def submit(self, path: Path) -> SubmitResultLike:
        if self._submit_fn is not None:
            return self._submit_fn(path)
        from agent_doc.cycle import SubmitOptions
        from agent_doc.cycle import submit as cycle_submit

        return cycle_submit(
            os.fspath(path), SubmitOptions(agent=self.agent, no_wait=True, progress=False)
        )

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
                st = self.docs[p] = DocState(p, self._label(p), from_cli=from_cli)
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
        self._probe()

    def _probe(self) -> None:
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
    def _take_inbox(self) -> None:
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

    def startup_scan(self) -> None:
        """What a daemon killed earlier (SIGKILL, OOM, a crash) left undone is due at start:
        an answer journaled but not written back (the cycle applies it first and calls no
        agent for it), and a document saved since its last cycle (a save no daemon saw). A
        document never submitted (no snapshot) waits for its next save, as before."""
        for st in self.docs.values():
            reason = None
            if os.path.exists(st.project.pending_path(st.path)):
                reason = "an answer is pending (journaled, not written back)"
            else:
                try:
                    data = read_bytes(st.path)  # never blocks on a FIFO
                    snap = self._snapshot_bytes(st)
                except Exception:
                    continue  # gone or unreadable: the events and the safety scan handle it
                if snap is not None and snap != data:
                    reason = "changed since its last cycle"
            if reason is not None:
                log(f"{st.label}: {reason}; submitting it now")
                st.due = time.monotonic()

    def _check_pid_file(self) -> None:
        try:
            raw = _read_text(self.project.watch_pid_path, self.project.root).strip()
        except FileNotFoundError:
            raw = ""
        except OSError:
            return
        if raw != str(os.getpid()):
            self.request_stop("PID file removed or replaced")

    # -- the loop -----------------------------------------------------------------------------
    def _timeout(self) -> float:
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

    def warm_up(self) -> None:
        """Import what the cycle imports lazily, so the first save is not slower than the rest
        (those imports cost tens of milliseconds; a hot command pays them, a daemon need not)."""
        if self._submit_fn is not None:
            return
        import importlib

        for name in ("cycle", "agents", "config", "diff", "merge", "prompts", "gitops"):
            try:
                importlib.import_module(f"agent_doc.{name}")
            except Exception as exc:  # the cycle reports it properly when it runs
                log(f"warning: cannot import agent_doc.{name}: {exc}")

    def run(self) -> None:
        self.reload_targets(initial=True)
        self.warm_up()
        n = len(self.docs)
        self._await_ready()
        if n == 0:
            log("No session files found. Watching for new sessions...")
        else:
            log(f"Watching {n} file(s): {', '.join(sorted(s.label for s in self.docs.values()))}")
        self._next_rescan = time.monotonic() + RESCAN_EVERY
        self.startup_scan()
        while not self.stopping:
            timeout = self._timeout()
            if timeout > 0 and not self._inbox:
                try:
                    select.select([self._wake_r], [], [], timeout)
                except InterruptedError:
                    pass
            with contextlib.suppress(BlockingIOError, OSError):
                os.read(self._wake_r, 4096)
            self._take_inbox()
            if self.stopping:
                break
            self._announce_stop()
            self._probe()
            now = time.monotonic()
            if self._registry_dirty or now >= self._next_rescan:
                rescan = now >= self._next_rescan
                self.reload_targets()
                if rescan:
                    self._next_rescan = now + RESCAN_EVERY
                    self._check_pid_file()
                    self.safety_scan()
            for st in self.docs.values():
                if st.busy and not is_locked_elsewhere(st.project.submit_lock_path(st.path)):
                    st.busy = False
                    st.due = time.monotonic()
            due = sorted(
                (s for s in self.docs.values() if s.due is not None and s.due <= time.monotonic()),
                key=lambda s: s.due or 0.0,
            )
            for st in due:
                if self.stopping:
                    break
                self._take_inbox()  # a newer save postpones it (debounce)
                if st.due is None or st.due > time.monotonic():
                    continue
                self.handle(st)

    def _await_ready(self) -> None:
        while self._ready_probe is not None and not self.stopping:
            self._probe()
            with contextlib.suppress(InterruptedError):
                select.select([self._wake_r], [], [], 0.05)
            with contextlib.suppress(BlockingIOError, OSError):
                os.read(self._wake_r, 4096)
            self._take_inbox()

    # -- one document -------------------------------------------------------------------------
    def _snapshot_bytes(self, st: DocState) -> bytes | None:
        from agent_doc.snapshot import SnapshotStore

        text = SnapshotStore(st.project).load(st.path)
        return None if text is None else text.encode("utf-8")

    def handle(self, st: DocState) -> None:
        st.due = None
        st.stat = _stat_key(st.path)
        try:
            data = read_bytes(st.path)  # never blocks: a FIFO there is refused, not opened
        except FileNotFoundError:
            log(f"{st.label} is gone; watching its folder for it to come back")
            return
        except NotRegularFileError as exc:
            log(f"warning: skipping {st.label}: {exc}")
            return
        except OSError as exc:
            log(f"warning: cannot read {st.label}: {exc}")
            return
        digest = sha256_hex(data)
        try:
            snap = self._snapshot_bytes(st)
        except Exception as exc:
            log(f"warning: cannot read the snapshot of {st.label}: {exc}")
            snap = None
        if os.path.isdir(os.path.join(st.project.state_dir, "editors")):
            from agent_doc.editors.bridge import saved_by_editor

            if saved_by_editor(st.project, str(st.path), digest):
                # an answer written into the editor's buffer and saved by the editor, with the
                # user's unsaved typing: not a save of theirs (issue 15)
                log(f"Unchanged: {st.label} (saved by the editor with an answer)")
                return
        if snap is not None and snap == data and not os.path.exists(
                st.project.pending_path(st.path)):
            what = "own write" if digest == st.written_hash else "no change since the last cycle"
            log(f"Unchanged: {st.label} ({what})")
            return
        agent_triggered = st.written_hash is not None and digest == st.written_hash
        if agent_triggered:
            if st.cycles >= self.max_cycles:
                if not st.capped:
                    st.capped = True
                    log(
                        f"Max cycles ({self.max_cycles}) reached for {st.label} — skipping; "
                        f"save the document to go on"
                    )
                return
            st.cycles += 1
            log(
                f"Change detected: {st.label} (edited during the last cycle; agent-triggered "
                f"cycle {st.cycles}/{self.max_cycles})"
            )
        else:
            st.cycles = 0
            st.capped = False
            log(f"Change detected: {st.label}")
        self._run_cycle(st, agent_triggered)

    def _run_cycle(self, st: DocState, agent_triggered: bool) -> None:
        if self.stopping:
            return
        result: SubmitResultLike | None = None
        interrupted = False
        self._cycle_done.clear()
        self._cycle_doc = st.path
        try:
            try:
                result = self.submit(st.path)
            finally:
                self._cycle_doc = None
                self._abort_armed = False
        except KeyboardInterrupt:
            interrupted = True
        except AgentDocError as exc:
            interrupted = self.stopping and exc.exit_code == 130
            if not interrupted:
                hint = f" (hint: {exc.hint})" if exc.hint else ""
                log(f"Submit failed for {st.label}: {exc.message}{hint}")
        except OSError as exc:  # a file fault (full disk, a link planted in state): no traceback
            from agent_doc.errors import os_cause, os_hint

            hint = getattr(exc, "hint", None) or os_hint(exc)
            log(f"Submit failed for {st.label}: {os_cause(exc)} (hint: {hint})")
        except Exception as exc:
            log(f"Submit failed for {st.label}: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
        finally:
            self._cycle_done.set()
        if interrupted:
            if not self.stopping:
                raise KeyboardInterrupt
            self._reap_children()
            pending = st.project.pending_path(st.path)
            if os.path.exists(pending):
                what = (
                    f"the agent's answer is kept in {pending}; `agent-doc recover {st.label}` "
                    f"(or the next run) writes it"
                )
            else:
                what = (
                    "no write-back was in progress, so the document and its snapshot are "
                    "consistent; a change not answered yet is sent by the next cycle"
                )
            log(f"Cycle for {st.label} interrupted by the stop: {what}")
            return
        if result is None:
            if agent_triggered:
                st.cycles -= 1
            return
        if result.status == "answered":
            st.written_hash = result.written_hash
            st.stat = _stat_key(st.path)
            extra = f" ({result.conflicts} conflict(s) marked)" if result.conflicts else ""
            log(f"Submit complete: {st.label}{extra}")
        elif result.status == "busy":
            st.busy = True
            if agent_triggered:
                st.cycles -= 1
            who = f" ({result.holder})" if result.holder else ""
            log(f"{st.label}: a cycle is already running{who}; retrying when it ends")
        else:
            if agent_triggered:
                st.cycles -= 1
            log(f"Unchanged: {st.label} (nothing to send)")

    def _reap_children(self) -> None:
        kids = _children_of(os.getpid())
        for pid in kids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        for pid in kids:
            with contextlib.suppress(ChildProcessError, OSError):
                for _ in range(50):
                    done, _status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        break
                    time.sleep(0.02)

    # -- stopping ----------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Called from a signal handler (main thread) or the loop itself."""
        if self.stopping:
            return
        self.stopping = True
        self._stop_reason = reason
        # no logging here: this runs inside a signal handler, possibly in the middle of a
        # write to stderr by the main thread (a re-entrant write raises); the loop or the
        # stopper thread says it
        doc = self._cycle_doc
        if doc is not None and self._stopper is None:
            self._stopper = threading.Thread(
                target=self._stop_cycle, args=(doc,), name="watch-stopper", daemon=True
            )
            self._stopper.start()
        self._wake()

    def _announce_stop(self) -> None:
        with self._announce_lock:
            if self.stopping and not self._announced:
                self._announced = True
                during = " (interrupting the running cycle safely)" if self._stopper else ""
                log(f"{self._stop_reason} — stopping{during}")

    def on_abort_signal(self, signum: int, frame: object) -> None:
        """SIGUSR1 from the stopper thread: interrupt the running cycle."""
        if self._abort_armed and self._cycle_doc is not None:
            self._abort_armed = False
            raise KeyboardInterrupt("watch daemon stopping")

    def _stop_cycle(self, doc: Path) -> None:
        """Wait until no write-back and no git command of the cycle runs, then interrupt it."""
        self._announce_stop()
        proj = Project.for_document(doc)
        locks = [FileLock(proj.doc_lock_path(doc), quiet=True, state_root=proj.root)]
        try:
            from agent_doc.gitops import find_repo

            repo = find_repo(doc)
            if repo is not None:
                locks.append(FileLock(repo.lock_path, quiet=True))
        except Exception:
            pass  # no git: nothing more to wait for
        held: list[FileLock] = []
        try:
            while not self._cycle_done.is_set():
                for lk in locks:
                    if not lk.acquire(blocking=False):
                        break
                    held.append(lk)
                if len(held) == len(locks):
                    break
                for lk in reversed(held):
                    lk.release()
                held.clear()
                self._cycle_done.wait(0.02)
            main = threading.main_thread().ident
            while not self._cycle_done.is_set() and main is not None:
                self._abort_armed = True
                signal.pthread_kill(main, signal.SIGUSR1)
                self._cycle_done.wait(0.5)
        finally:
            for lk in reversed(held):
                lk.release()


# -- daemon lifetime: lock, pid file, signals -------------------------------------------------


def _read_pid_file(project: Project) -> int | None:
    try:
        raw = _read_text(project.watch_pid_path, project.root).strip()
    except (FileNotFoundError, OSError):
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def daemon_pid(project: Project) -> int | None:
    """The pid of the running daemon (the holder of the watch lock), or None."""
    lock = project.watch_lock_path
    if not is_locked_elsewhere(lock):
        return None
    pid = holder_pid(_read_holder(lock))
    return pid if pid is not None else _read_pid_file(project)


def status(project: Project) -> dict[str, Any]:
    pid = daemon_pid(project)
    file_pid = _read_pid_file(project)
    return {
        "running": pid is not None,
        "pid": pid,
        "stale_pid": file_pid if pid is None else None,
        "pid_file": os.fspath(project.watch_pid_path),
    }


def serve(
    project: Project,
    files: Iterable[str | os.PathLike[str]] = (),
    *,
    debounce_ms: int = DEFAULT_DEBOUNCE_MS,
    max_cycles: int = DEFAULT_MAX_CYCLES,
    submit: SubmitFn | None = None,
    agent: str | None = None,
) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT/SIGHUP. Returns the exit code."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("the watch daemon must run in the main thread (signals)")
    project.ensure_dirs()
    lock = FileLock(
        project.watch_lock_path, timeout=0.5, quiet=True, what="watch daemon",
        state_root=project.root,
    )
    try:
        lock.acquire()
    except LockTimeout as exc:
        pid = holder_pid(exc.holder) or _read_pid_file(project)
        raise AgentDocError(
            f"watch daemon already running (PID {pid if pid else 'unknown'}) for "
            f"{project.root}",
            hint="stop it with `agent-doc watch --stop`, or see `agent-doc watch --status`",
        ) from None
    daemon = WatchDaemon(
        project, files, debounce_ms=debounce_ms, max_cycles=max_cycles, submit=submit,
        agent=agent,
    )
    names: dict[int, str] = {
        signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT", signal.SIGHUP: "SIGHUP"
    }
    previous: dict[int, Any] = {}

    def on_stop(signum: int, frame: object) -> None:
        daemon.request_stop(f"Received {names.get(signum, signum)}")

    try:
        atomic_write(project.watch_pid_path, str(os.getpid()), state_root=project.root)
        for sig in names:
            previous[sig] = signal.signal(sig, on_stop)
        previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, daemon.on_abort_signal)
        log(f"Watch daemon started (PID {os.getpid()}) for {project.root}")
        try:
            daemon.run()
        except KeyboardInterrupt:
            if not daemon.stopping:
                raise
        daemon._announce_stop()
    finally:
        daemon.close()
        if _read_pid_file(project) == os.getpid():
            with contextlib.suppress(OSError):
                unlink_state(project.watch_pid_path, state_root=project.root)
        lock.release()
        for sig, handler in previous.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, handler)
        log("Watch daemon stopped.")
    return 0


def stop(project: Project, *, wait: float = STOP_WAIT, say: Callable[[str], None] = log) -> int:
    """``--stop``: SIGTERM to the daemon holding the watch lock; wait for it to exit."""
    pid = daemon_pid(project)
    file_pid = _read_pid_file(project)
    if pid is None:
        if file_pid is not None:
            unlink_state(project.watch_pid_path, state_root=project.root)
            say(f"Watch daemon (PID {file_pid}) was not running. Cleaned up PID file.")
        else:
            say("No watch daemon running.")
        return 0
    if file_pid is not None and file_pid != pid:
        say(f"warning: {project.watch_pid_path} says PID {file_pid}, the lock holder is {pid}")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        say(f"Watch daemon (PID {pid}) already exited.")
        return 0
    except PermissionError:
        raise AgentDocError(
            f"not allowed to signal the watch daemon (PID {pid})",
            hint="it runs as another user; stop it as that user",
        ) from None
    say(f"Stopping watch daemon (PID {pid})...")
    start = time.monotonic()
    next_note = start + 2.0
    while is_locked_elsewhere(project.watch_lock_path):
        now = time.monotonic()
        if now - start > wait:
            raise AgentDocError(
                f"watch daemon (PID {pid}) did not stop within {wait:g}s",
                hint=f"it may be stuck; `kill -9 {pid}` is safe for the files: a cycle cut "
                f"short leaves its answer in .agent-doc/pending/",
            )
        if now >= next_note:
            say(f"still waiting for PID {pid} to finish its current step ({now - start:.0f}s)")
            next_note = now + 2.0
        time.sleep(0.05)
    say(f"Watch daemon (PID {pid}) stopped.")
    return 0


def _read_text(path: str, state_root: str) -> str:
    """A state file's text (``watch.pid``): never through a link, never blocking on a FIFO."""
    return read_bytes(path, state_root=state_root).decode("utf-8")
