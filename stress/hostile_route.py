"""hostile_route: ``route`` types only into a live agent (issue 11, SPEC A13/A14).

A pane where the agent has exited leaves a shell at its prompt; typing ``/agent-doc FILE`` into
it makes the shell run whatever ``$(…)`` the file name holds. A registry entry with ``pid: 0``
proves nothing about the pane. A registry entry whose ``file`` lies outside the project (a
hostile ``sessions.json`` committed to a repository) must not steer ``route`` or ``sync``, and
``resync`` removes it. Each case uses a file name that creates a marker file if a shell ever
runs it, and a pane program (:mod:`stress.echo`) that logs every line it receives.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
import uuid
from pathlib import Path

from stress.common import Env, doc_text
from stress.hostile import Case, Skip

#: a document name whose `$(…)` creates MARKER in the shell's working folder if it ever runs
EVIL = "notes $(touch MARKER).md"


def _server(env: Env) -> str:
    if not shutil.which("tmux"):
        raise Skip("tmux is not installed")
    pane = env.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", "200", "-y",
                    "50", "-P", "-F", "#{pane_id}")
    env.tmux("set-option", "-g", "default-shell", shutil.which("bash") or "/bin/sh")
    return pane


def _project(env: Env, name: str = EVIL) -> tuple[Path, Path, str]:
    root = env.base / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    sid = str(uuid.uuid4())
    doc = root / name
    doc.write_text(doc_text(sid, "hostile route", ["question"]), encoding="utf-8")
    return root, doc, sid


def _fmt(env: Env, pane: str, fmt: str) -> str:
    return env.tmux("display-message", "-p", "-t", pane, fmt)


def _wait(cond, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def _registry(root: Path) -> dict:
    path = root / ".agent-doc" / "sessions.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write_registry(root: Path, reg: dict) -> None:
    (root / ".agent-doc" / "sessions.json").write_text(json.dumps(reg, indent=2),
                                                       encoding="utf-8")


def _echo_pane(env: Env, log: Path) -> str:
    pane = env.tmux("new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}",
                    env.echo_pane_cmd(log))
    _wait(lambda: _fmt(env, pane, "#{pane_current_command}").startswith("python"))
    return pane


def case_exited_agent(env: Env, rng: random.Random) -> list[str]:
    """The agent runs in the pane's shell, is claimed, then exits: route types nothing."""
    _server(env)
    shell_cwd = env.base / "shellcwd"
    shell_cwd.mkdir()
    pane = env.tmux("new-window", "-d", "-t", "=main:", "-c", str(shell_cwd), "-P", "-F",
                    "#{pane_id}")
    log = env.base / "agent.log"
    env.tmux("send-keys", "-t", pane, "-l", f"{sys.executable} -m stress.echo {log}")
    env.tmux("send-keys", "-t", pane, "Enter")
    if not _wait(lambda: _fmt(env, pane, "#{pane_current_command}").startswith("python")):
        return [f"the stand-in agent did not start in {pane}"]
    root, _doc, sid = _project(env)
    problems: list[str] = []
    p = env.cli("claim", EVIL, "--pane", pane, cwd=root)
    if p.returncode != 0:
        return [f"claim failed\n{p.describe()}"]
    shell = int(_fmt(env, pane, "#{pane_pid}"))
    with open(f"/proc/{shell}/stat", "rb") as fh:  # field 8: the pane's foreground group
        agent = int(fh.read().rsplit(b")", 1)[1].split()[5])
    if int(_registry(root)[sid]["pid"]) != agent:
        problems.append("claim did not record the agent in front of the pane's shell")
    os.kill(agent, 15 if rng.random() < 0.5 else 9)
    if not _wait(lambda: not _fmt(env, pane, "#{pane_current_command}").startswith("python")):
        return [*problems, "the stand-in agent did not exit"]
    p = env.cli("route", EVIL, cwd=root)  # AGENT_DOC_NO_AUTOSTART is set by Env
    if p.returncode == 0:
        problems.append(f"route reported success into the exited agent's pane\n{p.describe()}")
    time.sleep(0.5)
    if (shell_cwd / "MARKER").exists():
        problems.append("the shell left by the agent ran the typed file name (MARKER created)")
    if "/agent-doc notes" in env.tmux("capture-pane", "-p", "-t", pane):
        problems.append(f"`/agent-doc …` was typed into the shell of {pane}")
    if log.exists():
        problems.append(f"the exited agent's log got lines: {log.read_bytes()!r}")
    return problems


