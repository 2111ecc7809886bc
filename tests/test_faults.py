"""Real faults (issue 11 items 4 and 5): a full disk (a tiny tmpfs), folders we may not write
(root without CAP_DAC_OVERRIDE, through ``setpriv``), a document renamed while its agent
answers. A paid answer or a ``write`` response is never lost; a command that fails has changed
nothing; messages name the file and the real cause."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

import helpers.docs
from helpers.agents import claude_calls
from helpers.cli import Result, run_cli
from helpers.docs import CONVERSATION
from helpers.waiting import wait_until

ANSWER = "Answer from fake claude"
SETPRIV = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


make_doc = partial(helpers.docs.make_doc, agent="claude", blank=True, title=CONVERSATION,
                   body="Question one?\n")


def state(doc: Path, what: str) -> Path:
    from agent_doc.project import Project

    p = Project.for_document(doc)
    return Path(p.snapshot_path(doc) if what == "snapshot" else p.pending_path(doc))


def unprivileged(*args: str, cwd: Path | None = None, input: str | None = None,
                 env: dict[str, str] | None = None) -> Result:
    """The CLI as root without the capabilities that ignore permission bits (or as is, when
    we are not root): mode bits apply."""
    argv = [sys.executable, "-m", "agent_doc", *args]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv is not installed: root would ignore the permission bits")
        argv = [*SETPRIV, *argv]
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run(argv, cwd=cwd, input=input, capture_output=True, text=True, env=full,
                       timeout=120)
    return Result(p.returncode, p.stdout, p.stderr)


class SmallDisk:
    """A tmpfs of a few hundred KiB mounted for one test; ``fill`` makes it full."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def fill(self, leave: int = 0) -> None:
        """Fill the file system, then free ``leave`` bytes again."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        if leave:
            size = self.filler.stat().st_size
            os.truncate(self.filler, max(0, size - leave))

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a real full disk) needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield SmallDisk(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def first_run(doc: Path) -> None:
    """One cycle, so snapshot, locks and folders exist as they do in a project in use."""
    r = run_cli("run", str(doc), "--no-git")
    assert r.returncode == 0, r


# -- item 4: a paid answer is never lost --------------------------------------------------------


def test_full_disk_fails_before_the_agent_is_paid(small_disk: SmallDisk,
                                                  fake_claude: Path) -> None:
    root = small_disk.root / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    doc = make_doc(root)
    first_run(doc)
    with doc.open("a") as fh:
        fh.write("Question two?\n")
    before = doc.read_bytes()
    small_disk.fill()
    r = run_cli("run", str(doc), "--no-git")
    assert r.returncode == 1, r
    assert len(claude_calls(fake_claude)) == 1, "the agent was paid with no room for the answer"
    assert "No space left on device" in r.stderr, r.stderr
    assert "nothing was sent to the agent" in r.stderr
    assert "hint: free some space" in r.stderr
    assert doc.read_bytes() == before
    assert not state(doc, "pending").exists()
    small_disk.free()
    r = run_cli("run", str(doc), "--no-git")
    assert r.returncode == 0, r
    assert doc.read_text().count(ANSWER) == 2
    assert not list((root / ".agent-doc" / "pending").iterdir()), "reservation left behind"


def test_answer_the_disk_cannot_hold_is_kept_elsewhere_and_recovered(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    """The reservation fits, the answer (600 KB) does not: it is kept in the user's state
    folder, the error names it, and following the hint applies it."""
    big = tmp_path / "big-agent"
    big.write_text(f"#!{sys.executable}\nimport sys\nsys.stdin.read()\n"
                   "print('word ' * 120000)\n")
    big.chmod(0o755)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "agent-doc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[agents.big]\ncommand = "{big}"\nprotocol = "text"\n')
    root = small_disk.root / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    doc = make_doc(root)
    (root / ".agent-doc" / "pending").mkdir()
    before = doc.read_bytes()
    small_disk.fill(leave=400 * 1024)
    r = run_cli("run", str(doc), "--no-git", "--agent", "big")
    assert r.returncode == 1, r
    m = re.search(r"it is kept in (\S+\.json)", r.stderr)
    assert m, r.stderr
    rescued = Path(m.group(1))
    assert "No space left on device" in r.stderr and str(state(doc, "pending")) in r.stderr
    record = json.loads(rescued.read_text())
    assert record["response"].startswith("word word")
    assert doc.read_bytes() == before
    small_disk.free()
    hint = r.stderr.split("hint:", 1)[1]
    cmd = re.search(r"`(mv .*?)`", hint)
    assert cmd, hint
    path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(cmd.group(1), shell=True, capture_output=True, text=True,
                          env=dict(os.environ, PATH=path))
    assert done.returncode == 0, done
    assert doc.read_text().count("## Assistant") == 1 and "word word word" in doc.read_text()
    assert not state(doc, "pending").exists()


def test_pending_folder_not_writable_fails_before_the_agent_is_paid(
    project: Path, fake_claude: Path
) -> None:
    doc = make_doc(project)
    pending = project / ".agent-doc" / "pending"
    pending.mkdir()
    pending.chmod(0o555)
    before = doc.read_bytes()
    r = unprivileged("run", str(doc), "--no-git")
    pending.chmod(0o755)
    assert r.returncode == 1, r
    assert claude_calls(fake_claude) == [], "the agent was paid with nowhere to keep the answer"
    assert "Permission denied" in r.stderr and str(pending) in r.stderr, r.stderr
    assert "No such file" not in r.stderr
    assert doc.read_bytes() == before


def test_write_response_is_kept_when_the_journal_cannot_be_written(project: Path) -> None:
    doc = make_doc(project)
    pending = project / ".agent-doc" / "pending"
    pending.mkdir()
    pending.chmod(0o555)
    before = doc.read_bytes()
    r = unprivileged("write", str(doc), input="The only copy of this response.\n")
    pending.chmod(0o755)
    assert r.returncode == 1, r
    m = re.search(r"it is kept in (\S+\.json)", r.stderr)
    assert m, r.stderr
    assert json.loads(Path(m.group(1)).read_text())["response"] == (
        "The only copy of this response.")
    assert doc.read_bytes() == before


def test_unwritable_snapshot_fails_before_the_agent_is_paid(
    project: Path, fake_claude: Path
) -> None:
    doc = make_doc(project)
    first_run(doc)
    with doc.open("a") as fh:
        fh.write("Question two?\n")
    snaps = project / ".agent-doc" / "snapshots"
    before, snap_before = doc.read_bytes(), state(doc, "snapshot").read_bytes()
    snaps.chmod(0o555)
    try:
        r = unprivileged("run", str(doc), "--no-git")
    finally:
        snaps.chmod(0o755)
    assert r.returncode == 1, r
    assert "could not write the response" not in r.stderr
    assert str(snaps) in r.stderr and "Permission denied" in r.stderr, r.stderr
    assert len(claude_calls(fake_claude)) == 1
    assert doc.read_bytes() == before and state(doc, "snapshot").read_bytes() == snap_before


def test_renamed_document_answer_is_listed_by_session_and_recovered_under_the_new_name(
    project: Path, fake_claude: Path
) -> None:
    doc = make_doc(project)
    session = re.search(r"agent_doc_session: (\S+)", doc.read_text()).group(1)
    full = dict(os.environ, FAKE_CLAUDE_SLEEP="1.5")
    proc = subprocess.Popen([sys.executable, "-m", "agent_doc", "run", str(doc), "--no-git"],
                            env=full, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_until(lambda: claude_calls(fake_claude), "the agent to be called", 30,
               seen=lambda: f"no call logged; `run` exit status: {proc.poll()}")
    new = project / "renamed.md"
    os.rename(doc, new)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "recover NEWNAME" in err
    st = run_cli("status", cwd=project)
    assert st.returncode == 0, st
    assert f"session {session}" in st.stdout, st.stdout
    r = run_cli("recover", str(new))
    assert r.returncode == 0, r
    assert new.read_text().count(ANSWER) == 1
    assert not list((project / ".agent-doc" / "pending").glob("*.json"))
    assert run_cli("diff", str(new)).stdout == ""  # the snapshot is the new name's now
    assert run_cli("recover", str(new)).stderr.startswith("No pending response")


def test_permission_error_is_not_reported_as_a_missing_file(project: Path) -> None:
    sub = project / "private"
    doc = make_doc(sub)
    sub.chmod(0o000)
    try:
        r = unprivileged("run", str(doc), "--no-git")
    finally:
        sub.chmod(0o755)
    assert r.returncode == 1, r
    assert "Permission denied" in r.stderr and "file not found" not in r.stderr, r.stderr
    assert "hint: check the permissions" in r.stderr


# -- item 5: a command either did its job or changed nothing ----------------------------------


def test_patch_append_with_an_unwritable_snapshot_changes_nothing(project: Path) -> None:
    (project / ".agent-doc" / "components.toml").write_text('[log]\nmode = "append"\n')
    doc = make_doc(project, body="<!-- agent:log -->\n<!-- /agent:log -->\n")
    assert run_cli("patch", str(doc), "log", "entry one").returncode == 0
    before = doc.read_bytes()
    snaps = project / ".agent-doc" / "snapshots"
    snaps.chmod(0o555)
    try:
        r = unprivileged("patch", str(doc), "log", "entry two")
    finally:
        snaps.chmod(0o755)
    assert r.returncode == 1, r
    assert "was not changed" in r.stderr and "Permission denied" in r.stderr, r.stderr
    assert doc.read_bytes() == before
    assert run_cli("patch", str(doc), "log", "entry two").returncode == 0  # the retry
    assert doc.read_text().count("entry two") == 1


def test_reset_with_an_undeletable_snapshot_changes_nothing(project: Path) -> None:
    doc = make_doc(project, extra="resume: conv-1\n")
    snap = state(doc, "snapshot")
    snap.parent.mkdir(parents=True)
    snap.write_text("baseline\n")
    before = doc.read_bytes()
    snap.parent.chmod(0o555)
    try:
        r = unprivileged("reset", str(doc))
    finally:
        snap.parent.chmod(0o755)
    assert r.returncode == 1, r
    assert str(snap) in r.stderr
    assert doc.read_bytes() == before and snap.exists()
    assert run_cli("reset", str(doc)).returncode == 0
    assert "resume" not in doc.read_text() and not snap.exists()


def test_init_on_a_full_disk_leaves_no_folders_behind(small_disk: SmallDisk) -> None:
    root = small_disk.root / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    small_disk.fill()
    r = run_cli("init", str(root / "notes" / "2026" / "new.md"), "--agent", "offline")
    assert r.returncode == 1, r
    assert "No space left on device" in r.stderr and "new.md" in r.stderr, r.stderr
    assert "hint: free some space" in r.stderr
    assert not (root / "notes").exists()


def test_snapshot_failing_after_the_answer_was_written_is_a_warning(
    project: Path, tmp_path: Path
) -> None:
    """Only the snapshot fails, after the document holds the answer (the agent itself takes
    the permission away while it answers): exit 0 with a warning naming the snapshot — a
    failure exit would invite a retry that pays and appends again — and `recover` records the
    snapshot later without a second answer."""
    snaps = project / ".agent-doc" / "snapshots"
    agent = tmp_path / "chmod-agent"
    agent.write_text(f"#!{sys.executable}\nimport os, sys\nsys.stdin.read()\n"
                     f"os.chmod({str(snaps)!r}, 0o555)\nprint('The answer.')\n")
    agent.chmod(0o755)
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "agent-doc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[agents.sly]\ncommand = "{agent}"\nprotocol = "text"\n')
    doc = make_doc(project)
    snaps.mkdir()
    try:
        r = unprivileged("run", str(doc), "--no-git", "--agent", "sly")
    finally:
        snaps.chmod(0o755)
    assert r.returncode == 0, r
    assert "could not write the response" not in r.stderr
    assert "warning: the answer is in" in r.stderr and str(state(doc, "snapshot")) in r.stderr
    assert "no permission to create a file in" in r.stderr, r.stderr
    assert f"agent-doc recover {doc}" in r.stderr
    assert doc.read_text().count("The answer.") == 1
    assert state(doc, "pending").exists()
    rec = run_cli("recover", str(doc))
    assert rec.returncode == 0, rec
    assert doc.read_text().count("The answer.") == 1
    assert not state(doc, "pending").exists()
    assert run_cli("diff", str(doc)).stdout == ""
