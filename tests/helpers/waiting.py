"""Waiting for something another process does: poll a condition up to a deadline.

A test never sleeps a fixed time and hopes; it polls with :func:`wait_until`, whose failure says
what was awaited and what was last seen, so a timeout in CI can be read without re-running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    what: str = "condition",
    timeout: float = 5.0,
    *,
    seen: Callable[[], Any] | None = None,
    interval: float = 0.02,
) -> T:
    """Call PREDICATE until it returns a true value and return that value.

    After TIMEOUT seconds raise ``AssertionError`` naming WHAT was awaited and what was seen:
    ``seen()`` when given (e.g. a pane's screen, a log file), else the predicate's last value.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    try:
        last = seen() if seen is not None else value
    except Exception as e:  # the failure message must still come out
        last = f"<seen() failed: {e!r}>"
    shown = f"\n{last}" if isinstance(last, str) and "\n" in last else f" {last!r}"
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen:{shown}")
