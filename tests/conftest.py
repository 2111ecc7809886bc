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
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# the helpers live in the test kit (tests/helpers); these names stay importable from here for
# test files written before the kit, but new code imports them from ``helpers``
from helpers.agents import claude_calls, install_fake_claude
from helpers.cli import Result, run_cli, trust_project
from helpers.paths import FAKES, REPO, SRC
from helpers.tmux import TmuxCounter, TmuxServer, install_tmux_shim

__all__ = [
    "FAKES", "REPO", "SRC", "Result", "TmuxCounter", "TmuxServer", "claude_calls", "run_cli",
    "trust_project",
]


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


@pytest.fixture
def cli():
    return run_cli


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


@pytest.fixture
def tmux_server() -> Iterator[TmuxServer]:
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    server = TmuxServer()
    yield server
    server.kill()


# --- fake agents ---------------------------------------------------------------------------

@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the fake `claude` (tests/fakes/claude) first on PATH; return its call-log path.

    Configure it per test with the FAKE_CLAUDE_* variables (see the script's docstring), e.g.
    ``monkeypatch.setenv("FAKE_CLAUDE_SLEEP", "1")``. Read calls with :func:`claude_calls`.
    """
    bindir = tmp_path / "fakebin"
    install_fake_claude(bindir)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "claude-calls.jsonl"
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))
    return log


# --- tmux process counting (tmux_router tests and bench) ---------------------------------------


@pytest.fixture
def tmux_counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TmuxCounter:
    real = shutil.which("tmux")
    if not real:
        pytest.skip("tmux is not installed")
    bindir = tmp_path / "tmuxshim"
    log = tmp_path / "tmux-calls.log"
    install_tmux_shim(bindir, log, real)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return TmuxCounter(log)
