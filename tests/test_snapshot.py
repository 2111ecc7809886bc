"""The snapshot store (Part B §2.3; SPEC A3, A5; fixes C13, C15, C17)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent_doc.project import Project, doc_hash
from agent_doc.snapshot import SnapshotStore
from safefile import is_locked_elsewhere


def test_name_is_sha256_of_the_real_path_as_in_the_reference() -> None:
    # the example of Part B §2.3
    assert doc_hash("/home/u/proj/plan.md") == (
        "e959f5c20672184fb4c470faeab50eea0d77a0e61dbbf7d5ad1fdc861db78b4c"
    )


def test_snapshot_paths(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = project / "notes" / "plan.md"
    doc.parent.mkdir()
    doc.write_text("x")
    link = project / "link.md"
    link.symlink_to(doc)
    p = Project.for_document(doc)
    h = hashlib.sha256(os.path.realpath(doc).encode()).hexdigest()
    assert p.snapshot_path(doc) == str(project / ".agent-doc" / "snapshots" / f"{h}.md")
    assert p.snapshot_lock_path(doc) == str(project / ".agent-doc" / "snapshots" / f"{h}.md.lock")
    # a symlink or a relative spelling names the same snapshot
    assert Project.for_document(link).snapshot_path(link) == p.snapshot_path(doc)
    monkeypatch.chdir(project / "notes")
    assert Project.for_document("plan.md").snapshot_path("plan.md") == p.snapshot_path(doc)


def test_save_load_delete(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("doc")
    store = SnapshotStore(Project.for_document(doc))
    assert store.load(doc) is None
    assert store.delete(doc) is False
    store.save(doc, "snap\r\nwith crlf")
    assert store.load(doc) == "snap\r\nwith crlf"
    assert stat.S_IMODE(os.stat(store.path(doc)).st_mode) == 0o600
    assert store.delete(doc) is True
    assert store.load(doc) is None
    assert Path(store.path(doc) + ".lock").exists()  # lock files are never deleted


def test_snapshot_dir_is_created_on_first_save(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    (root / ".git").mkdir()  # a git root without .agent-doc yet
    doc = root / "a.md"
    doc.write_text("x")
    store = SnapshotStore(Project.for_document(doc))
    store.save(doc, "s")
    assert (root / ".agent-doc" / "snapshots").is_dir()


def test_unreadable_snapshot_is_missing_with_a_warning(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = project / "d.md"
    doc.write_text("doc")
    store = SnapshotStore(Project.for_document(doc))
    Path(store.path(doc)).parent.mkdir(parents=True, exist_ok=True)
    Path(store.path(doc)).write_bytes(b"not \xff utf-8")
    assert store.load(doc) is None
    err = capsys.readouterr().err
    assert "warning" in err and store.path(doc) in err and "unreadable" in err
    with store.transaction(doc) as txn:
        assert txn.text is None
    assert "warning" in capsys.readouterr().err
    os.unlink(store.path(doc))
    os.mkdir(store.path(doc))  # a folder where the file should be
    assert store.load(doc) is None
    assert "unreadable" in capsys.readouterr().err


def test_transaction_applies_only_on_success(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("doc")
    store = SnapshotStore(Project.for_document(doc))
    store.save(doc, "v1")
    with pytest.raises(RuntimeError), store.transaction(doc) as txn:
        txn.set("v2")
        raise RuntimeError("agent failed")
    assert store.load(doc) == "v1"
    with store.transaction(doc) as txn:
        assert txn.text == "v1"
        txn.set("v2")
        # the reference's lock file is held for the whole transaction
        assert is_locked_elsewhere(store.path(doc) + ".lock")
    assert store.load(doc) == "v2"
    with store.transaction(doc) as txn:
        txn.delete()
    assert store.load(doc) is None


INCREMENT = """
import sys
from agent_doc.project import Project
from agent_doc.snapshot import SnapshotStore
doc = sys.argv[1]
store = SnapshotStore(Project.for_document(doc))
for _ in range(int(sys.argv[2])):
    with store.transaction(doc) as txn:
        txn.set(str(int(txn.text or "0") + 1))
"""


def test_transactions_lose_no_update_across_processes(project: Path) -> None:
    doc = project / "counter.md"
    doc.write_text("x")
    procs = [
        subprocess.Popen([sys.executable, "-c", INCREMENT, str(doc), "40"], cwd=cwd)
        for cwd in (project, project.parent, "/", project, project.parent, "/")
    ]  # different working directories: state never depends on the CWD (C13)
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    assert SnapshotStore(Project.for_document(doc)).load(doc) == "240"


def test_a_linked_snapshot_is_refused_never_read_or_written(tmp_path: Path) -> None:
    from safefile import NotRegularFileError

    root = tmp_path / "proj"
    (root / ".agent-doc" / "snapshots").mkdir(parents=True)
    doc = root / "d.md"
    doc.write_text("hello\n")
    secret = tmp_path / "secret"
    secret.write_text("a private key\n")
    store = SnapshotStore(Project(root))
    os.symlink(secret, store.path(doc))
    for call in (lambda: store.peek(doc), lambda: store.load(doc),
                 lambda: store.save(doc, "x")):
        with pytest.raises(NotRegularFileError):
            call()
    assert secret.read_text() == "a private key\n"
