"""`agent-doc demo`: two real cycles with the offline agent in a scratch project."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from helpers.cli import run_cli


def test_demo_runs_two_cycles_and_cleans_up(tmp_path: Path) -> None:
    r = run_cli("demo", env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r
    for step in range(1, 6):
        assert f"== Step {step}:" in r.stdout
    # the document is shown after each answer: 1 then 2 answers
    assert r.stdout.count("## Assistant") == 1 + 2
    assert "$ agent-doc run session.md" in r.stdout
    assert r.stderr.count("Response appended to session.md") == 2
    assert "resume: offline-" in r.stdout
    folder = re.search(r"Scratch project: (\S+)", r.stdout)
    assert folder and not os.path.exists(folder.group(1))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("agent-doc-demo-")]


def test_demo_keep_leaves_a_usable_project(tmp_path: Path) -> None:
    r = run_cli("demo", "--keep", env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r
    m = re.search(r"Kept the scratch project: (\S+)", r.stdout)
    assert m
    folder = Path(m.group(1))
    doc = folder / "session.md"
    assert doc.read_text().count("## Assistant") == 2
    assert (folder / ".agent-doc").is_dir()
    # the kept project continues to work with the normal commands
    again = run_cli("run", str(doc))
    assert again.returncode == 0 and "Nothing changed" in again.stderr
    if shutil.which("git"):
        log = __import__("subprocess").run(["git", "-C", str(folder), "log", "--format=%s"],
                                           capture_output=True, text=True).stdout
        assert log.count("agent-doc(session):") == 2
    shutil.rmtree(folder)


def test_demo_help() -> None:
    r = run_cli("demo", "--help")
    assert r.returncode == 0 and "--keep" in r.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_demo_without_git_on_path(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # a PATH with python's folder but no git
    import sys

    (bindir / "python").symlink_to(sys.executable)
    r = run_cli("demo", env={"PATH": str(bindir), "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r
    assert "(a git repository)" not in r.stdout
    assert "not a git repository: running without git" in r.stderr
