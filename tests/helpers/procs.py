"""Processes the tests start (agents, daemons, their children): has one gone?"""

from __future__ import annotations

import os
import time


def pid_running(pid: int) -> bool:
    """Whether PID is a live process (a zombie nobody reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def pid_gone(pid: int, timeout: float = 10.0) -> bool:
    """True once PID no longer runs (missing, or a zombie); False if it still runs after TIMEOUT
    seconds (a bounded wait, not a speed check: tests ``assert pid_gone(pid)``)."""
    deadline = time.monotonic() + timeout
    while pid_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
