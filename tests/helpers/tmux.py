"""Isolated tmux servers for tests: a server per test (the test's own ``TMUX_TMPDIR``, set by the
``isolated_env`` fixture), restarting it, a pane that logs what it is sent, counting tmux calls.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers.waiting import wait_until


class TmuxServer:
    """An isolated tmux server (its own TMUX_TMPDIR) with one session, ``main``."""

    def __init__(self) -> None:
        self.tmpdir = os.environ["TMUX_TMPDIR"]

    def tmux(self, *args: str, check: bool = True) -> str:
        p = subprocess.run(["tmux", *args], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {p.stderr.strip()}")
        return p.stdout.strip()

    def start(self, session: str = "main") -> str:
        """Start the server with a detached session; return its first pane id."""
        return self.tmux(
            "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
            "-P", "-F", "#{pane_id}",
        )

    def new_pane(self, target: str = "main", window: bool = True) -> str:
        if window:
            return self.tmux("new-window", "-d", "-t", f"={target}:", "-P", "-F", "#{pane_id}")
        return self.tmux("split-window", "-d", "-t", target, "-P", "-F", "#{pane_id}")

    def capture(self, pane: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", pane)

    def wait_for(self, pane: str, text: str, timeout: float = 5.0) -> str:
        """Wait until PANE shows TEXT; return the screen that showed it."""
        screen = ""

        def shows() -> bool:
            nonlocal screen
            screen = self.capture(pane)
            return text in screen

        wait_until(shows, f"{text!r} in pane {pane}", timeout, seen=lambda: screen)
        return screen

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


def restart(server: TmuxServer, timeout: float = 10.0) -> str:
    """Kill the isolated server and start a fresh one (pane ids restart at %0); return its first
    pane. The old server may still be shutting down: retry until TIMEOUT."""
    server.kill()
    deadline = time.monotonic() + timeout
    while True:
        try:
            return server.start()
        except RuntimeError:  # the old server is still shutting down
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


LINE_LOGGER = r"""
import sys
log = sys.argv[1]
print("READY", flush=True)
for line in sys.stdin:
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(repr(line) + "\n")
    print("GOT " + line.rstrip("\n"), flush=True)
"""


def logger_pane(server: TmuxServer, tmp_path: Path, name: str) -> tuple[str, Path]:
    """A new window in session ``main`` running a program that appends ``repr(line)`` of every
    line it reads to ``TMP_PATH/NAME.log``; return (pane id, log path) once it is ready."""
    script = tmp_path / "logger.py"
    script.write_text(LINE_LOGGER, encoding="utf-8")
    log = tmp_path / f"{name}.log"
    pane = server.tmux(
        "new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}",
        sys.executable, str(script), str(log),
    )
    server.wait_for(pane, "READY")
    return pane, log


class TmuxCounter:
    """Counts tmux processes: a ``tmux`` shim first on PATH logs each call, then execs tmux."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def calls(self) -> list[str]:
        if not self.log.exists():
            return []
        return [line for line in self.log.read_text().splitlines() if line]

    def count(self) -> int:
        return len(self.calls())

    def reset(self) -> None:
        self.log.write_text("")


def install_tmux_shim(bindir: Path, log: Path, real: str) -> Path:
    """Write BINDIR/tmux: appends its arguments to LOG, then execs REAL tmux."""
    bindir.mkdir(parents=True, exist_ok=True)
    shim = bindir / "tmux"
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    return shim
