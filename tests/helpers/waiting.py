"""Waiting for something another process does: poll a condition up to a deadline.

A test never sleeps a fixed time and hopes; it polls with :func:`wait_until`, whose failure says
what was awaited and what was last seen, so a timeout in CI can be read without re-running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import subprocess

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    what: str = "condition",
    timeout: float = 5.0,
    *,
    seen: Callable[[], Any] | None = None,
    interval: float = 0.02,
    while_alive: subprocess.Popen[Any] | None = None,
) -> T:
    """Call PREDICATE until it returns a true value and return that value.

    After TIMEOUT seconds raise ``AssertionError`` naming WHAT was awaited and what was seen:
    ``seen()`` when given (e.g. a pane's screen, a log file), else the predicate's last value.

    WHILE_ALIVE: the process that is to bring the condition about. Once it has ended and the
    predicate (asked after the process was seen ended) is still false, fail at once, with its
    exit status and the output it left in its pipes, instead of waiting out the timeout.
    """
    deadline = time.monotonic() + timeout
    ended = False
    while True:
        ended = while_alive is not None and while_alive.poll() is not None
        value = predicate()
        if value:
            return value
        if ended or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    try:
        last = seen() if seen is not None else value
    except Exception as e:  # the failure message must still come out
        last = f"<seen() failed: {e!r}>"
    shown = f"\n{last}" if isinstance(last, str) and "\n" in last else f" {last!r}"
    if ended:
        assert while_alive is not None
        raise AssertionError(
            f"{_command(while_alive)} ended (exit status {while_alive.returncode}) while waiting "
            f"for {what}{_output(while_alive)}; last seen:{shown}")
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen:{shown}")


def _command(proc: subprocess.Popen[Any]) -> str:
    args = proc.args if isinstance(proc.args, list | tuple) else [proc.args]
    text = " ".join(str(a) for a in args)
    return f"`{text[:200]}{' …' if len(text) > 200 else ''}`"


def _output(proc: subprocess.Popen[Any]) -> str:
    """What the ended process left in its stdout/stderr pipes (none: not piped)."""
    import subprocess

    if proc.stdout is None and proc.stderr is None:
        return ""
    try:  # a child it left behind may hold the pipes open: bounded
        out, err = proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        return "; its output could not be read"
    parts = [p.decode("utf-8", "replace") if isinstance(p, bytes) else p
             for p in (out, err) if p]
    text = "".join(parts)[-3000:]
    return f"; its output:\n{text}\n" if text else "; it printed nothing"
