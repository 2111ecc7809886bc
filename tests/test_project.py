"""Project root discovery and state paths (SPEC A2, A3; fixes C13, C20, C41)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_doc.project import Project, doc_hash, find_root


def test_nearest_agent_doc_folder_wins(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    inner = outer / "a" / "inner"
    (outer / ".agent-doc").mkdir(parents=True)
    (inner / ".agent-doc").mkdir(parents=True)
    (inner / "deep").mkdir()
    assert find_root(inner / "deep") == str(inner)
    assert find_root(outer / "a") == str(outer)


def test_agent_doc_beats_a_nearer_git_root(tmp_path: Path) -> None:
    (tmp_path / "p" / ".agent-doc").mkdir(parents=True)
    (tmp_path / "p" / "sub" / ".git").mkdir(parents=True)  # e.g. a submodule
    assert find_root(tmp_path / "p" / "sub") == str(tmp_path / "p")


def test_git_root_then_own_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    assert find_root(repo / "docs") == str(repo)
    loose = tmp_path / "loose"
    loose.mkdir()
    assert find_root(loose) == str(loose)


def test_document_root_follows_the_real_path(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / ".agent-doc").mkdir(parents=True)
    doc = proj / "notes" / "plan.md"
    doc.parent.mkdir()
    doc.write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = elsewhere / "plan.md"
    link.symlink_to(doc)
    assert Project.for_document(link).root == str(proj)
    assert Project.for_document(link).snapshot_path(link) == Project.for_document(
        doc).snapshot_path(doc)


def test_state_paths(project: Path) -> None:
    doc = project / "plan.md"
    doc.write_text("x")
    p = Project.for_document(doc)
    h = hashlib.sha256(str(doc.resolve()).encode()).hexdigest()
    state = project / ".agent-doc"
    assert p.root == str(project) and p.state_dir == str(state)
    # every path is a plain str (pathlib stays off the hotkey path)
    assert all(isinstance(x, str) for x in (p.root, p.registry_path, p.snapshot_path(doc)))
    assert p.registry_path == str(state / "sessions.json")
    assert p.claims_log == str(state / "claims.log")
    assert p.watch_pid_path == str(state / "watch.pid")
    assert p.components_toml == str(state / "components.toml")
    assert p.config_toml == str(state / "config.toml")
    assert p.snapshot_path(doc) == str(state / "snapshots" / f"{h}.md")
    assert p.snapshot_lock_path(doc) == str(state / "snapshots" / f"{h}.md.lock")
    assert p.doc_lock_path(doc) == str(state / "locks" / f"{h}.lock")
    assert p.submit_lock_path(doc) == str(state / "locks" / f"{h}.submit.lock")
    assert p.pending_path(doc) == str(state / "pending" / f"{h}.json")
    assert Path(p.watch_lock_path).parent == Path(p.git_lock_path).parent == Path(p.locks_dir)
    assert p.doc_lock(doc).path == p.doc_lock_path(doc)
    assert p.submit_lock(doc).path == p.submit_lock_path(doc)
    assert p.doc_lock(doc).what == f"document {doc}"
    p.ensure_dirs()
    for d in (p.snapshots_dir, p.locks_dir, p.pending_dir):
        assert os.path.isdir(d)


def test_rel_and_resolve(project: Path) -> None:
    doc = project / "tasks" / "plan.md"
    doc.parent.mkdir()
    doc.write_text("x")
    p = Project(project)
    assert p.rel(doc) == "tasks/plan.md"
    outside = project.parent / "other.md"
    outside.write_text("x")
    assert p.rel(outside) == str(outside.resolve())
    assert p.resolve("tasks/plan.md") == str(doc)
    assert p.resolve(str(outside)) == str(outside)


SHOW = """
import sys
from agent_doc.project import Project
p = Project.for_document(sys.argv[1])
print(p.root, p.snapshot_path(sys.argv[1]), p.registry_path, p.doc_lock_path(sys.argv[1]))
"""


def test_state_does_not_depend_on_the_working_directory(project: Path) -> None:
    doc = project / "a" / "b" / "doc.md"
    doc.parent.mkdir(parents=True)
    doc.write_text("x")
    outs = set()
    for cwd, arg in ((project, "a/b/doc.md"), (doc.parent, "doc.md"), ("/", str(doc)),
                     (project / "a", "b/../b/doc.md")):
        out = subprocess.run([sys.executable, "-c", SHOW, arg], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout
        outs.add(out)
    assert len(outs) == 1
    assert outs.pop().split()[0] == str(project)


def test_for_cwd(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = project / "x" / "y"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert Project.for_cwd().root == str(project)
    assert Project.for_cwd(project / "x").root == str(project)


def test_hash_of_a_path_that_is_not_utf8(tmp_path: Path) -> None:
    """The reference hashes ``to_string_lossy()``: invalid bytes become U+FFFD."""
    folder = os.fsencode(tmp_path)
    name = folder + b"/caf\xe9.md"
    with open(name, "wb") as fh:
        fh.write(b"x")
    lossy = os.path.realpath(folder) + "/caf\ufffd.md".encode()
    assert doc_hash(os.fsdecode(name)) == hashlib.sha256(lossy).hexdigest()


def test_ensure_dirs_refuses_a_linked_state_folder(tmp_path: Path) -> None:
    from safefile import NotRegularFileError

    root = tmp_path / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (root / ".agent-doc" / "locks").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(NotRegularFileError) as info:
        Project(root).ensure_dirs()
    assert str(root / ".agent-doc" / "locks") in str(info.value)
    assert list((tmp_path / "elsewhere").iterdir()) == []