def case_pid_zero(env: Env, rng: random.Random) -> list[str]:
    """An entry with `pid: 0` on a live pane: never typed into."""
    _server(env)
    log = env.base / "zero.log"
    pane = _echo_pane(env, log)
    root, _doc, sid = _project(env)
    _write_registry(root, {sid: {"pane": pane, "pid": 0, "cwd": str(root),
                                 "started": "2026-01-01T00:00:00Z", "file": EVIL,
                                 "window": _fmt(env, pane, "#{window_id}")}})
    p = env.cli("route", EVIL, cwd=root)  # AGENT_DOC_NO_AUTOSTART is set by Env
    time.sleep(0.3)
    problems = []
    if p.returncode == 0:
        problems.append(f"route reported success into a pid-0 entry\n{p.describe()}")
    if log.exists():
        problems.append(f"a pid-0 entry's pane received {log.read_bytes()!r}")
    return problems


def case_outside_root(env: Env, rng: random.Random) -> list[str]:
    """Entries naming files outside the project: route, sync and watch do not use them,
    resync removes them."""
    _server(env)
    logs = [env.base / "a.log", env.base / "b.log"]
    panes = [_echo_pane(env, log) for log in logs]
    root, _doc, sid = _project(env, "a.md")
    sid_b = str(uuid.uuid4())
    (root / "b.md").write_text(doc_text(sid_b, "b", ["q"]), encoding="utf-8")
    outside = ["../../" + "x" * rng.randint(1, 8) + ".md", str(env.base / "elsewhere.md")]
    reg = {}
    for key, pane, file in zip((sid, sid_b), panes, outside, strict=True):
        reg[key] = {"pane": pane, "pid": int(_fmt(env, pane, "#{pane_pid}")), "cwd": str(root),
                    "started": "2026-01-01T00:00:00Z", "file": file,
                    "window": _fmt(env, pane, "#{window_id}")}
    _write_registry(root, reg)
    windows = [_fmt(env, p, "#{window_id}") for p in panes]
    problems = []
    p = env.cli("route", "a.md", cwd=root)
    if p.returncode == 0:
        problems.append(f"route used an entry outside the project\n{p.describe()}")
    p = env.cli("sync", "--col", "a.md", "--col", "b.md", cwd=root)
    if [_fmt(env, q, "#{window_id}") for q in panes] != windows:
        problems.append(f"sync arranged panes of entries outside the project\n{p.describe()}")
    time.sleep(0.3)
    for log in logs:
        if log.exists():
            problems.append(f"{log.name}: a pane of an outside entry received "
                            f"{log.read_bytes()!r}")
    # watch: the outside document exists, but is not watched
    (env.base / "elsewhere.md").write_text(doc_text(sid_b, "elsewhere", ["q"]), encoding="utf-8")
    wlog = env.base / "watch.log"
    daemon = env.popen(["watch"], cwd=root, log=wlog)
    try:
        if not _wait(lambda: wlog.exists() and b"atching" in wlog.read_bytes(), 30):
            problems.append(f"watch did not start: {wlog.read_bytes()!r}")
        elif b"elsewhere" in wlog.read_bytes():
            problems.append(f"watch watches a document outside the project: "
                            f"{wlog.read_bytes()!r}")
    finally:
        env.cli("watch", "--stop", cwd=root)
        try:
            daemon.wait(timeout=30)
        except Exception:
            daemon.kill()
    p = env.cli("resync", cwd=root)
    left = _registry(root)
    if p.returncode != 0 or left:
        problems.append(f"resync kept entries outside the project: {left}\n{p.describe()}")
    return problems


CASES = [
    Case("route-exited-agent", "route types only into a live agent (exited agent's shell)",
         case_exited_agent),
    Case("route-pid-zero", "route types only into a live agent (pid 0 never matches)",
         case_pid_zero),
    Case("route-outside-root", "entries outside the project: unused by route/sync/watch, "
         "resync removes them", case_outside_root),
]
