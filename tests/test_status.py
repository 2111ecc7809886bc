"""`agent-doc status` and `resync`, and the rule every tmux command follows: without tmux or
without a server it fails clearly (message + hint, exit 1) and changes no state at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.cli import Result
from helpers.tmux import TmuxServer
from helpers.waiting import wait_until
from tmux_router.registry import make_entry


def setup_project(project: Path) -> dict[str, Path]:
    """A document with a UUID registered to a pane, and one without a UUID."""
    sid = str(uuid.uuid4())
    reg_doc = project / "reg.md"
    reg_doc.write_text(f"---\nagent_doc_session: {sid}\n---\n# reg\n", encoding="utf-8")
    bare = project / "bare.md"
    bare.write_text("# bare\n", encoding="utf-8")
    registry = project / ".agent-doc" / "sessions.json"
    registry.write_text(
        json.dumps({sid: make_entry("%0", pid=4242, cwd=str(project), file="reg.md")}, indent=2)
    )
    return {"reg": reg_doc, "bare": bare, "registry": registry}


COMMANDS = [
    ["claim", "bare.md", "--pane", "%0"],
    ["claim", "reg.md", "--position", "left"],
    ["route", "bare.md"],
    ["route", "reg.md"],
    ["focus", "reg.md"],
    ["layout", "reg.md", "bare.md"],
    ["sync", "--col", "reg.md,bare.md"],
    ["resync"],
    ["prompt", "reg.md"],
    ["prompt", "--all"],
    ["prompt", "--answer", "1", "reg.md"],
]


# `route` starts a server from cold and `prompt --all` prints `[]` without one (issue 14:
# tests/test_route.py, tests/test_prompt.py); `route` gives the document its session id before
# it looks for tmux, as the reference does (test_route.py::test_route_without_tmux_*)
NO_SERVER_COMMANDS = [a for a in COMMANDS if a[0] != "route" and a != ["prompt", "--all"]]
NO_TMUX_COMMANDS = [a for a in COMMANDS if a != ["route", "bare.md"]]


def _snapshot(paths: dict[str, Path], project: Path) -> dict[str, object]:
    """The bytes of the documents and the registry, and the list of every file."""
    state: dict[str, object] = {k: p.read_bytes() for k, p in paths.items()}
    state["files"] = sorted(str(p.relative_to(project)) for p in project.rglob("*"))
    return state


@pytest.mark.parametrize("args", NO_SERVER_COMMANDS, ids=lambda a: " ".join(a))
def test_no_server_fails_clearly_and_touches_nothing(
    cli: Callable[..., Result],
    project: Path,
    args: list[str],
) -> None:
    paths = setup_project(project)
    before = _snapshot(paths, project)
    r = cli(*args, cwd=project)
    assert r.returncode == 1, r
    assert "Error: no tmux server is running; nothing was changed" in r.stderr
    assert "hint:" in r.stderr
    assert _snapshot(paths, project) == before


@pytest.mark.parametrize("args", NO_TMUX_COMMANDS, ids=lambda a: " ".join(a))
def test_tmux_missing_fails_clearly_and_touches_nothing(
    cli: Callable[..., Result],
    project: Path,
    tmp_path: Path,
    args: list[str],
) -> None:
    paths = setup_project(project)
    before = _snapshot(paths, project)
    empty = tmp_path / "emptybin"
    empty.mkdir()
    r = cli(*args, cwd=project, env={"PATH": str(empty)})
    assert r.returncode == 1, r
    assert "Error: tmux is not installed" in r.stderr and "hint: install tmux" in r.stderr
    assert _snapshot(paths, project) == before


def test_start_writes_uuid_before_the_tmux_check(cli: Callable[..., Result], project: Path) -> None:
    doc = project / "s.md"
    doc.write_text("---\nsession: null\nagent: claude\n---\nbody\n", encoding="utf-8")
    r = cli("start", "s.md", cwd=project)
    assert r.returncode == 1
    assert "Generated session UUID:" in r.stderr
    assert "not running inside tmux" in r.stderr
    text = doc.read_text()
    assert "agent_doc_session: " in text and "agent: claude" in text
    r = cli("start", "missing.md", cwd=project)
    assert r.returncode == 1 and "file not found" in r.stderr
    r = cli("start", cwd=project)
    assert r.returncode == 2


def test_start_registers_its_pane_and_execs_the_agent(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "claude"
    fake.write_text("#!/bin/sh\necho \"fake claude pid $$\"\nexec sleep 60\n")
    fake.chmod(0o755)
    tmux_server.start()
    doc = project / "s.md"
    doc.write_text("# s\n", encoding="utf-8")
    cmd = (
        f"cd {project} && PATH={bindir}:$PATH PYTHONPATH={os.environ['PYTHONPATH']} "
        f"{sys.executable} -m agent_doc start s.md"
    )
    pane = tmux_server.tmux("new-window", "-d", "-P", "-F", "#{pane_id}", cmd)
    screen = tmux_server.wait_for(pane, "fake claude pid")
    assert "Starting claude..." in screen and "Registered session" in screen
    exec_pid = int(screen.split("fake claude pid")[1].split()[0])
    reg = json.loads((project / ".agent-doc" / "sessions.json").read_text())
    (entry,) = reg.values()
    assert entry["pane"] == pane and entry["file"] == "s.md"
    assert entry["pid"] == exec_pid  # the agent-doc process became the agent (exec)
    # resync keeps it while the agent runs
    assert cli("resync", cwd=project).returncode == 0
    assert len(json.loads((project / ".agent-doc" / "sessions.json").read_text())) == 1


def test_resync_reports_and_removes_dead_and_reused(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    first = tmux_server.start()
    pid = int(tmux_server.tmux("display-message", "-p", "-t", first, "#{pane_pid}"))
    reg = {
        "alive": make_entry(first, pid=pid, cwd=str(project), file="alive.md"),
        "dead": make_entry("%77", pid=5, cwd=str(project), file="dead.md"),
        "reused": make_entry(first, pid=pid + 123456, cwd=str(project), file=""),
    }
    path = project / ".agent-doc" / "sessions.json"
    path.write_text(json.dumps(reg, indent=2))
    r = cli("resync", "--json", cwd=project)
    assert r.returncode == 0, r
    assert "Removed 2 stale session(s):" in r.stderr
    assert "  dead.md (pane %77 removed)" in r.stderr
    assert f"  reused (pane {first} removed)" in r.stderr
    assert f"  alive.md → pane {first}" in r.stderr
    out = json.loads(r.stdout)
    assert [x["session_id"] for x in out["removed"]] == ["dead", "reused"]
    assert [x["session_id"] for x in out["active"]] == ["alive"]
    assert list(json.loads(path.read_text())) == ["alive"]
    r = cli("resync", cwd=project)
    assert "All 1 session(s) have live panes." in r.stderr


HOLDER = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
from safefile import FileLock
with FileLock(sys.argv[1]):
    open(sys.argv[2], "w").close()
    time.sleep(30)
"""


