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

Two parts. **Intake** (:mod:`agent_doc.watch_intake`): the watched set, the folder watchers
and the per-document debounce. File watching is ``watchfiles`` (Rust ``notify``), used nowhere
else. It batches events but does not wait for quiet, so the per-file debounce is ours: a file is
due ``debounce`` after its last modification (its mtime, when the event arrives within 200 ms of
it, so the watcher's own latency is not added on top; else the arrival time); the reaction
time is printed by ``bench/bench_watch.py``. **Cycles** (this module, :class:`WatchDaemon`):
classifying a due document, running its cycle, and stopping safely on a signal.

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
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from agent_doc.errors import AgentDocError
from agent_doc.project import Project
from agent_doc.watch_intake import DocState, Intake, _stat_key, log
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
#: how long --stop waits for the daemon to exit by default (s)
STOP_WAIT = 60.0

class SubmitResultLike(Protocol):
    status: str
    response: str | None
    conflicts: int
    written_hash: str | None
    holder: str | None


SubmitFn = Callable[[Path], SubmitResultLike]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


# -- the daemon: cycles and stopping ----------------------------------------------------------


class WatchDaemon:
    """The loop: :class:`~agent_doc.watch_intake.Intake` says which documents are due, this
    class classifies each one and runs its cycle, and stops safely on a signal. :func:`serve`
    wraps it with the daemon lock, pid file and signals."""

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
        self.max_cycles = max_cycles
        self.agent = agent
        self._submit_fn = submit
        self.intake = Intake(
            project, [Path(os.path.realpath(os.fspath(f))) for f in files], debounce_ms / 1000.0
        )
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

    @property
    def docs(self) -> dict[Path, DocState]:
        """The watched documents (the intake's)."""
        return self.intake.docs

    def close(self) -> None:
        self.intake.close()

    def submit(self, path: Path) -> SubmitResultLike:
        if self._submit_fn is not None:
            return self._submit_fn(path)
        from agent_doc.cycle import SubmitOptions
        from agent_doc.cycle import submit as cycle_submit

        return cycle_submit(
            os.fspath(path), SubmitOptions(agent=self.agent, no_wait=True, progress=False)
        )

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
    def warm_up(self) -> None:
        """Import what the cycle imports lazily, so the first save is not slower than the rest
        (their cost: bench/IMPORTS.md; a hot command pays them, a daemon need not)."""
        if self._submit_fn is not None:
            return
        import importlib

        for name in ("cycle", "agents", "config", "diff", "merge", "prompts", "gitops"):
            try:
                importlib.import_module(f"agent_doc.{name}")
            except Exception as exc:  # the cycle reports it properly when it runs
                log(f"warning: cannot import agent_doc.{name}: {exc}")

    def run(self) -> None:
        intake = self.intake
        intake.reload_targets(initial=True)
        self.warm_up()
        n = len(self.docs)
        intake.await_ready(lambda: self.stopping)
        if n == 0:
            log("No session files found. Watching for new sessions...")
        else:
            log(f"Watching {n} file(s): {', '.join(sorted(s.label for s in self.docs.values()))}")
        intake.schedule_rescan()
        self.startup_scan()
        while not self.stopping:
            intake.wait(intake.timeout())
            intake.take_inbox()
            if self.stopping:
                break
            self._announce_stop()
            intake.probe()
            reload, rescan = intake.rescan_due()
            if reload:
                intake.reload_targets()
                if rescan:
                    intake.schedule_rescan()
                    self._check_pid_file()
                    intake.safety_scan()
            intake.release_busy()
            for st in intake.due():
                if self.stopping:
                    break
                intake.take_inbox()  # a newer save postpones it (debounce)
                if st.due is None or st.due > time.monotonic():
                    continue
                self.handle(st)

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
        self.intake.wake()

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
