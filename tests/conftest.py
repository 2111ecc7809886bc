"""Shared fixtures: an isolated environment per test, a CLI runner, an isolated tmux server.

Every test runs with its own HOME, XDG_CONFIG_HOME, XDG_STATE_HOME (the trust store) and
TMUX_TMPDIR, with TMUX/TMUX_PANE unset, so nothing ever touches the user's config, trusted
projects or tmux server. Subprocesses inherit that
environment through ``os.environ``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    for var in ("TMUX", "TMUX_PANE", "AGENT_DOC_TMUX_SOCKET", "AGENT_DOC_NO_AUTOSTART",
                "CLAUDECODE", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("AGENT_DOC_TRACE", raising=False)  # traces would mix into stderr checks
    # the offline agent streams its answer word by word: no pause in tests (issue 16)
    monkeypatch.setenv("AGENT_DOC_OFFLINE_STREAM_DELAY", "0")
    # a short TMUX_TMPDIR: tmux socket paths are limited to ~100 bytes
    tmux_dir = tempfile.mkdtemp(prefix="adt", dir="/tmp")
    monkeypatch.setenv("TMUX_TMPDIR", tmux_dir)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    monkeypatch.setenv("PYTHONPATH", str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    yield tmp_path
    # never leave a tmux server behind
    if shutil.which("tmux"):
        subprocess.run(["tmux", "kill-server"], capture_output=True, env=dict(os.environ))
    shutil.rmtree(tmux_dir, ignore_errors=True)


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


@pytest.fixture
def cli():
    return run_cli


def trust_project(root: str | os.PathLike[str]) -> None:
    """``agent-doc trust ROOT`` (a real process): the project's own config may now run its
    fake agents and hooks (SPEC A12). Call it again after changing those files."""
    r = run_cli("trust", str(root))
    assert r.returncode == 0, r


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder (holding ``.agent-doc/``)."""
    root = tmp_path / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    return root


@pytest.fixture
def git_project(tmp_path: Path) -> Path:
    """A project that is also a git repository with one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    (root / "README").write_text("repo\n")
    subprocess.run(["git", "add", "README"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=root, check=True)
    return root


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
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture(pane)
            if text in screen:
                return screen
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not seen in pane {pane} within {timeout}s:\n{screen}")

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def tmux_server() -> Iterator[TmuxServer]:
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    server = TmuxServer()
    yield server
    server.kill()


# --- fake agents ---------------------------------------------------------------------------

FAKES = Path(__file__).resolve().parent / "fakes"


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the fake `claude` (tests/fakes/claude) first on PATH; return its call-log path.

    Configure it per test with the FAKE_CLAUDE_* variables (see the script's docstring), e.g.
    ``monkeypatch.setenv("FAKE_CLAUDE_SLEEP", "1")``. Read calls with :func:`claude_calls`.
    """
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    # a copy whose shebang is this interpreter: `#!/usr/bin/env python3` may hit a pyenv shim
    # that costs ~200 ms per call
    script = (FAKES / "claude").read_text().split("\n", 1)[1]
    (bindir / "claude").write_text(f"#!{sys.executable}\n{script}")
    (bindir / "claude").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "claude-calls.jsonl"
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))
    return log


def claude_calls(log: Path) -> list[dict]:
    import json

    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


# --- tmux process counting (tmux_router tests and bench) ---------------------------------------


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


@pytest.fixture
def tmux_counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TmuxCounter:
    real = shutil.which("tmux")
    if not real:
        pytest.skip("tmux is not installed")
    bindir = tmp_path / "tmuxshim"
    bindir.mkdir()
    log = tmp_path / "tmux-calls.log"
    shim = bindir / "tmux"
    shim.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return TmuxCounter(log)
