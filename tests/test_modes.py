"""Modes of what agent-doc writes (issue 11, item 8), with real modes and a real umask.

Every copy of a document's text — the snapshot, the pending answer, a version saved aside — is
never more readable than the document; ``sessions.json`` and ``claims.log`` are never more
readable than the project folder. A umask of 022 (the usual one) must not widen them, and a
copy left wider by an older tool or another umask is narrowed when it is written again.
Root ignores mode bits, so the test that needs a failing write-back drops CAP_DAC_OVERRIDE
with ``setpriv`` (as ``stress/badinput.py`` does).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

import helpers.docs
from agent_doc.project import Project
from helpers.cli import run_cli
from helpers.tmux import TmuxServer


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The usual umask, inherited by every command the test runs."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: str | os.PathLike[str]) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


make_doc = partial(helpers.docs.make_doc, name="notes.md", agent="offline", blank=True,
                   title="## User\n\n", body="Question one?\n")


def test_snapshot_of_a_private_document_is_private_even_over_a_wider_one(project: Path) -> None:
    doc = make_doc(project, mode=0o600)
    proj = Project.for_document(doc)
    snap = Path(proj.snapshot_path(doc))
    snap.parent.mkdir(parents=True)
    snap.write_text("left by another tool with umask 022\n")
    snap.chmod(0o644)
    r = run_cli("run", str(doc), "--agent", "offline", "--no-git", cwd=project)
    assert r.returncode == 0, r
    assert "## Assistant" in snap.read_text()
    assert mode(snap) == 0o600
    # and a fresh one too
    r = run_cli("reset", str(doc), cwd=project)
    assert r.returncode == 0 and not snap.exists(), r
    with doc.open("a") as fh:
        fh.write("Question two?\n")
    assert run_cli("run", str(doc), "--agent", "offline", "--no-git", cwd=project).returncode == 0
    assert mode(snap) == 0o600


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_pending_answer_of_a_private_document_is_private(project: Path) -> None:
    """The write-back fails (the document is read-only, for real): the answer stays in the
    pending journal, which must be owner-only."""
    doc = make_doc(project, mode=0o400)
    prefix = (
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
        if os.geteuid() == 0 else []
    )
    p = subprocess.run(
        [*prefix, sys.executable, "-m", "agent_doc", "write", str(doc)],
        cwd=project, input="A written answer.\n", capture_output=True, text=True, timeout=60,
    )
    assert p.returncode == 1 and "read-only" in p.stderr, p.stderr
    pending = Project.for_document(doc).pending_path(doc)
    assert os.path.exists(pending), p.stderr
    assert mode(pending) == 0o600


@pytest.mark.parametrize("perm", [0o600, 0o640], ids=["0600", "0640"])
def test_a_version_saved_aside_is_as_readable_as_the_document(project: Path, perm: int) -> None:
    from agent_doc.writeback import _save_aside

    doc = make_doc(project, mode=perm)
    saved = _save_aside(str(doc), b"an editor's version we could not merge\n")
    assert Path(saved).parent == project
    assert mode(saved) == perm


@pytest.mark.parametrize(("folder", "expected"), [(0o700, 0o600), (0o750, 0o640), (0o755, 0o644)],
                         ids=["0700", "0750", "0755"])
def test_registry_and_claims_log_follow_the_project_folder(
    project: Path, tmux_server: TmuxServer, folder: int, expected: int
) -> None:
    doc = make_doc(project, mode=0o644)
    proj = Project.for_document(doc)
    log = Path(proj.claims_log)
    log.write_text("Claimed old.md for pane %9\n")  # left wide by an older version
    log.chmod(0o644)
    project.chmod(folder)
    pane = tmux_server.start()
    r = run_cli("claim", str(doc), "--pane", pane, cwd=project)
    assert r.returncode == 0, r
    assert mode(proj.registry_path) == expected
    assert mode(log) == expected
    assert "Claimed notes.md for pane" in log.read_text()
