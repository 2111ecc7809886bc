"""Running an agent program, and the ``text`` protocol built on it (SPEC A7).

:func:`run_agent_process` is shared by the ``claude`` and ``text`` protocols. It runs the
program through :func:`procrun.run` (our one process runner; see there why it is not
``subprocess``):

* the program starts in its **own process group and session**, so a Ctrl-C in the terminal
  reaches only us; on ``KeyboardInterrupt`` (or any other exception, e.g. ``SystemExit`` raised
  by a SIGTERM handler of the watch daemon) the whole group — the agent and anything it
  spawned — is terminated and reaped, and the exception goes on;
* the prompt is written to stdin while stdout and stderr are drained, so a large prompt and a
  large answer never deadlock on a full pipe; after the agent exited, a leftover grandchild
  may keep our pipes open for ``PIPE_GRACE`` seconds, then its group is killed;
* an optional timeout kills the whole group (SIGTERM, ``KILL_GRACE`` seconds, then SIGKILL)
  and raises :class:`AgentTimeout`;
* ``CLAUDECODE`` is removed from the environment so that a nested Claude run is allowed (the
  ``claude`` protocol requires it; for ``text`` agents it is harmless and lets a text agent
  wrap ``claude -p``). The working directory is inherited unless ``cwd`` is given.

The ``text`` protocol: the prompt on stdin, stdout (trailing whitespace removed) is the answer;
there is no conversation, so ``resume_id``, ``fork`` and ``model`` are not passed on and the
session id is None.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import procrun
from agent_doc.agents.base import AgentError, AgentReply, AgentTimeout, stderr_tail

TYPE_CHECKING = False
if TYPE_CHECKING:
    from agent_doc.agents.base import TextStream

#: seconds between SIGTERM and SIGKILL when we stop an agent's process group
KILL_GRACE = 2.0
#: after the agent exits, how long its pipes may stay open (held by a leftover child)
PIPE_GRACE = 5.0
REMOVED_ENV = ("CLAUDECODE",)

#: exit code (negative: the signal), stdout and stderr of an agent run
ProcessResult = procrun.Finished


def agent_env(remove: Sequence[str] = REMOVED_ENV) -> dict[str, str]:
    env = dict(os.environ)
    for name in remove:
        env.pop(name, None)
    return env


def config_hint(agent: str, config_file: str | None, what: str) -> str:
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
    config_file: str | None = None,
    cwd: str | None = None,
    on_stdout: Callable[[bytes], None] | None = None,
) -> ProcessResult:
    """Run ``argv`` with ``stdin_data`` on stdin; collect stdout and stderr in full.

    ``cwd``: the folder the agent runs in (default: ours; the claude protocol passes the
    project root, because Claude Code files its conversations by folder).
    ``on_stdout``: called with each chunk of standard output as it is read (streaming).

    Raises :class:`AgentError` when the program cannot be started and :class:`AgentTimeout`
    after ``timeout`` seconds (the whole process group is killed). A non-zero exit is *not* an
    error here: the protocol decides what it means.
    """
    command = argv[0]
    try:
        return procrun.run(
            argv,
            stdin_data,
            env=agent_env() if env is None else env,
            timeout=timeout,
            new_session=True,
            kill_grace=KILL_GRACE,
            pipe_grace=PIPE_GRACE,
            cwd=cwd,
            on_stdout=on_stdout,
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
    except procrun.ProcessTimeout as exc:
        raise AgentTimeout(
            f"agent '{agent}' timed out after {_seconds(timeout)} s and was stopped "
            f"({command} and the processes it started)",
            hint=config_hint(agent, config_file, "raise timeout (seconds)")
            + ", or remove it for no limit",
            agent=agent,
            stderr_tail=stderr_tail(exc.partial.stderr),
        ) from None
    except OSError as exc:
        raise AgentError(
            f"agent '{agent}': cannot start {command}: {exc.strerror or exc}",
            hint=config_hint(agent, config_file, "check command and args"),
            agent=agent,
        ) from None


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class LineStream:
    """Feeds a :class:`TextStream` from raw stdout chunks, one complete line at a time (the
    rest at :meth:`close`). Bytes are decoded per line, so a UTF-8 character split across two
    chunks is never cut; an undecodable line is passed on with replacement characters (the
    final answer, decoded strictly, decides whether the run fails)."""

    def __init__(self, stream: TextStream) -> None:
        self.stream = stream
        self._buf = b""

    def feed(self, chunk: bytes) -> None:
        self._buf += chunk
        cut = self._buf.rfind(b"\n")
        if cut < 0:
            return
        lines, self._buf = self._buf[: cut + 1], self._buf[cut + 1 :]
        self.stream.write(lines.decode("utf-8", errors="replace"))

    def close(self) -> None:
        if self._buf:
            rest, self._buf = self._buf, b""
            self.stream.write(rest.decode("utf-8", errors="replace"))


class TextAgent:
    """``protocol = "text"``: prompt on stdin, stdout is the answer, no conversation.

    With a ``stream``, stdout is passed on line by line as it arrives (each complete line, the
    rest at the end); the answer is still the whole of stdout."""

    streams = True

    def __init__(
        self,
        name: str,
        command: str,
        args: Sequence[str] = (),
        *,
        timeout: float | None = None,
        config_file: str | None = None,
    ) -> None:
        self.name = name
        self.command = os.path.expanduser(command)
        self.args = list(args)
        self.timeout = timeout
        self.config_file = config_file

    def argv(self) -> list[str]:
        return [self.command, *self.args]

    def send(
        self, prompt: str, *, resume_id: str | None, fork: bool, model: str | None,
        stream: TextStream | None = None,
    ) -> AgentReply:
        lines = LineStream(stream) if stream is not None else None
        result = run_agent_process(
            self.argv(),
            prompt.encode("utf-8"),
            agent=self.name,
            timeout=self.timeout,
            config_file=self.config_file,
            on_stdout=lines.feed if lines is not None else None,
        )
        if lines is not None:
            lines.close()
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
    agent: str, command: str, result: ProcessResult, config_file: str | None,
    detail: str = "",
) -> None:
    """Raise :class:`AgentError` for a non-zero exit (status or signal, plus stderr tail)."""
    rc = result.returncode
    if rc == 0:
        return
    if rc < 0:
        how = f"was killed by {_signal_name(-rc)}"
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


def _signal_name(number: int) -> str:
    """``SIGKILL`` for 9; ``signal 64`` for a number without a name (``signal`` imported only
    here: its enum set-up costs start-up time, bench/IMPORTS.md)."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
