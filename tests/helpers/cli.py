"""Run the CLI (``python -m agent_doc`` or ``tmux_router``) as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.paths import SRC


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:  # shown by pytest on failure
        return f"Result(rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def run_cli(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    prog: str = "agent_doc",
) -> Result:
    """Run ``python -m agent_doc ARGS`` (or ``tmux_router``) as a real subprocess."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run(
        [sys.executable, "-m", prog, *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def spawn_cli(
    args: list[str], cwd: str | os.PathLike[str], env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m agent_doc ARGS`` in CWD and leave it running (text pipes for
    stdout/stderr; PYTHONPATH is this checkout's ``src``; ENV is added on top)."""
    return subprocess.Popen(
        [sys.executable, "-m", "agent_doc", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
    )


def trust_project(root: str | os.PathLike[str] | Path) -> None:
    """``agent-doc trust ROOT`` (a real process): the project's own config may now run its
    fake agents and hooks (SPEC A12). Call it again after changing those files."""
    r = run_cli("trust", str(root))
    assert r.returncode == 0, r
