"""The fake ``claude`` agent (``tests/fakes/claude``): put it on PATH, read its call log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from helpers.paths import FAKES
from helpers.waiting import wait_until


def install_fake_claude(bindir: Path) -> Path:
    """Copy the fake ``claude`` into BINDIR (created) with this interpreter as its shebang and
    return it. (``#!/usr/bin/env python3`` may hit a pyenv shim that costs ~200 ms per call.)"""
    bindir.mkdir(parents=True, exist_ok=True)
    script = (FAKES / "claude").read_text().split("\n", 1)[1]
    exe = bindir / "claude"
    exe.write_text(f"#!{sys.executable}\n{script}")
    exe.chmod(0o755)
    return exe


def claude_calls(log: Path) -> list[dict[str, Any]]:
    """The calls the fake ``claude`` logged (one JSON object a line), oldest first."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_for_calls(log: Path, n: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Wait until the fake ``claude`` logged at least N calls; return them all."""

    def enough() -> list[dict[str, Any]] | None:
        calls = claude_calls(log)
        return calls if len(calls) >= n else None

    return wait_until(enough, f"{n} call(s) of the fake agent in {log.name}", timeout,
                      seen=lambda: claude_calls(log))
