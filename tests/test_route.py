"""`agent-doc route` on a real, isolated tmux server: exact text + Enter into the right pane, no
interleaving between concurrent routes, ONE auto-start for concurrent routes of one document,
and no typing into a pane whose id was reused after a tmux server restart (C29)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

import helpers.docs
from helpers.cli import Result, run_cli
from helpers.cli import spawn_cli as _spawn
from helpers.paths import SRC
from helpers.registry import registry, session_of
from helpers.tmux import LINE_LOGGER, TmuxServer, logger_pane
from helpers.waiting import wait_until

# without a session: a null one under an agent (routing must mint and claim one)
make_doc = partial(helpers.docs.make_doc,
                   unsessioned="---\nagent: claude\nagent_doc_session: null\n---\n# x\n")


def wait_lines(log: Path, n: int, timeout: float = 10.0) -> list[str]:
    """The lines of LOG once it has at least N."""

    def lines() -> list[str]:
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

    def enough() -> list[str] | None:
        got = lines()
        return got if len(got) >= n else None

    return wait_until(enough, f"{n} line(s) in {log}", timeout, seen=lines)


def wait_started(starts: Path) -> str:
    """The log of the fake claude's starts once it has started (its log exists)."""
    wait_until(starts.exists, f"the fake claude to start (it logs to {starts})", 5)
    return starts.read_text()


