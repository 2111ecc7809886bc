"""State under ``.agent-doc/`` is never a way to write outside the project (issue 11, item 2).

A cloned project can carry a committed ``.agent-doc/`` whose entries are symbolic links to
anywhere. Each test plants one such link — a state file, a state folder, or ``.agent-doc``
itself — pointing at a victim outside the project, then runs every command a user would (the
real CLI, a real tmux server, a real watch daemon) and checks after *each* one that the victim
is byte for byte, name for name and mode for mode what it was. Commands that meet the link
must refuse with a message naming it; none may hang or print a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from agent_doc.project import Project
from helpers.cli import Result, run_cli
from helpers.tmux import TmuxServer
from helpers.waiting import wait_until

DOC = (
    "---\nagent_doc_session: {sid}\nagent: offline\n---\n\n# Session: links\n\n"
    "<!-- agent:log -->\n<!-- /agent:log -->\n\n## User\n\nQuestion one?\n"
)
VICTIM = b"precious bytes of a file outside the project\n" * 8


def _tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: relative name -> (bytes, mode)."""
    out: dict[str, tuple[bytes, int]] = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            st = os.lstat(p)
            data = p.read_bytes() if not os.path.islink(p) else os.readlink(p).encode()
            out[str(p.relative_to(folder))] = (data, st.st_mode)
    return out


def _world(tmp_path: Path, project: Path) -> tuple[Path, Path, Project]:
    outside = tmp_path / "outside"
    outside.mkdir()
    doc = project / "notes.md"
    doc.write_text(DOC.format(sid=uuid.uuid4()))
    return outside, doc, Project.for_document(doc)


def _victims(outside: Path, names: list[str]) -> None:
    for name in names:
        (outside / name).write_bytes(VICTIM)
        os.chmod(outside / name, 0o640)


#: (id, the state path relative to the project, True for a folder link)
FILE_LINKS = [
    "sessions.json",
    "sessions.json.lock",
    "claims.log",
    "watch.pid",
    "snapshots/{h}.md",
    "snapshots/{h}.md.lock",
    "locks/{h}.lock",
    "locks/{h}.submit.lock",
    "locks/route.lock",
    "locks/watch.lock",
    "pending/{h}.json",
]
FOLDER_LINKS = {
    # the folder, and the names agent-doc would use inside it (victims with those names)
    "snapshots": ["{h}.md", "{h}.md.lock"],
    "locks": ["{h}.lock", "{h}.submit.lock", "route.lock", "watch.lock"],
    "pending": ["{h}.json"],
    ".": ["sessions.json", "sessions.json.lock", "claims.log", "watch.pid"],  # .agent-doc
}


def _start_watch(project: Path, doc: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "agent_doc", "watch", str(doc), "--agent", "offline"],
            cwd=project, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ),
        )


def _wait_watch(p: subprocess.Popen[bytes], log: Path) -> None:
    """Until the daemon watches (or has exited); a daemon that does neither fails the test."""

    def watching_or_ended() -> bool:
        if p.poll() is not None:
            return True
        text = log.read_text(errors="replace")
        return "Watching" in text or "No session files" in text

    wait_until(watching_or_ended, "watch to start watching or to exit", 30,
               seen=lambda: log.read_text(errors="replace"), interval=0.05)


def _commands(doc: Path, pane: str) -> list[tuple[str, list[str], str | None]]:
    d = str(doc)
    return [
        ("diff", ["diff", d], None),
        ("run", ["run", d, "--agent", "offline", "--no-git"], None),
        ("patch", ["patch", d, "log", "an entry"], None),
        ("write", ["write", d], "A written answer.\n"),
        ("reset", ["reset", d], None),
        ("recover", ["recover", d], None),
        ("route", ["route", d, "--pane", pane], None),
        ("claim", ["claim", d, "--pane", pane], None),
        ("resync", ["resync"], None),
        ("status", ["status"], None),
        ("claims", ["claims"], None),
    ]