def test_status_shows_documents_pending_watch_and_locks(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    first = tmux_server.start()
    pid = int(tmux_server.tmux("display-message", "-p", "-t", first, "#{pane_pid}"))
    state = project / ".agent-doc"
    (state / "sessions.json").write_text(json.dumps({
        "k1": make_entry(first, pid=pid, cwd=str(project), file="alive.md"),
        "k2": make_entry("%55", pid=1, cwd=str(project), file="gone.md"),
    }, indent=2))
    (state / "pending").mkdir()
    (state / "pending" / "abc.json").write_text(json.dumps({"file": "alive.md", "response": "x"}))
    (state / "watch.pid").write_text("999999")
    lock = state / "locks" / "route.lock"
    ready = tmp_path / "ready"
    src = str(Path(__file__).resolve().parent.parent / "src")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(ready), src])
    try:
        wait_until(ready.exists, f"the holder to take {lock.name} (it then writes {ready})",
                   10, while_alive=holder)
        before = (state / "sessions.json").read_bytes()
        r = cli("status", "--json", cwd=project)
        assert r.returncode == 0, r
        st = json.loads(r.stdout)
        assert st["root"] == str(project.resolve())
        assert st["tmux"] == "running"
        docs = {d["file"]: d for d in st["documents"]}
        assert docs["alive.md"]["alive"] is True and docs["gone.md"]["alive"] is False
        assert st["pending"][0]["file"] == "alive.md"
        assert st["watch"] == {"running": False, "pid": 999999}
        assert [lk["path"] for lk in st["locks"]] == [str(lock)]
        assert f"pid {holder.pid}" in st["locks"][0]["holder"]
        r = cli("status", cwd=project)
        assert r.returncode == 0, r
        assert "alive.md  pane" in r.stdout and "(alive)" in r.stdout and "(dead)" in r.stdout
        assert "pending responses: 1" in r.stdout
        assert "watch: not running (stale pid file: 999999)" in r.stdout
        assert "locks held: 1" in r.stdout and str(lock) in r.stdout
        assert (state / "sessions.json").read_bytes() == before  # status never writes
    finally:
        holder.kill()
        holder.wait()
    # without a server, status still answers (it is a diagnostic), naming the tmux state
    tmux_server.kill()
    r = cli("status", "--json", cwd=project)
    assert r.returncode == 0, r
    st = json.loads(r.stdout)
    assert st["tmux"] == "no server"
    assert not any(d["alive"] for d in st["documents"])
    assert st["locks"] == []