def fake_claude_bin(tmp_path: Path) -> Path:
    """A fake interactive `claude` first on PATH: it logs its start and reads stdin forever."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    starts = tmp_path / "claude-starts.log"
    script = bindir / "claude"
    script.write_text(
        "#!/bin/sh\n"
        f"echo \"$$ $(pwd)\" >> '{starts}'\n"
        "echo 'fake claude ready'\n"
        "while IFS= read -r line; do echo \"claude got: $line\"; done\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return starts


def slow_tmux_bin(tmp_path: Path, delay: float = 0.15) -> Path:
    """A `tmux` shim that waits before running the real tmux (for overlapping processes)."""
    real = shutil.which("tmux")
    assert real
    bindir = tmp_path / "slowbin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "tmux"
    shim.write_text(f'#!/bin/sh\nsleep {delay}\nexec "{real}" "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return bindir


def test_route_sends_exact_text_and_enter_to_the_right_pane(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    tmux_server.start()
    target, log = logger_pane(tmux_server, tmp_path, "target")
    other, other_log = logger_pane(tmux_server, tmp_path, "other")
    doc = make_doc(project, "plan; it's $HOME.md")
    assert cli("claim", doc.name, "--pane", target, cwd=project).returncode == 0
    r = cli("route", doc.name, cwd=project)
    assert r.returncode == 0, r
    assert f"Sent /agent-doc {doc.name} → pane {target}" in r.stderr
    assert wait_lines(log, 1) == [repr(f"/agent-doc {doc.name}\n")]
    tmux_server.wait_for(target, f"GOT /agent-doc {doc.name}")
    time.sleep(0.1)
    assert not other_log.exists()
    assert "agent-doc" not in tmux_server.capture(other)


def test_two_documents_on_one_pane_both_route_there(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    tmux_server.start()
    pane, log = logger_pane(tmux_server, tmp_path, "shared")
    a, b = make_doc(project, "a.md"), make_doc(project, "b.md")
    assert cli("claim", "a.md", "--pane", pane, cwd=project).returncode == 0
    assert cli("claim", "b.md", "--pane", pane, cwd=project).returncode == 0
    assert len(registry(project)) == 2
    assert cli("route", "a.md", cwd=project).returncode == 0
    assert cli("route", "b.md", cwd=project).returncode == 0
    assert wait_lines(log, 2) == [repr("/agent-doc a.md\n"), repr("/agent-doc b.md\n")]
    assert {e["pane"] for e in registry(project).values()} == {pane}
    assert session_of(a) != session_of(b)


def test_concurrent_routes_to_one_pane_never_interleave(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    tmux_server.start()
    pane, log = logger_pane(tmux_server, tmp_path, "busy")
    names = [f"document-number-{i:02d}-with-a-longer-name.md" for i in range(12)]
    for name in names:
        make_doc(project, name)
        assert cli("claim", name, "--pane", pane, cwd=project).returncode == 0
    procs = [_spawn(["route", name], project) for name in names for _ in range(2)]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    lines = wait_lines(log, len(procs))
    assert sorted(lines) == sorted(repr(f"/agent-doc {name}\n") for name in names for _ in range(2))


def test_killed_pane_auto_starts_once_for_concurrent_routes(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    starts = fake_claude_bin(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    tmux_server.start()
    pane = tmux_server.new_pane()
    doc = make_doc(project, "task.md")
    sid = session_of(doc)
    assert cli("claim", "task.md", "--pane", pane, cwd=project).returncode == 0
    tmux_server.tmux("kill-pane", "-t", pane)
    # a slow `tmux` first on PATH widens the check-then-start window, so the routes overlap
    env = {"PATH": f"{slow_tmux_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}"}
    procs = [_spawn(["route", "task.md"], project, env) for _ in range(3)]
    results = [p.communicate(timeout=60) for p in procs]
    for p, (_o, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    errs = "".join(err for _o, err in results)
    assert errs.count("Started Claude for task.md") == 1, errs
    # exactly one agent pane, in the exact-named `claude` session, running the fake claude
    claude_panes = tmux_server.tmux(
        "list-panes", "-s", "-t", "=claude", "-F", "#{pane_id} #{pane_pid}"
    ).splitlines()
    assert len(claude_panes) == 1
    new_pane, new_pid = claude_panes[0].split()
    entry = registry(project)[sid]
    assert entry["pane"] == new_pane and entry["pid"] == int(new_pid)
    started = wait_started(starts)
    assert len(started.splitlines()) == 1
    assert started.split()[1] == str(project.resolve())  # started in the root
    # the routes that came second found the new pane and typed into it
    sent = errs.count(f"Sent /agent-doc task.md → pane {new_pane}")
    assert sent == 2
    tmux_server.wait_for(new_pane, "claude got: /agent-doc task.md")
    # a second auto-start for another document opens a window in the same session
    make_doc(project, "other.md")
    r = cli("route", "other.md", cwd=project)
    assert r.returncode == 0 and "Started Claude for other.md" in r.stderr, r
    assert len(tmux_server.tmux("list-windows", "-t", "=claude", "-F", "#{window_id}").split()) == 2


def test_exact_session_name_claude_old_is_not_claude(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_claude_bin(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    tmux_server.start("claude-old")
    make_doc(project, "x.md")
    r = cli("route", "x.md", cwd=project)
    assert r.returncode == 0, r
    sessions = tmux_server.tmux("list-sessions", "-F", "#{session_name}").split()
    assert sorted(sessions) == ["claude", "claude-old"]
    old_windows = tmux_server.tmux("list-windows", "-t", "=claude-old", "-F", "#{window_id}")
    assert old_windows.count("@") == 1


def test_route_after_server_restart_never_types_into_reused_pane(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = tmux_server.start()
    doc = make_doc(project, "task.md")
    assert cli("claim", "task.md", "--pane", first, cwd=project).returncode == 0
    old_pid = registry(project)[session_of(doc)]["pid"]
    tmux_server.kill()
    time.sleep(0.2)
    # a new server: pane ids restart, so the registered id now names an unrelated pane
    script = tmp_path / "logger.py"
    script.write_text(LINE_LOGGER, encoding="utf-8")
    log = tmp_path / "reused.log"
    reused = tmux_server.tmux(
        "-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", "200", "-y", "50",
        "-P", "-F", "#{pane_id}", sys.executable, str(script), str(log),
    )
    assert reused == first
    tmux_server.wait_for(reused, "READY")
    assert int(tmux_server.tmux("display-message", "-p", "-t", reused, "#{pane_pid}")) != old_pid
    before = registry(project)
    r = cli("route", "task.md", cwd=project, env={"AGENT_DOC_NO_AUTOSTART": "1"})
    assert r.returncode == 1, r
    assert "auto-start skipped (AGENT_DOC_NO_AUTOSTART set)" in r.stderr
    assert registry(project) == before  # the failed route changed nothing
    # with auto-start allowed: a new agent pane, still nothing typed into the reused pane
    fake_claude_bin(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    r = cli("route", "task.md", cwd=project)
    assert r.returncode == 0, r
    assert "Started Claude for task.md" in r.stderr
    new_pane = registry(project)[session_of(doc)]["pane"]
    assert new_pane != reused
    time.sleep(0.2)
    screen = tmux_server.capture(reused)
    assert "agent-doc" not in screen and not log.exists(), screen


def test_route_refuses_control_characters_and_missing_files(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    bad = project / "evil\nrm -rf ~.md"
    bad.write_text("# x\n", encoding="utf-8")
    r = cli("route", bad.name, cwd=project)
    assert r.returncode == 1
    assert "control character" in r.stderr and "U+000A" in r.stderr
    assert bad.read_text() == "# x\n"  # not even a UUID was written
    r = cli("route", "nope.md", cwd=project)
    assert r.returncode == 1 and "file not found" in r.stderr
    r = cli("route", cwd=project)
    assert r.returncode == 2


def test_route_without_autostart_writes_uuid_then_fails(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    doc = make_doc(project, "bare.md", session=None)
    r = cli("route", "bare.md", cwd=project, env={"AGENT_DOC_NO_AUTOSTART": "1"})
    assert r.returncode == 1
    assert "Error: auto-start skipped (AGENT_DOC_NO_AUTOSTART set)" in r.stderr
    assert "No pane registered for session" in r.stderr
    text = doc.read_text()
    assert "agent: claude" in text and "null" not in text
    assert len(session_of(doc)) == 36
    assert registry(project) == {}


def test_route_lazy_claim_with_pane(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    tmux_server.start()
    pane, log = logger_pane(tmux_server, tmp_path, "lazy")
    doc = make_doc(project, "lazy.md")
    r = cli("route", "lazy.md", "--pane", pane, "--json", cwd=project,
            env={"AGENT_DOC_NO_AUTOSTART": "1"})
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["action"] == "claimed"
    assert registry(project)[session_of(doc)]["pane"] == pane
    assert wait_lines(log, 1) == [repr("/agent-doc lazy.md\n")]
    r = cli("route", "lazy.md", "--pane", "%777", cwd=project)
    assert r.returncode == 0 and json.loads(r.stdout or "{}") == {}  # live pane wins: sent
    assert wait_lines(log, 2)[1] == repr("/agent-doc lazy.md\n")


def test_route_happy_path_is_one_tmux_process(
    cli: Callable[..., Result], project: Path, tmux_server: TmuxServer, tmp_path: Path,
    tmux_counter,
) -> None:
    """Identity check and keys in one tmux invocation (if-shell -F inside the server)."""
    tmux_server.start()
    pane, log = logger_pane(tmux_server, tmp_path, "one")
    make_doc(project, "one.md")
    assert cli("claim", "one.md", "--pane", pane, cwd=project).returncode == 0
    tmux_counter.reset()
    r = cli("route", "one.md", cwd=project)
    assert r.returncode == 0, r
    calls = tmux_counter.calls()
    assert len(calls) == 1 and calls[0].startswith("if-shell -F -t " + pane), calls
    assert wait_lines(log, 1) == [repr("/agent-doc one.md\n")]


def test_route_to_an_entry_holding_the_pid_of_a_process_inside_the_pane(
    cli: Callable[..., Result], project: Path, tmux_server: TmuxServer, tmp_path: Path,
    tmux_counter,
) -> None:
    """The reference's `start` stores the agent's own pid, a child of the pane's shell: that
    entry is still routed in one tmux process; an unrelated pid is not typed into."""
    tmux_server.start()
    script = tmp_path / "logger.py"
    script.write_text("import os, sys\n"
                      f"open({str(tmp_path / 'child.pid')!r}, 'w').write(str(os.getpid()))\n"
                      + LINE_LOGGER, encoding="utf-8")
    log = tmp_path / "child.log"
    pane = tmux_server.tmux(
        "new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}",
        "sh", "-c", f"{sys.executable} {script} {log}; exit 0",
    )
    tmux_server.wait_for(pane, "READY")
    child = int((tmp_path / "child.pid").read_text())
    doc = make_doc(project, "child.md")
    assert cli("claim", "child.md", "--pane", pane, cwd=project).returncode == 0
    reg_path = project / ".agent-doc" / "sessions.json"
    reg = registry(project)
    assert reg[session_of(doc)]["pid"] != child  # claim stores the pane's own pid (the shell)
    reg[session_of(doc)]["pid"] = child
    reg_path.write_text(json.dumps(reg), encoding="utf-8")
    tmux_counter.reset()
    assert cli("route", "child.md", cwd=project).returncode == 0
    assert len(tmux_counter.calls()) == 1
    assert wait_lines(log, 1) == [repr("/agent-doc child.md\n")]
    # an entry whose pid is not in the pane (pid 1 is nobody's child): never typed into
    reg[session_of(doc)]["pid"] = 1
    reg_path.write_text(json.dumps(reg), encoding="utf-8")
    r = cli("route", "child.md", cwd=project, env={"AGENT_DOC_NO_AUTOSTART": "1"})
    assert r.returncode != 0 and "another program" in r.stderr, r
    time.sleep(0.2)
    assert wait_lines(log, 1) == [repr("/agent-doc child.md\n")]


# -- issue 14: cold start and the document's identity before tmux ------------------------------


def _tmux_sessions() -> list[str]:
    p = subprocess.run(["tmux", "list-sessions", "-F", "#{session_name}"], capture_output=True,
                       text=True)
    return p.stdout.split() if p.returncode == 0 else []


def test_route_from_cold_starts_a_server_with_the_agent(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No tmux server (the test's own TMUX_TMPDIR): route starts a detached session `claude`
    running the agent, registers the document to it, says how to attach, exits 0."""
    starts = fake_claude_bin(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert _tmux_sessions() == []
    doc = make_doc(project, "cold.md", session=None)
    r = cli("route", "cold.md", cwd=project)
    assert r.returncode == 0, r
    assert "Started Claude for cold.md" in r.stderr
    assert "attach with `tmux attach -t claude`" in r.stderr
    sid = session_of(doc)
    assert len(sid) == 36
    assert _tmux_sessions() == ["claude"]
    (pane, pid), = (line.split() for line in tmux_server.tmux(
        "list-panes", "-a", "-F", "#{pane_id} #{pane_pid}").splitlines())
    entry = registry(project)[sid]
    assert entry["pane"] == pane and entry["pid"] == int(pid) and entry["file"] == "cold.md"
    assert wait_started(starts).split()[1] == str(project.resolve())
    # the next route types into the agent it started
    r = cli("route", "cold.md", cwd=project)
    assert r.returncode == 0 and f"Sent /agent-doc cold.md → pane {pane}" in r.stderr, r
    tmux_server.wait_for(pane, "claude got: /agent-doc cold.md")


def test_concurrent_cold_routes_start_one_session_and_one_agent(
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    starts = fake_claude_bin(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert _tmux_sessions() == []
    doc = make_doc(project, "race.md", session=None)
    env = {"PATH": f"{slow_tmux_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}"}
    procs = [_spawn(["route", "race.md"], project, env) for _ in range(3)]
    results = [p.communicate(timeout=90) for p in procs]
    for p, (_o, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    errs = "".join(err for _o, err in results)
    assert errs.count("Started Claude for race.md") == 1, errs
    assert _tmux_sessions() == ["claude"]
    panes = tmux_server.tmux("list-panes", "-a", "-F", "#{pane_id}").split()
    assert len(panes) == 1
    assert registry(project)[session_of(doc)]["pane"] == panes[0]
    assert errs.count(f"Sent /agent-doc race.md → pane {panes[0]}") == 2, errs
    assert len(wait_started(starts).splitlines()) == 1


def test_route_gives_the_document_its_uuid_before_looking_for_tmux(
    cli: Callable[..., Result], project: Path, tmp_path: Path
) -> None:
    """The reference's order: ensure the session UUID (a bare file, or `agent_doc_session:
    null`) first; a route that then cannot reach tmux has still given the document its
    identity. No server here (the test's own TMUX_TMPDIR), then no tmux at all."""
    null = make_doc(project, "null.md", session=None)
    r = cli("route", "null.md", cwd=project, env={"AGENT_DOC_NO_AUTOSTART": "1"})
    assert r.returncode == 1, r
    assert "Generated session UUID:" in r.stderr and "auto-start skipped" in r.stderr
    assert len(session_of(null)) == 36 and "agent: claude" in null.read_text()
    assert registry(project) == {} and _tmux_sessions() == []
    bare = project / "bare.md"
    bare.write_text("# bare\n", encoding="utf-8")
    empty = tmp_path / "emptybin"
    empty.mkdir()
    r = cli("route", "bare.md", cwd=project, env={"PATH": str(empty)})
    assert r.returncode == 1, r
    assert "Error: tmux is not installed" in r.stderr and "hint: install tmux" in r.stderr
    sid = session_of(bare)
    assert f"got its session id {sid[:8]}" in r.stderr
    assert bare.read_text().endswith("---\n# bare\n")
    # a document that already has its UUID is left byte for byte
    before = null.read_bytes()
    r = cli("route", "null.md", cwd=project, env={"PATH": str(empty)})
    assert r.returncode == 1 and "nothing was changed" in r.stderr, r
    assert null.read_bytes() == before


# -- issue 11: route types only into a live agent; entries outside the project ---------------


def _pane_pid(tmux_server: TmuxServer, pane: str) -> int:
    return int(tmux_server.tmux("display-message", "-p", "-t", pane, "#{pane_pid}"))


def test_route_never_types_into_the_shell_an_exited_agent_left(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agent runs in the pane's shell; it exits; route must not type `/agent-doc …` into
    the shell, which would run the `$(…)` of the file name (here: create MARKER)."""
    tmux_server.start()
    tmux_server.tmux("set-option", "-g", "default-shell", shutil.which("bash") or "/bin/sh")
    shell_cwd = tmp_path / "shellcwd"
    shell_cwd.mkdir()
    pane = tmux_server.tmux("new-window", "-d", "-t", "=main:", "-c", str(shell_cwd),
                            "-P", "-F", "#{pane_id}")
    script = tmp_path / "agent.py"
    script.write_text(LINE_LOGGER, encoding="utf-8")
    log = tmp_path / "agent.log"
    tmux_server.tmux("send-keys", "-t", pane, "-l", f"{sys.executable} {script} {log}")
    tmux_server.tmux("send-keys", "-t", pane, "Enter")
    tmux_server.wait_for(pane, "READY")
    name = "notes $(touch MARKER).md"
    doc = make_doc(project, name)
    assert cli("claim", name, "--pane", pane, cwd=project).returncode == 0
    agent = registry(project)[session_of(doc)]["pid"]
    assert agent != _pane_pid(tmux_server, pane)  # the agent in front, not the shell
    r = cli("route", name, cwd=project)  # while the agent runs, it gets the line
    assert r.returncode == 0, r
    assert wait_lines(log, 1) == [repr(f"/agent-doc {name}\n")]
    os.kill(agent, 15)

    def front() -> str:
        return tmux_server.tmux("display-message", "-p", "-t", pane, "#{pane_current_command}")

    wait_until(lambda: front() not in ("python3", "python", os.path.basename(sys.executable)),
               f"the killed agent (pid {agent}) to leave the front of pane {pane}", 5,
               seen=front)
    tmux_server.tmux("send-keys", "-t", pane, "clear", "Enter")
    tmux_server.tmux("clear-history", "-t", pane)
    time.sleep(0.2)
    r = cli("route", name, cwd=project, env={"AGENT_DOC_NO_AUTOSTART": "1"})
    assert r.returncode == 1, r
    assert f"the agent it was claimed with (pid {agent}) has exited" in r.stderr
    # with auto-start: a new agent pane; the shell still receives nothing
    fake_claude_bin(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    r = cli("route", name, cwd=project)
    assert r.returncode == 0 and "Started Claude" in r.stderr, r
    assert registry(project)[session_of(doc)]["pane"] != pane
    time.sleep(0.3)
    assert not (shell_cwd / "MARKER").exists()
    assert "agent-doc" not in tmux_server.capture(pane)
    assert len(log.read_text().splitlines()) == 1


def test_route_never_types_into_a_pid_0_entry(
    cli: Callable[..., Result], project: Path, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """`pid: 0` proves nothing about the pane: it never matches (issue 11)."""
    tmux_server.start()
    pane, log = logger_pane(tmux_server, tmp_path, "zero")
    doc = make_doc(project, "zero.md")
    assert cli("claim", "zero.md", "--pane", pane, cwd=project).returncode == 0
    reg = registry(project)
    reg[session_of(doc)]["pid"] = 0
    (project / ".agent-doc" / "sessions.json").write_text(json.dumps(reg), encoding="utf-8")
    r = cli("route", "zero.md", cwd=project, env={"AGENT_DOC_NO_AUTOSTART": "1"})
    assert r.returncode == 1 and "auto-start skipped" in r.stderr, r
    assert "no pid to check it by (pid 0)" in r.stderr
    time.sleep(0.2)
    assert not log.exists()


def test_entries_outside_the_project_are_ignored_and_resync_removes_them(
    cli: Callable[..., Result], project: Path, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """A registry entry whose `file` lies outside the project root is not used by route or
    sync, and resync removes it (SPEC A13); a document that is itself a symlink to elsewhere
    is still routed (agent-doc writes through document symlinks)."""
    tmux_server.start()
    pane_a, log_a = logger_pane(tmux_server, tmp_path, "a")
    pane_b, log_b = logger_pane(tmux_server, tmp_path, "b")
    a, b = make_doc(project, "a.md"), make_doc(project, "b.md")
    assert cli("claim", "a.md", "--pane", pane_a, cwd=project).returncode == 0
    assert cli("claim", "b.md", "--pane", pane_b, cwd=project).returncode == 0
    reg_path = project / ".agent-doc" / "sessions.json"
    reg = registry(project)
    reg[session_of(a)]["file"] = "../outside/a.md"
    reg[session_of(b)]["file"] = str(tmp_path / "elsewhere" / "b.md")
    reg_path.write_text(json.dumps(reg, indent=2), encoding="utf-8")
    windows = {p: tmux_server.tmux("display-message", "-p", "-t", p, "#{window_id}")
               for p in (pane_a, pane_b)}
    r = cli("route", "a.md", cwd=project, env={"AGENT_DOC_NO_AUTOSTART": "1"})
    assert r.returncode == 1 and "outside the project" in r.stderr, r
    r = cli("sync", "--col", "a.md", "--col", "b.md", cwd=project)
    assert r.returncode != 0 or "2 panes" not in r.stderr, r
    assert {p: tmux_server.tmux("display-message", "-p", "-t", p, "#{window_id}")
            for p in (pane_a, pane_b)} == windows  # nothing was arranged
    time.sleep(0.2)
    assert not log_a.exists() and not log_b.exists()
    r = cli("resync", cwd=project)
    assert r.returncode == 0, r
    assert r.stderr.count("file outside the project") == 2, r
    assert registry(project) == {}
    # a symlinked document inside the project is routed as before
    outside = tmp_path / "outside-real"
    outside.mkdir()
    real = make_doc(outside, "real.md")
    link = project / "link.md"
    link.symlink_to(real)
    assert cli("claim", "link.md", "--pane", pane_a, cwd=project).returncode == 0
    assert cli("route", "link.md", cwd=project).returncode == 0
    assert wait_lines(log_a, 1) == [repr("/agent-doc link.md\n")]


HEAVY = (
    "yaml", "httpx", "merge3", "watchfiles", "tomllib", "agent_doc.config", "argparse", "typing",
    "dataclasses", "subprocess", "threading", "contextlib", "importlib", "ctypes", "hashlib",
    "_hashlib", "signal", "pathlib",
)
#: what `route`, `claim`, `focus` never import (docs/ARCHITECTURE.md, "Start-up discipline")
NEVER_HOT = {"re", "json", "enum"}
#: what `agent-doc --version` may import beyond an empty interpreter's start-up
VERSION_MAY_IMPORT = {"agent_doc", "agent_doc.cli", "fastpath", "atexit", "__future__"}
#: our modules a hot command may import (docs/ARCHITECTURE.md, "the hot/cold line"), besides
#: its own ``agent_doc.cli.<command>`` and ``agent_doc.routing.<command>``
HOT_MAY_IMPORT = {
    "agent_doc", "agent_doc.cli", "agent_doc.cli.fastargs", "agent_doc.cli.common",
    "agent_doc.cli.tmuxcli", "agent_doc.project", "agent_doc.document", "agent_doc.errors",
    "agent_doc.record", "agent_doc.routing", "agent_doc.routing.common", "tmux_router",
    "tmux_router.registry", "tmux_router.tmux",
    "tmux_router.errors", "tmux_router.procs", "safefile", "safefile.atomic", "safefile.lock",
    "safefile.state", "procrun", "fastpath",
}
OURS = ("agent_doc", "tmux_router", "safefile", "procrun", "fastpath")
HOT_ARGS = {
    "route": ["hot.md"], "claim": ["hot.md", "--pane", "{pane}"], "focus": ["hot.md"],
    "prompt": ["hot.md"],
}


def _tested_interpreters() -> list[str]:
    """This interpreter plus every other CPython 3.11–3.13 on the machine (among pyenv's
    versions or on PATH), as `.ci/run` finds them: the hot paths import nothing outside the
    standard library, so each runs them from ``src`` without a venv of its own (and without
    ``site``, whose ``.pth`` files in a global installation may import anything)."""
    found = {f"{sys.version_info[0]}.{sys.version_info[1]}": sys.executable}
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in ("3.11", "3.12", "3.13"):
        if minor in found:
            continue
        candidates = sorted((str(p) for p in pyenv.glob(f"{minor}*/bin/python{minor}")),
                            reverse=True)
        candidates.append(shutil.which(f"python{minor}") or "")  # maybe a pyenv shim
        for exe in candidates:
            if not exe:
                continue
            probe = subprocess.run(
                [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True,
            )
            if probe.returncode == 0 and probe.stdout.strip() == minor:
                found[minor] = exe
                break
    return [found[m] for m in sorted(found)]


def _imported(
    python: str, args: list[str], cwd: Path
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime ARGS`` with ``src`` on the path: its result and the modules
    it imported beyond those the same interpreter imports for ``-c 'import os'``. An interpreter
    other than this test's runs with ``-S`` (no ``site``: only the standard library and
    ``src``)."""
    flags = ["-X", "importtime"] + ([] if python == sys.executable else ["-S"])
    env = {**os.environ, "PYTHONPATH": str(SRC)}

    def imported(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
        p = subprocess.run([python, *flags, *argv], cwd=cwd, capture_output=True, text=True,
                           env=env)
        return p, {
            line.rsplit("|", 1)[1].strip()
            for line in p.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        } - {"package"}  # the header line

    # `import os`: what `site` imports anyway, so that `-S` and a venv measure alike
    _bare, baseline = imported(["-c", "import os"])
    p, modules = imported(args)
    return p, modules - baseline


@pytest.mark.parametrize("python", _tested_interpreters())
@pytest.mark.parametrize("command", ["route", "claim", "focus", "prompt"])
def test_hot_commands_import_nothing_heavy(
    command: str, python: str, project: Path, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    tmux_server.start()
    pane, _log = logger_pane(tmux_server, tmp_path, "imports")
    make_doc(project, "hot.md")
    assert run_cli("claim", "hot.md", "--pane", pane, cwd=project).returncode == 0
    args = [a.replace("{pane}", pane) for a in HOT_ARGS[command]]
    # as the console script starts it (``-m`` would import runpy/importlib itself)
    p, modules = _imported(
        python,
        ["-c", "import sys; from agent_doc.cli import console_main; sys.exit(console_main())",
         command, *args],
        project,
    )
    assert p.returncode == 0, p.stderr
    assert "agent_doc.document" in modules  # the parse really ran in this process
    assert not [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY], sorted(
        m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY)
    allowed = HOT_MAY_IMPORT | {f"agent_doc.cli.{command}", f"agent_doc.routing.{command}"}
    if command == "prompt":
        allowed.add("agent_doc.prompt")
    ours = {m for m in modules if m.split(".")[0] in OURS}
    assert ours <= allowed, sorted(ours - allowed)
    if command != "prompt":  # `prompt` matches the pane's screen with patterns: it needs `re`
        # the registry and the frontmatter are read and written without `re` or `json`
        assert not NEVER_HOT & modules, sorted(NEVER_HOT & modules)


@pytest.mark.parametrize("python", _tested_interpreters())
def test_version_imports_nothing(python: str, tmp_path: Path) -> None:
    """`agent-doc --version` imports our CLI dispatcher and nothing else of note."""
    script = SRC.parent / "scripts" / "agent-doc"
    p, modules = _imported(python, [str(script), "--version"], tmp_path)
    assert p.returncode == 0 and p.stdout.startswith("agent-doc "), p
    assert modules <= VERSION_MAY_IMPORT, sorted(modules)


def test_the_agent_doc_script_imports_no_re() -> None:
    """The installed `agent-doc` is our script (scripts/agent-doc), not pip's entry-point
    wrapper, whose first line is `import re`."""
    script = Path(sys.executable).parent / "agent-doc"
    if not script.exists():
        pytest.skip("agent-doc is not installed in this environment")
    text = script.read_text()
    assert "import re" not in text.splitlines() and "console_main" in text
    p = subprocess.run([sys.executable, "-X", "importtime", str(script), "--version"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("agent-doc ")
    assert not [line for line in p.stderr.splitlines() if line.rstrip().endswith("| re")]