def _run_everything(
    project: Path, doc: Path, outside: Path, tmux_server: TmuxServer, link: Path
) -> None:
    before = _tree(outside)
    first = tmux_server.start()
    refused: list[str] = []
    problems: list[str] = []

    def check(name: str, r: Result) -> None:
        if "Traceback" in r.stderr:
            problems.append(f"{name}: traceback\n{r.stderr[-800:]}")
        if r.returncode != 0:
            if "symbolic link" in r.stderr and str(link) in r.stderr:
                refused.append(name)
            else:
                problems.append(f"{name}: failed without naming the link: {r!r}")
        now = _tree(outside)
        if now != before:
            problems.append(f"{name}: the files outside the project changed: "
                            f"{sorted(set(now) ^ set(before)) or 'contents/modes'}")

    for name, args, stdin in _commands(doc, first):
        r = run_cli(*args, cwd=project, input=stdin, timeout=60)
        check(name, r)
    log = project.parent / "watch.log"
    p = _start_watch(project, doc, log)
    try:
        _wait_watch(p, log)
        stop = run_cli("watch", "--stop", cwd=project, timeout=60)
        check("watch --stop", stop)
        rc = p.wait(timeout=30)
        text = log.read_text(errors="replace")
        check("watch", Result(rc, "", text))
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert not problems, "\n".join(problems)
    assert refused, "no command met the link: the test tests nothing"


@pytest.mark.parametrize("rel", FILE_LINKS)
def test_a_linked_state_file_is_never_followed(
    tmp_path: Path, project: Path, tmux_server: TmuxServer, rel: str
) -> None:
    outside, doc, proj = _world(tmp_path, project)
    h = os.path.basename(proj.snapshot_path(doc))[: -len(".md")]
    _victims(outside, ["victim.txt"])
    state = Path(proj.state_dir)
    for sub in ("snapshots", "locks", "pending"):
        (state / sub).mkdir()
    link = state / rel.format(h=h)
    link.symlink_to(outside / "victim.txt")
    _run_everything(project, doc, outside, tmux_server, link)


@pytest.mark.parametrize("folder", sorted(FOLDER_LINKS))
def test_a_linked_state_folder_is_never_followed(
    tmp_path: Path, project: Path, tmux_server: TmuxServer, folder: str
) -> None:
    outside, doc, proj = _world(tmp_path, project)
    h = os.path.basename(proj.snapshot_path(doc))[: -len(".md")]
    _victims(outside, [n.format(h=h) for n in FOLDER_LINKS[folder]])
    state = Path(proj.state_dir)
    if folder == ".":
        state.rmdir()
        link = state
    else:
        link = state / folder
    link.symlink_to(outside, target_is_directory=True)
    _run_everything(project, doc, outside, tmux_server, link)


def test_a_dangling_state_link_creates_nothing_outside(tmp_path: Path, project: Path) -> None:
    """A link to a file that does not exist yet: following it would create that file."""
    outside, doc, proj = _world(tmp_path, project)
    link = Path(proj.registry_path)
    link.symlink_to(outside / "created-by-agent-doc")
    Path(proj.snapshots_dir).mkdir()
    Path(proj.snapshot_path(doc)).symlink_to(outside / "snapshot-created-by-agent-doc")
    r = run_cli("run", str(doc), "--agent", "offline", "--no-git", cwd=project)
    assert r.returncode == 1 and "symbolic link" in r.stderr, r
    assert "hint:" in r.stderr
    assert list(outside.iterdir()) == []


def test_refusal_changes_nothing_and_removing_the_link_recovers(
    tmp_path: Path, project: Path
) -> None:
    outside, doc, proj = _world(tmp_path, project)
    _victims(outside, ["victim.txt"])
    Path(proj.snapshots_dir).mkdir()
    snap = Path(proj.snapshot_path(doc))
    snap.symlink_to(outside / "victim.txt")
    text = doc.read_bytes()
    r = run_cli("run", str(doc), "--agent", "offline", "--no-git", cwd=project)
    assert r.returncode == 1, r
    assert f"refusing to use {snap}: it is a symbolic link" in r.stderr
    assert f"hint: remove the link (`rm {snap}`)" in r.stderr
    assert doc.read_bytes() == text  # nothing sent, nothing written
    assert not Path(proj.pending_path(doc)).exists()
    snap.unlink()
    r = run_cli("run", str(doc), "--agent", "offline", "--no-git", cwd=project)
    assert r.returncode == 0, r
    assert snap.is_file() and not snap.is_symlink()
    assert (outside / "victim.txt").read_bytes() == VICTIM


def test_a_symlinked_document_is_still_written_through(tmp_path: Path, project: Path) -> None:
    """Only state refuses links: a document the user linked keeps being written through."""
    real = tmp_path / "elsewhere" / "real.md"
    real.parent.mkdir()
    real.write_text(DOC.format(sid=uuid.uuid4()))
    doc = project / "linked.md"
    doc.symlink_to(real)
    r = run_cli("run", str(doc), "--agent", "offline", "--no-git", cwd=project)
    assert r.returncode == 0, r
    assert doc.is_symlink() and "## Assistant" in real.read_text()
