"""Only regular files are documents, and no state file is ever blocked on (issue 11, item 6).

A FIFO opened for reading blocks until a writer comes — forever, for a document nobody
writes. Each test puts a FIFO where agent-doc reads (the document itself, a link to a FIFO,
a state file under ``.agent-doc/``, a config file) and runs the real CLI with a timeout that
catches the hang; the command must end with exit 1 and an error naming the file as a FIFO (or,
for a report such as ``status``, go on without it). The watch daemon must skip a FIFO among
its documents with a warning, keep answering the others, and stop on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from agent_doc.project import Project
from helpers.cli import Result, run_cli
from helpers.tmux import TmuxServer
from helpers.waiting import wait_until

DOC = (
    "---\nagent_doc_session: {sid}\nagent: offline\n---\n\n# Session: fifo\n\n"
    "<!-- agent:log -->\n<!-- /agent:log -->\n\n## User\n\nQuestion one?\n"
)
#: long enough for any command on a loaded machine, short enough to catch a hang
HANG = 20.0


def _cli(*args: str, cwd: Path, input: str | None = None) -> Result:
    try:
        return run_cli(*args, cwd=cwd, input=input, timeout=HANG)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`agent-doc {' '.join(args)}` hung (no answer within {HANG:.0f}s)")


def _refused_as_fifo(r: Result, name: str) -> None:
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr, r
    assert "FIFO" in r.stderr and name in r.stderr and "hint:" in r.stderr, r


DOC_COMMANDS = {
    "diff": (["diff", "{d}"], None),
    "run": (["run", "{d}", "--agent", "offline", "--no-git"], None),
    "patch": (["patch", "{d}", "log", "entry"], None),
    "outline": (["outline", "{d}"], None),
    "reset": (["reset", "{d}"], None),
    "write": (["write", "{d}"], "An answer.\n"),
    "claim": (["claim", "{d}", "--pane", "{pane}"], None),
    "route": (["route", "{d}", "--pane", "{pane}"], None),
}


@pytest.mark.parametrize("linked", [False, True], ids=["fifo", "link-to-fifo"])
@pytest.mark.parametrize("command", sorted(DOC_COMMANDS))
def test_a_fifo_document_is_refused_by_every_command(
    tmp_path: Path, project: Path, tmux_server: TmuxServer, command: str, linked: bool
) -> None:
    fifo = project / "notes.md"
    if linked:
        target = tmp_path / "pipe"
        os.mkfifo(target)
        fifo.symlink_to(target)
    else:
        os.mkfifo(fifo)
    pane = tmux_server.start() if command in ("claim", "route") else ""
    args, stdin = DOC_COMMANDS[command]
    r = _cli(*(a.format(d=str(fifo), pane=pane) for a in args), cwd=project, input=stdin)
    _refused_as_fifo(r, str(fifo))
    assert r.stderr.count("Error:") == 1
    # nothing was written for it: no snapshot, no pending answer, no registry entry
    proj = Project.for_document(fifo)
    assert not os.path.lexists(proj.snapshot_path(fifo))
    assert not os.path.lexists(proj.pending_path(fifo))
    assert not os.path.lexists(proj.registry_path)


def test_a_socket_document_is_refused(project: Path) -> None:
    import socket

    path = project / "sock.md"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        r = _cli("diff", str(path), cwd=project)
    assert r.returncode == 1 and "a socket, not a regular file" in r.stderr, r


def test_init_refuses_a_fifo_and_leaves_it(project: Path) -> None:
    """A guard (init never overwrote anything): the FIFO is neither opened nor replaced."""
    fifo = project / "notes.md"
    os.mkfifo(fifo)
    r = _cli("init", str(fifo), cwd=project)
    assert r.returncode == 1, r
    assert os.path.exists(fifo) and not fifo.is_file()


# -- FIFOs as state and config files -----------------------------------------------------------

STATE_FIFOS = [
    # (the FIFO's place, relative to the project, "{h}" = the document's hash; the command)
    ("snapshots/{h}.md", ["diff", "{d}"]),
    ("snapshots/{h}.md", ["run", "{d}", "--agent", "offline", "--no-git"]),
    ("pending/{h}.json", ["recover", "{d}"]),
    ("pending/{h}.json", ["status"]),
    ("sessions.json", ["status"]),
    ("sessions.json", ["route", "{d}", "--pane", "%0"]),
    ("watch.pid", ["status"]),
    ("watch.pid", ["watch", "--status"]),
    ("claims.log", ["claims"]),
    ("locks/{h}.lock", ["status"]),
    ("sessions.json.lock", ["status"]),
    ("config.toml", ["run", "{d}", "--no-git"]),
    ("components.toml", ["patch", "{d}", "log", "entry"]),
]


@pytest.mark.parametrize(("place", "args"), STATE_FIFOS,
                         ids=[f"{p}-{a[0]}" for p, a in STATE_FIFOS])
def test_a_fifo_under_agent_doc_never_hangs_a_command(
    project: Path, place: str, args: list[str]
) -> None:
    doc = project / "notes.md"
    doc.write_text(DOC.format(sid=uuid.uuid4()).replace("agent: offline\n", ""))
    proj = Project.for_document(doc)
    h = os.path.basename(proj.snapshot_path(doc))[: -len(".md")]
    for sub in ("snapshots", "locks", "pending"):
        Path(proj.state_dir, sub).mkdir()
    fifo = Path(proj.state_dir, place.format(h=h))
    os.mkfifo(fifo)
    # `run` reads config.toml only to choose the agent: that case names none
    env_agent = ["--agent", "offline"] if args[0] == "run" and place != "config.toml" else []
    r = _cli(*(a.format(d=str(doc)) for a in args), *env_agent, cwd=project)
    assert "Traceback" not in r.stderr, r
    if r.returncode != 0:
        _refused_as_fifo(r, str(fifo))
    assert os.path.exists(fifo) and not fifo.is_file()  # left alone, never replaced


# -- the watch daemon ------------------------------------------------------------------------


def test_watch_skips_a_fifo_answers_the_others_and_stops_on_sigterm(project: Path) -> None:
    fifo = project / "pipe.md"
    os.mkfifo(fifo)
    doc = project / "doc.md"
    doc.write_text(DOC.format(sid=uuid.uuid4()))
    log = project.parent / "watch.log"
    with open(log, "wb") as fh:
        p = subprocess.Popen(
            [sys.executable, "-m", "agent_doc", "watch", str(fifo), str(doc), "--agent",
             "offline", "--debounce", "50"],
            cwd=project, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ),
        )
    try:
        wait_until(lambda: "Watching 2 file(s)" in log.read_text(errors="replace"),
                   "the daemon to start watching both files", timeout=30,
                   seen=lambda: log.read_text(errors="replace"), while_alive=p)
        os.utime(fifo)  # an event on the FIFO: the daemon looks at it first...
        time.sleep(0.3)
        with doc.open("a") as f:  # ...and must still answer the regular document
            f.write("Question two?\n")
        wait_until(lambda: "## Assistant" in doc.read_text(),
                   "doc.md to be answered (else the daemon is stuck)", timeout=30,
                   seen=lambda: log.read_text(errors="replace"), while_alive=p)
        os.kill(p.pid, signal.SIGTERM)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon ignored SIGTERM:\n{log.read_text()}")
        assert rc == 0, log.read_text()
        text = log.read_text()
        assert "warning: skipping pipe.md" in text and "FIFO" in text, text
        assert "Watch daemon stopped." in text
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
