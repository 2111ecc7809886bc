"""Running an agent program, and the ``text`` protocol built on it (SPEC A7).

:func:`run_agent_process` is shared by the ``claude`` and ``text`` protocols:

* the program starts in its **own process group and session** (``start_new_session``), so a
  Ctrl-C in the terminal reaches only us; on ``KeyboardInterrupt`` (or any other exception,
  e.g. ``SystemExit`` raised by a SIGTERM handler of the watch daemon) we terminate the whole
  group — the agent and anything it spawned — wait for it, and re-raise;
* the prompt is written to stdin by one thread and stdin is then closed, while two more threads
  drain stdout and stderr in full, so a large prompt and a large answer never deadlock on a
  full pipe (``Popen.communicate`` would also do this, but it cannot stop waiting for a pipe
  that a leftover grandchild keeps open after the agent itself exited; we can);
* an optional timeout kills the whole group (SIGTERM, 2 s of grace, then SIGKILL) and raises
  :class:`AgentTimeout`;
* ``CLAUDECODE`` is removed from the environment so that a nested Claude run is allowed (the
  ``claude`` protocol requires it; for ``text`` agents it is harmless and lets a text agent
  wrap ``claude -p``). The working directory is inherited.

The ``text`` protocol: the prompt on stdin, stdout (trailing whitespace removed) is the answer;
there is no conversation, so ``resume_id``, ``fork`` and ``model`` are not passed on and the
session id is None.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from agent_doc.agents.base import AgentError, AgentReply, AgentTimeout, stderr_tail

#: seconds between SIGTERM and SIGKILL when we stop an agent's process group
KILL_GRACE = 2.0
#: after the agent exits, how long its pipes may stay open (held by a leftover child)
PIPE_GRACE = 5.0
REMOVED_ENV = ("CLAUDECODE",)


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stdout: bytes
    stderr: bytes


def agent_env(remove: Sequence[str] = REMOVED_ENV) -> dict[str, str]:
    env = dict(os.environ)
    for name in remove:
        env.pop(name, None)
    return env


def config_hint(agent: str, config_file: Path | str | None, what: str) -> str:
    """``"set <what> in [agents.NAME] in FILE"`` with the right table name."""
    table = f"[agents.{agent}]" if agent.replace("-", "").replace("_", "").isalnum() else (
        f'[agents."{agent}"]'
    )
    where = f" in {config_file}" if config_file else ""
    return f"{what} in {table}{where}"


def run_agent_process(
    argv: Sequence[str],
    stdin_data: bytes,
    *,
    agent: str,
    timeout: float | None,
    env: dict[str, str] | None = None,
    config_file: Path | str | None = None,
) -> ProcessResult:
    """Run ``argv`` with ``stdin_data`` on stdin; collect stdout and stderr in full.

    Raises :class:`AgentError` when the program cannot be started and :class:`AgentTimeout`
    after ``timeout`` seconds (the whole process group is killed). A non-zero exit is *not* an
    error here: the protocol decides what it means.
    """
    command = argv[0]
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=agent_env() if env is None else env,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise AgentError(
            f"agent '{agent}': command not found: {command}",
            hint="install it or put it on PATH, or "
            + config_hint(agent, config_file, 'set command = "/full/path/to/program"')
            + "; `--agent offline` runs the built-in offline agent",
            agent=agent,
        ) from None
    except PermissionError:
        raise AgentError(
            f"agent '{agent}': cannot run {command}: permission denied (not executable?)",
            hint=f"make it executable (chmod +x {command}) or "
            + config_hint(agent, config_file, "fix command"),
            agent=agent,
        ) from None
    except OSError as exc:
        raise AgentError(
            f"agent '{agent}': cannot start {command}: {exc.strerror or exc}",
            hint=config_hint(agent, config_file, "check command and args"),
            agent=agent,
        ) from None

    out: list[bytes] = []
    err: list[bytes] = []
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    threads = [
        threading.Thread(target=_feed, args=(proc.stdin, stdin_data), daemon=True),
        threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _join(threads, KILL_GRACE)
            raise AgentTimeout(
                f"agent '{agent}' timed out after {_seconds(timeout)} s and was stopped "
                f"({command} and the processes it started)",
                hint=config_hint(agent, config_file, "raise timeout (seconds)")
                + ", or remove it for no limit",
                agent=agent,
                stderr_tail=stderr_tail(b"".join(err)),
            ) from None
        if not _join(threads, PIPE_GRACE):
            # The agent exited but something it started still holds our pipes open.
            _kill_group(proc)
            _join(threads, KILL_GRACE)
    except AgentTimeout:
        raise
    except BaseException:
        # Ctrl-C (KeyboardInterrupt), SystemExit from a signal handler, anything: never leave
        # the agent running behind us.
        _kill_group(proc)
        _join(threads, KILL_GRACE)
        raise
    return ProcessResult(returncode, b"".join(out), b"".join(err))


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, ValueError, OSError):
        pass  # the agent exited without reading everything: its exit status says why
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _drain(pipe: IO[bytes], chunks: list[bytes]) -> None:
    try:
        while True:
            chunk = pipe.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                break
            chunks.append(chunk)
    except (OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _join(threads: list[threading.Thread], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds in total; True when every thread finished."""
    import time

    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the agent's process group, wait ``KILL_GRACE``, then SIGKILL what is left.

    The group id is the agent's pid (it leads its own session). Linux does not hand that number
    to a new process while any member of the group is alive, so signalling the group after the
    leader was reaped reaches only its leftover children.
    """
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        pass
    finally:
        # also when a second Ctrl-C interrupts the grace period: nothing is left running
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait()


class TextAgent:
    """``protocol = "text"``: prompt on stdin, stdout is the answer, no conversation."""

    def __init__(
        self,
        name: str,
        command: str,
        args: Sequence[str] = (),
        *,
        timeout: float | None = None,
        config_file: Path | None = None,
    ) -> None:
        self.name = name
        self.command = os.path.expanduser(command)
        self.args = list(args)
        self.timeout = timeout
        self.config_file = config_file

    def argv(self) -> list[str]:
        return [self.command, *self.args]

    def send(
        self, prompt: str, *, resume_id: str | None, fork: bool, model: str | None
    ) -> AgentReply:
        result = run_agent_process(
            self.argv(),
            prompt.encode("utf-8"),
            agent=self.name,
            timeout=self.timeout,
            config_file=self.config_file,
        )
        check_exit(self.name, self.command, result, self.config_file)
        text = decode_output(self.name, result).rstrip()
        if not text:
            raise AgentError(
                f"agent '{self.name}' gave an empty answer ({self.command} printed nothing "
                "on stdout)",
                hint="a text agent must print its answer on stdout",
                agent=self.name,
                stderr_tail=stderr_tail(result.stderr),
            )
        return AgentReply(text, None)


def check_exit(
    agent: str, command: str, result: ProcessResult, config_file: Path | None,
    detail: str = "",
) -> None:
    """Raise :class:`AgentError` for a non-zero exit (status or signal, plus stderr tail)."""
    rc = result.returncode
    if rc == 0:
        return
    if rc < 0:
        try:
            how = f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            how = f"was killed by signal {-rc}"
    else:
        how = f"exited with status {rc}"
    raise AgentError(
        f"agent '{agent}' failed: {command} {how}{detail}",
        hint="see the agent's messages above; "
        + config_hint(agent, config_file, "check command and args")
        + " (`--agent offline` runs without a model)",
        agent=agent,
        stderr_tail=stderr_tail(result.stderr),
    )


def decode_output(agent: str, result: ProcessResult) -> str:
    try:
        return result.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgentError(
            f"agent '{agent}' printed an answer that is not valid UTF-8 (byte {exc.start})",
            hint="make the agent print UTF-8",
            agent=agent,
            stderr_tail=stderr_tail(result.stderr),
        ) from None
