"""The ``tmux-router`` command as a real subprocess (``python -m tmux_router``) against isolated
tmux servers: register/unregister under the lock, status, resync with pid identity, focus,
send, capture, sync, clear errors without tmux or without a server, concurrent registers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.cli import run_cli
from helpers.tmux import restart
from helpers.waiting import wait_until
from tmux_router.registry import Registry, make_entry
from tmux_router.tmux import Tmux

pytestmark = pytest.mark.tmux


def tr(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    return run_cli(*args, cwd=cwd, env=env, prog="tmux_router")


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    return tmp_path / "state" / "registry.json"


def test_register_status_unregister(tmux_server, reg: Path, tmp_path: Path) -> None:
    pane = tmux_server.start()
    pid = Tmux().live_panes()[pane]
    r = tr(
        "--registry", str(reg), "register", "doc.md", pane, "--file", "docs/doc.md", cwd=tmp_path
    )
    assert r.returncode == 0, r
    entry = json.loads(reg.read_text())["doc.md"]
    assert entry["pane"] == pane and entry["pid"] == pid
    assert entry["file"] == "docs/doc.md" and entry["cwd"] == str(tmp_path)
    assert entry["window"].startswith("@")
    r = tr("--registry", str(reg), "status")
    assert r.returncode == 0 and f"doc.md → {pane} [alive]" in r.stdout, r
    r = tr("--registry", str(reg), "status", "--json")
    rows = json.loads(r.stdout)
    assert rows[0]["key"] == "doc.md" and rows[0]["alive"] is True
    r = tr("--registry", str(reg), "unregister", "doc.md")
    assert r.returncode == 0, r
    assert json.loads(reg.read_text()) == {}
    r = tr("--registry", str(reg), "unregister", "doc.md")
    assert r.returncode == 1 and "not registered" in r.stderr
    r = tr("--registry", str(reg), "status")
    assert r.stdout.strip() == "registry is empty"


def test_register_keeps_unknown_fields(tmux_server, reg: Path) -> None:
    pane = tmux_server.start()
    reg.parent.mkdir(parents=True)
    reg.write_text(
        json.dumps({"k": {"pane": "%9", "pid": 1, "extra": "kept"}, "o": {"pane": "%1"}})
    )
    assert tr("--registry", str(reg), "register", "k", pane).returncode == 0
    data = json.loads(reg.read_text())
    assert data["k"]["extra"] == "kept" and data["k"]["pane"] == pane
    assert data["o"] == {"pane": "%1"}


def test_register_by_target_and_missing_pane(tmux_server, reg: Path) -> None:
    pane = tmux_server.start()
    r = tr("--registry", str(reg), "register", "k", "=main:")
    assert r.returncode == 0, r
    assert json.loads(reg.read_text())["k"]["pane"] == pane
    before = reg.read_bytes()
    r = tr("--registry", str(reg), "register", "other", "%77")
    assert r.returncode == 1 and "%77 does not exist" in r.stderr
    assert reg.read_bytes() == before


def test_default_registry_is_under_cwd(tmux_server, tmp_path: Path) -> None:
    pane = tmux_server.start()
    assert tr("register", "k", pane, cwd=tmp_path).returncode == 0
    assert json.loads((tmp_path / ".tmux-router" / "registry.json").read_text())["k"]


def test_no_server_is_a_clear_error_and_registry_untouched(tmux_server, reg: Path) -> None:
    reg.parent.mkdir(parents=True)
    Registry(reg).save({"k": make_entry("%0", pid=42)})
    before = reg.read_bytes()
    for args in (
        ["resync"],
        ["status"],
        ["register", "x", "%0"],
        ["send", "k", "hi"],
        ["focus", "k"],
        ["capture", "%0"],
        ["sync", "--col", "k,x"],
    ):
        r = tr("--registry", str(reg), *args)
        assert r.returncode == 1, (args, r)
        assert "no tmux server is running" in r.stderr, (args, r)
        assert "Traceback" not in r.stderr
        assert reg.read_bytes() == before


def test_tmux_not_installed(tmp_path: Path, reg: Path) -> None:
    empty = tmp_path / "emptybin"
    empty.mkdir()
    reg.parent.mkdir(parents=True)
    Registry(reg).save({"k": make_entry("%0", pid=42)})
    before = reg.read_bytes()
    for args in (["resync"], ["status"], ["send", "%0", "hi"], ["sync", "--col", "k"]):
        r = tr("--registry", str(reg), *args, env={"PATH": str(empty)})
        assert r.returncode == 1, (args, r)
        assert "tmux is not installed" in r.stderr and "apt-get install tmux" in r.stderr
        assert reg.read_bytes() == before


def test_resync_prunes_by_pid_identity_after_restart(tmux_server, reg: Path) -> None:
    pane = tmux_server.start()
    keep = tmux_server.new_pane("main")
    assert tr("--registry", str(reg), "register", "old", pane).returncode == 0
    # restart the server: pane ids restart at %0, the registry survives
    again = restart(tmux_server)
    assert again == pane
    assert (
        tr("--registry", str(reg), "register", "new", tmux_server.new_pane("main")).returncode == 0
    )
    r = tr("--registry", str(reg), "status", "--json")
    alive = {row["key"]: row["alive"] for row in json.loads(r.stdout)}
    assert alive == {"old": False, "new": True}
    # never type into the reused pane
    r = tr("--registry", str(reg), "send", "old", "echo INJECTED")
    assert r.returncode == 1 and "another process" in r.stderr
    time.sleep(0.2)
    assert "INJECTED" not in tmux_server.capture(pane)
    r = tr("--registry", str(reg), "resync", "--json")
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    assert [p["key"] for p in out["pruned"]] == ["old"] and out["remaining"] == 1
    assert "pruned 1 dead entry" in r.stderr
    assert set(json.loads(reg.read_text())) == {"new"}
    assert keep  # the first server's second pane is gone with it


def test_send_capture_focus(tmux_server, reg: Path) -> None:
    pane = tmux_server.start()
    other = tmux_server.new_pane("main")
    assert tr("--registry", str(reg), "register", "doc", pane).returncode == 0
    r = tr("--registry", str(reg), "send", "doc", "echo 'a;b' $((40+2))")
    assert r.returncode == 0, r
    tmux_server.wait_for(pane, "a;b 42")
    r = tr("--registry", str(reg), "send", pane, "echo no-enter", "--no-enter")
    assert r.returncode == 0
    tmux_server.wait_for(pane, "echo no-enter")
    r = tr("--registry", str(reg), "send", pane, "C-u", "--raw")  # key name: clears the line
    assert r.returncode == 0
    wait_until(lambda: "echo no-enter" not in tmux_server.capture(pane))
    r = tr("--registry", str(reg), "capture", "doc")
    assert r.returncode == 0 and "a;b 42" in r.stdout
    r = tr("--registry", str(reg), "capture", "doc", "--lines", "50")
    assert "a;b 42" in r.stdout
    tmux_server.tmux("select-window", "-t", other)
    r = tr("--registry", str(reg), "focus", "doc")
    assert r.returncode == 0, r
    assert tmux_server.tmux("display-message", "-p", "-t", pane, "#{window_active}") == "1"
    r = tr("--registry", str(reg), "send", "nobody", "x")
    assert r.returncode == 1 and "not registered" in r.stderr and "hint:" in r.stderr
    r = tr("--registry", str(reg), "send", "%99", "x")
    assert r.returncode == 1 and "can't find pane" in r.stderr


def test_sync_command(tmux_server, reg: Path) -> None:
    a = tmux_server.start()
    b = tmux_server.new_pane("main")
    c = tmux_server.new_pane("main")
    for key, pane in (("a", a), ("b", b), ("c", c)):
        assert tr("--registry", str(reg), "register", key, pane).returncode == 0
    r = tr("--registry", str(reg), "sync", "--col", "a,b", "--col", "c", "--focus", "c")
    assert r.returncode == 0, r
    assert r.stdout.startswith("synced to window @")
    assert "session: main" in r.stdout
    assert "[sync:VERIFY]" in r.stderr and "Sync: 3 panes in 2 columns" in r.stderr
    r = tr("--registry", str(reg), "sync", "--col", "a,b", "--col", "c", "--json")
    out = json.loads(r.stdout)
    assert out["columns"] == [[a, b], [c]] and out["fast_path"] and out["moved"] == 0
    win = out["target_window"]
    geo = {
        line.split()[0]: tuple(map(int, line.split()[1:]))
        for line in tmux_server.tmux(
            "list-panes", "-t", win, "-F", "#{pane_id} #{pane_left} #{pane_top}"
        ).splitlines()
    }
    assert geo[a] == (0, 0) and geo[b][0] == 0 and geo[b][1] > 0
    assert geo[c][0] > 0 and geo[c][1] == 0
    r = tr("--registry", str(reg), "sync")
    assert r.returncode == 1 and "at least one --col required" in r.stderr
    r = tr("--registry", str(reg), "sync", "--col", " , ")
    assert r.returncode == 1 and "empty --col argument" in r.stderr


def test_socket_name_option_and_env(tmux_server, reg: Path, tmp_path: Path) -> None:
    other = Tmux(socket_name="tr-cli-other")
    try:
        pane = other.new_session("s", str(tmp_path)).id
        r = tr("--registry", str(reg), "--socket-name", "tr-cli-other", "register", "k", pane)
        assert r.returncode == 0, r
        r = tr("--registry", str(reg), "status")
        assert r.returncode == 1  # the default server is not running
        r = tr("--registry", str(reg), "status", env={"AGENT_DOC_TMUX_SOCKET": "tr-cli-other"})
        assert "[alive]" in r.stdout, r
    finally:
        other.run("kill-server", check=False)


def test_concurrent_register_processes_lose_nothing(tmux_server, reg: Path) -> None:
    pane = tmux_server.start()
    n = 12
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tmux_router",
                "--registry",
                str(reg),
                "register",
                f"key{i}",
                pane,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    data = json.loads(reg.read_text())
    assert set(data) == {f"key{i}" for i in range(n)}
    assert all(e["pane"] == pane for e in data.values())  # many keys may share one pane
