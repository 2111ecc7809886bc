"""Run a program with pipes and collect its output: the one process runner of agent-doc and
tmux-router (layer 1, beside ``safefile``; imports only :mod:`fastpath` of ours).

Written by hand on ``os.posix_spawnp`` + ``select.poll`` rather than on ``subprocess`` because
``import subprocess`` (with the ``threading``, ``signal`` and ``selectors`` it pulls in) costs
start-up time (``bench/IMPORTS.md``), paid by every hotkey command that starts a program:
``route`` runs one tmux client, ``run`` one agent. Everything happens in the calling thread:

* the prompt is written to the child's stdin without blocking, while stdout and stderr are
  drained, so a large input and a large output never deadlock on a full pipe;
* the child's exit is seen through a pidfd (Linux ≥ 5.3; a 50 ms ``waitpid(WNOHANG)`` tick
  elsewhere). After it exited, its pipes may stay open ``pipe_grace`` seconds longer (a
  leftover grandchild holding them), then we stop reading — ``Popen.communicate`` cannot;
* ``new_session=True`` starts the program as the leader of its own session and process group,
  so a Ctrl-C in the terminal reaches only us; on *any* exception while waiting
  (``KeyboardInterrupt``, ``SystemExit`` from a signal handler) and on timeout, the whole group
  is stopped (SIGTERM, ``kill_grace`` seconds, then SIGKILL) and reaped before we go on;
* a missing or non-executable program raises ``FileNotFoundError`` / ``PermissionError`` from
  the spawn itself, as ``subprocess`` does.

**Orphans** (``orphan_guard``, on by default with ``new_session``: every agent call). A program
in its own session outlives a runner killed with SIGKILL (a watch daemon killed by the OOM
killer or ``kill -9``): it would go on answering, paid for, into nothing. So the program is
started through a small launcher: ``/bin/sh -c`` with the script :data:`_GUARD_SH` (~1 ms;
the first version ran a Python launcher, ``python -I -S``, which cost 27–46 ms per agent call
on the loaded 2-core test machine; never on the hotkey path — tmux calls run without it). The
launcher becomes the session and group leader, forks a **guard** that stays in that group
(double fork: re-parented to init, holding none of the program's pipes), then ``exec``s the
program, so the program keeps the launcher's pid, is ours to wait for and its exit status is
its own (its ``argv[0]`` is the resolved path: ``sh``'s ``exec`` cannot choose it). The guard
blocks reading a pipe whose only write end is held by the runner (close-on-exec, so no other
child inherits it). When the runner is done with the program it writes one byte and the guard
exits quietly; when the runner dies, the kernel closes the write end, the guard reads
end-of-file and stops the whole group — SIGTERM, ``kill_grace`` seconds, SIGKILL (itself
included). The group id cannot be reused while the guard lives in it.
``PR_SET_PDEATHSIG`` was not used: it reaches only the direct child (not what the agent
started), fires on the death of the spawning *thread*, and cannot be set through
``posix_spawn``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence

import fastpath

__all__ = ["Finished", "ProcessTimeout", "run"]

#: the launcher of guarded programs (module docstring): ``sh -c _GUARD_SH guard TENTHS DIR
#: PROGRAM ARGS...``, with the guard pipe's read end as fd 3 (dash redirects only fds 0-9);
#: TENTHS is the kill grace in 0.1 s steps, DIR the folder to run in (empty: ours)
_GUARD_SH = """tenths=$1 dir=$2 prog=$3
shift 3
if [ -n "$dir" ]; then cd -- "$dir" || exit; fi
( (
    trap '' TERM INT HUP
    exec </dev/null >/dev/null 2>&1
    x=
    read -r x <&3
    [ -n "$x" ] && exit 0
    kill -s TERM -- "-$$"
    i=0
    while kill -0 "$$" && [ "$i" -lt "$tenths" ]; do sleep 0.1; i=$((i + 1)); done
    kill -s KILL -- "-$$"
) & )
exec 3<&-
exec "$prog" "$@"
"""

_SIGTERM = 15
_SIGKILL = 9
_CHUNK = 65536


class Finished:
    """How a program ended: exit code (negative: killed by that signal), stdout, stderr."""

    __slots__ = ("returncode", "stderr", "stdout")

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return (f"Finished(returncode={self.returncode!r}, stdout={self.stdout!r}, "
                f"stderr={self.stderr!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Finished) and (
            (self.returncode, self.stdout, self.stderr)
            == (other.returncode, other.stdout, other.stderr))

    __hash__ = None  # type: ignore[assignment]


class ProcessTimeout(TimeoutError):
    """The program ran past its timeout; it (and its group) was stopped. ``partial`` holds
    what it had printed (returncode is the stopped program's status)."""

    def __init__(self, message: str, partial: Finished) -> None:
        super().__init__(message)
        self.partial = partial


def run(
    argv: Sequence[str],
    stdin: bytes | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    new_session: bool = False,
    kill_grace: float = 2.0,
    pipe_grace: float = 5.0,
    orphan_guard: bool | None = None,
    cwd: str | None = None,
    on_stdout: Callable[[bytes], None] | None = None,
) -> Finished:
    """Run ``argv`` (looked up on PATH); ``stdin`` bytes are fed to it, ``None`` = /dev/null.

    ``on_stdout``: called with each chunk of standard output as it is read, in order, from this
    thread (so it must be quick: a streaming answer is handed on, not processed, here); the
    whole output is still returned in :attr:`Finished.stdout`. An exception it raises stops the
    program's group like any other (Ctrl-C included) and goes on.

    ``cwd``: the folder the program runs in (default: ours). ``posix_spawn`` cannot change
    folder, so the program is resolved here (missing: :class:`FileNotFoundError`, not
    executable: :class:`PermissionError`, as without ``cwd``; a relative path is taken from
    OUR folder) and started through ``/bin/sh``, which changes folder and ``exec``s it: the
    program's pid is unchanged.

    Returns when the program exited and its pipes closed (or ``pipe_grace`` seconds after it
    exited). Raises :class:`ProcessTimeout` after ``timeout`` seconds. ``orphan_guard``
    (default: ``new_session``) stops the program's group if this process dies (module
    docstring).
    """
    argv = list(argv)
    env = os.environ if env is None else env
    guard = new_session if orphan_guard is None else orphan_guard
    if guard and not new_session:
        raise ValueError("orphan_guard needs new_session=True (the guard stops a group)")
    guard_r = guard_w = -1
    spawn_argv = argv
    if guard or cwd is not None:
        program = _which(argv[0], env)  # missing/not executable: raised here, as by the spawn
        if "/" in program:
            program = os.path.abspath(program)  # relative to OUR folder, even with `cwd`
    if guard:
        guard_r, guard_w = os.pipe()  # both close-on-exec; the launcher gets guard_r below
        spawn_argv = ["/bin/sh", "-c", _GUARD_SH, "agent-doc-guard",
                      str(max(1, round(kill_grace * 10))), cwd or "", program, *argv[1:]]
    elif cwd is not None:
        spawn_argv = ["/bin/sh", "-c", 'cd -- "$0" && exec "$@"', cwd, program, *argv[1:]]
    started = fastpath.trace_clock() if fastpath.TRACE else 0.0
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    if stdin is None:
        in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1
    else:
        in_r, in_w = os.pipe()
    try:
        actions = [
            (os.POSIX_SPAWN_DUP2, in_r, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_DUP2, err_w, 2),
        ]
        if guard_r >= 0:
            actions.append((os.POSIX_SPAWN_DUP2, guard_r, 3))  # dup2 clears close-on-exec
        pid = os.posix_spawnp(spawn_argv[0], spawn_argv, env, file_actions=actions,
                              setsid=new_session)
    except BaseException as exc:
        for fd in (out_r, err_r, in_w, guard_w):
            if fd >= 0:
                os.close(fd)
        if fastpath.TRACE:
            _trace(argv, started, f"not started: {exc!r}")
        raise
    finally:
        for fd in (out_w, err_w, in_r, guard_r):
            if fd >= 0:
                os.close(fd)
    try:
        done = _communicate(pid, argv[0], stdin, in_w, out_r, err_r, timeout, new_session,
                            kill_grace, pipe_grace, on_stdout)
    except BaseException as exc:
        if fastpath.TRACE:
            _trace(argv, started, f"{type(exc).__name__}: {exc}")
        raise
    finally:  # _communicate closes in_w itself, whatever happens
        os.close(out_r)
        os.close(err_r)
        if guard_w >= 0:
            # done with the program (it exited, or we stopped its group): the guard may go
            try:
                os.write(guard_w, b"x")
            except OSError:
                pass  # the guard is gone already
            os.close(guard_w)

    if fastpath.TRACE:
        _trace(argv, started, f"rc {done.returncode}, {len(done.stdout)} B out, "
                              f"{len(done.stderr)} B err, pid {pid}")
    return done


def _trace(argv: list[str], started: float, result: str) -> None:
    """One ``AGENT_DOC_TRACE`` line for a program run, named after the program (``tmux``,
    ``claude``, ...)."""
    fastpath.trace(os.path.basename(argv[0]) or "exec", fastpath.describe_argv(argv), started,
                   result)


def _which(name: str, env: Mapping[str, str]) -> str:
    """The program ``posix_spawnp`` would run, or the error it would raise."""
    import errno

    def runnable(path: str) -> bool:
        return os.path.isfile(path) and os.access(path, os.X_OK)

    if "/" in name:
        if not os.path.exists(name):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
        if not runnable(name):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        return name
    denied = False
    for folder in (env.get("PATH") or os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if runnable(path):
            return path
        if os.path.exists(path) and not os.path.isdir(path):
            denied = True
    if denied:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _communicate(pid: int, name: str, data: bytes | None, in_w: int, out_r: int, err_r: int,
                 timeout: float | None, group: bool, kill_grace: float,
                 pipe_grace: float,
                 on_stdout: Callable[[bytes], None] | None = None) -> Finished:
    import select

    poller = select.poll()
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    reading = {out_r, err_r}
    for fd in reading:
        poller.register(fd, select.POLLIN)
    view = memoryview(data or b"")
    if in_w >= 0:
        if view:
            os.set_blocking(in_w, False)
            poller.register(in_w, select.POLLOUT)
        else:
            os.close(in_w)
            in_w = -1
    pidfd = _pidfd(pid)
    if pidfd >= 0:
        poller.register(pidfd, select.POLLIN)
    status: int | None = None
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    exited_at = 0.0
    try:
        while True:
            if status is None and pidfd < 0:
                status = _reap(pid, block=False)
                if status is not None:
                    exited_at = time.monotonic()
            if status is not None and not reading:
                break
            now = time.monotonic()
            if status is not None and now - exited_at >= pipe_grace:
                # the program is gone but something it started still holds our pipes
                _stop_group(pid, group, kill_grace, reaped=True)
                break
            if deadline is not None and now >= deadline:
                status = _stop(pid, group, kill_grace, status)
                raise ProcessTimeout(
                    f"{name} did not finish within {timeout:g} s",
                    Finished(_exit_code(status), b"".join(chunks[out_r]),
                             b"".join(chunks[err_r])))
            wait = 3600.0 if deadline is None else deadline - now
            if status is not None:
                wait = min(wait, exited_at + pipe_grace - now)
            if pidfd < 0 and status is None:
                wait = min(wait, 0.05)
            for fd, _event in poller.poll(max(0, int(wait * 1000)) + 1):
                if fd == pidfd:
                    poller.unregister(pidfd)
                    os.close(pidfd)
                    pidfd = -1
                    status = _reap(pid, block=True)
                    exited_at = time.monotonic()
                elif fd == in_w:
                    try:
                        written = os.write(in_w, view[:_CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError:  # EPIPE: the program stopped reading; its status tells why
                        written = len(view)
                    view = view[written:]
                    if not view:
                        poller.unregister(in_w)
                        os.close(in_w)
                        in_w = -1
                else:
                    got = os.read(fd, _CHUNK)
                    if got:
                        chunks[fd].append(got)
                        if on_stdout is not None and fd == out_r:
                            on_stdout(got)
                    else:
                        poller.unregister(fd)
                        reading.discard(fd)
    except BaseException:
        # Ctrl-C, SystemExit from a signal handler, a timeout: never leave it running behind us
        if status is None:
            _stop(pid, group, kill_grace, None)
        raise
    finally:
        if pidfd >= 0:
            os.close(pidfd)
        if in_w >= 0:
            os.close(in_w)
    assert status is not None
    return Finished(_exit_code(status), b"".join(chunks[out_r]), b"".join(chunks[err_r]))


def _pidfd(pid: int) -> int:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return -1
    try:
        return opener(pid)
    except OSError:  # ENOSYS (old kernel), EPERM (seccomp)
        return -1


def _reap(pid: int, *, block: bool) -> int | None:
    """The raw wait status of ``pid`` once it exited, else None (``block=False``)."""
    while True:
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return 0
        if done == pid:
            return status
        if not block:
            return None


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


def _signal(pid: int, group: bool, sig: int) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(pid: int, group: bool, grace: float, status: int | None) -> int:
    """SIGTERM (the group), up to ``grace`` s, SIGKILL; returns the leader's wait status."""
    if status is not None:
        _stop_group(pid, group, grace, reaped=True)
        return status
    _signal(pid, group, _SIGTERM)
    try:
        deadline = time.monotonic() + grace
        while status is None and time.monotonic() < deadline:
            status = _reap(pid, block=False)
            if status is None:
                time.sleep(0.01)
    finally:
        # also when a second Ctrl-C interrupts the grace period: nothing is left running
        _signal(pid, group, _SIGKILL)
    while status is None:  # a blocking wait returns only once the program exited
        status = _reap(pid, block=True)
    return status


def _stop_group(pid: int, group: bool, grace: float, *, reaped: bool) -> None:
    """Stop what is left of the group of a reaped leader (its id is not reused while any
    member lives, so this reaches only the leftovers)."""
    if not group:
        return
    _signal(pid, True, _SIGTERM)
    try:
        deadline = time.monotonic() + min(grace, 0.2)
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.01)
    finally:
        _signal(pid, True, _SIGKILL)


# -- small helpers on top of run() (git, patch hooks, the demo) --------------------------------


class TextFinished:
    """:class:`Finished` with the output decoded (UTF-8, undecodable bytes replaced, ``\\r\\n``
    and ``\\r`` read as ``\\n`` like ``subprocess``'s text mode): what :func:`run_text` returns."""

    __slots__ = ("returncode", "stderr", "stdout")

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return (f"TextFinished(returncode={self.returncode!r}, stdout={self.stdout!r}, "
                f"stderr={self.stderr!r})")


def _text(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def run_text(
    argv: Sequence[str],
    input: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    check: bool = False,
) -> TextFinished:
    """:func:`run` with text in (UTF-8) and out (:class:`TextFinished`). ``check``: a non-zero
    exit raises :class:`ProcessFailed`."""
    done = run(argv, None if input is None else input.encode("utf-8"), env=env, timeout=timeout)
    result = TextFinished(done.returncode, _text(done.stdout), _text(done.stderr))
    if check and result.returncode != 0:
        raise ProcessFailed(list(argv), result)
    return result


class ProcessFailed(OSError):
    """``check=True`` and the program exited non-zero: ``argv`` and its ``result``; the message
    quotes the end of its stderr."""

    def __init__(self, argv: list[str], result: TextFinished) -> None:
        tail = (result.stderr or result.stdout).strip()[-500:]
        super().__init__(f"{' '.join(argv)} failed (exit {result.returncode})"
                         + (f": {tail}" if tail else ""))
        self.argv = argv
        self.result = result


def run_attached(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    new_session: bool = False,
    kill_grace: float = 2.0,
) -> int:
    """Run ``argv`` with OUR stdout and stderr (stdin: /dev/null) and return its exit code
    (negative: killed by that signal). For a program whose output is for the user as it comes
    (a ``post_patch`` hook). After ``timeout`` seconds it (its group with ``new_session``) is
    stopped as by :func:`run` and :class:`ProcessTimeout` raised (``partial`` has no output);
    any exception while waiting (Ctrl-C) stops it too."""
    argv = list(argv)
    env = os.environ if env is None else env
    started = fastpath.trace_clock() if fastpath.TRACE else 0.0
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0)],
                              setsid=new_session)
    except BaseException as exc:
        if fastpath.TRACE:
            _trace(argv, started, f"not started: {exc!r}")
        raise
    finally:
        os.close(devnull)
    deadline = None if timeout is None else time.monotonic() + timeout
    status: int | None = None
    nap = 0.001
    try:
        while status is None:
            status = _reap(pid, block=False)
            if status is not None:
                break
            if deadline is not None and time.monotonic() >= deadline:
                status = _stop(pid, new_session, kill_grace, None)
                raise ProcessTimeout(f"{argv[0]} timed out after {timeout:g}s",
                                     Finished(_exit_code(status), b"", b""))
            time.sleep(nap)
            nap = min(nap * 2, 0.02)
    except ProcessTimeout:
        if fastpath.TRACE:
            _trace(argv, started, f"timed out after {timeout:g}s, pid {pid}")
        raise
    except BaseException:
        if status is None:
            _stop(pid, new_session, kill_grace, None)
        raise
    code = _exit_code(status)
    if fastpath.TRACE:
        _trace(argv, started, f"rc {code}, output attached, pid {pid}")
    return code
