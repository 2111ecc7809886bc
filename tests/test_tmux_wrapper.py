"""The tmux wrapper (``tmux_router.tmux``) against real, isolated tmux servers.

Literal text delivery, one process per send, exact session matching, error classes, pid
identity across a server restart, the stash, explicit sockets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.tmux import restart
from helpers.waiting import wait_until
from tmux_router.registry import Registry, identity_ok, make_entry
from tmux_router.tmux import NoServer, Pane, Tmux, TmuxError, TmuxNotInstalled

pytestmark = pytest.mark.tmux

TRICKY = [
    "a;b",
    "$HOME",
    "Enter",
    "x;",
    ";",
    "-l",
    "--",
    "#{pane_id}",
    "%1",
    "a \\; b",
    "~ {} ' \"",
    "C-c",
]


@pytest.fixture
def tmux(tmux_server) -> Tmux:
    return Tmux()


def tee_pane(tmux: Tmux, out: Path, session: str = "t") -> Pane:
    """A pane running ``tee OUT``: every line typed + Enter lands in OUT, byte for byte."""
    pane = tmux.new_session(session, str(out.parent), ["tee", str(out)])
    wait_until(lambda: tmux.pane(pane.id) and tmux.pane(pane.id).command == "tee", what="tee")
    return pane


def test_send_text_is_literal_and_presses_enter(tmux: Tmux, tmp_path: Path) -> None:
    out = tmp_path / "typed.txt"
    pane = tee_pane(tmux, out)
    for text in TRICKY:
        tmux.send_text(pane.id, text)
    expected = "".join(t + "\n" for t in TRICKY)
    wait_until(lambda: out.exists() and out.read_text() == expected, what="all lines in file")
    assert out.read_text() == expected
    screen = tmux.capture(pane.id, lines=100)
    # tty echo + tee's own output: each line shows twice once Enter was pressed
    for text in TRICKY:
        assert screen.splitlines().count(text) == 2, (text, screen)


def test_send_text_without_enter_and_key_names(tmux: Tmux, tmp_path: Path) -> None:
    out = tmp_path / "typed.txt"
    pane = tee_pane(tmux, out)
    tmux.send_text(pane.id, "abc", enter=False)
    tmux.send_text(pane.id, "def", enter=False)
    time.sleep(0.2)
    assert not out.exists() or out.read_text() == ""  # no Enter yet: the line is not complete
    tmux.send_keys(pane.id, "BSpace", "Enter")  # key names are interpreted here
    wait_until(lambda: out.exists() and out.read_text() == "abcde\n", what="abcde line")


def test_one_tmux_process_per_send(tmux: Tmux, tmp_path: Path, tmux_counter) -> None:
    out = tmp_path / "typed.txt"
    pane = tee_pane(tmux, out)
    tmux_counter.reset()
    tmux.send_text(pane.id, "hello; world")
    assert tmux_counter.count() == 1
    tmux_counter.reset()
    # route's happy path: one liveness snapshot + one send
    live = tmux.live_panes()
    assert pane.id in live
    tmux.send_text(pane.id, "again")
    assert tmux_counter.count() == 2
    calls = tmux_counter.calls()
    assert calls[0].startswith("list-panes -a")
    assert "send-keys" in calls[1] and "Enter" in calls[1]
    wait_until(lambda: out.exists() and out.read_text() == "hello; world\nagain\n", what="lines")


TRICKY_CHECKED = [*TRICKY, "it's", "'", "a'\\''b", "\\", "x\\", "\"q\" $(echo no) `no`",
                  "{", "}", "#", "# comment", "ünïcødé ❯ 日本", " lead and trail "]


def test_checked_send_is_literal_in_one_process(tmux: Tmux, tmp_path: Path,
                                                tmux_counter) -> None:
    """send_text_if_running quotes the text for tmux's command language (it goes through
    if-shell): every tricky string arrives byte for byte, each in ONE tmux process."""
    out = tmp_path / "typed.txt"
    pane = tee_pane(tmux, out)
    pid = tmux.pane(pane.id).pid
    tmux_counter.reset()
    for text in TRICKY_CHECKED:
        assert tmux.send_text_if_running(pane.id, text, pids=[12345, pid]) is True
    assert tmux_counter.count() == len(TRICKY_CHECKED)
    expected = "".join(t + "\n" for t in TRICKY_CHECKED)
    wait_until(lambda: out.exists() and out.read_text() == expected, what="all lines in file")


def test_checked_send_refuses_another_process_dead_and_missing_panes(
    tmux: Tmux, tmux_server, tmp_path: Path
) -> None:
    out = tmp_path / "typed.txt"
    pane = tee_pane(tmux, out)
    pid = tmux.pane(pane.id).pid
    # a pid list that does not contain the pane's pid (a reused pane id): nothing typed
    assert tmux.send_text_if_running(pane.id, "wrong", pids=[pid + 100000]) is False
    assert tmux.send_text_if_running("%999", "missing", pids=None) is False
    assert tmux.send_text_if_running(pane.id, "any", pids=None) is True
    wait_until(lambda: out.exists() and out.read_text() == "any\n", what="any")
    time.sleep(0.2)
    assert out.read_text() == "any\n"
    # a dead pane (remain-on-exit) is not typed into
    tmux_server.tmux("set-option", "-g", "remain-on-exit", "on")
    dead = tmux.new_window("t", str(tmp_path), ["sh", "-c", "sleep 0.3"], detached=True)
    wait_until(lambda: (p := tmux.pane(dead.id)) is not None and p.dead, what="dead pane")
    assert tmux.send_text_if_running(dead.id, "ghost", pids=None) is False
    assert tmux.send_text_if_running(dead.id, "ghost", pids=[dead.pid]) is False


def test_checked_send_refuses_a_default_shell_at_its_prompt(
    tmux: Tmux, tmux_server, tmp_path: Path
) -> None:
    """``not_at_shell_prompt``: a pane started with the default shell whose foreground is that
    shell gets nothing (it would run the text); a pane started with a program does, and so
    does the default shell's pane while a program runs in front of it. An empty pid list
    matches nothing."""
    out = tmp_path / "typed.txt"
    pane = tee_pane(tmux, out)
    tmux_server.tmux("set-option", "-g", "default-shell", "/bin/sh")
    shell = tmux.new_window("t", str(tmp_path), None, detached=True)
    wait_until(lambda: tmux.pane(shell.id).command == "sh", what="shell prompt")
    marker = tmp_path / "MARKER"
    text = f"echo $(touch {marker})"
    assert tmux.send_text_if_running(shell.id, text, pids=[shell.pid],
                                     not_at_shell_prompt=True) is False
    assert tmux.send_text_if_running(shell.id, text, pids=[], not_at_shell_prompt=False) is False
    time.sleep(0.3)
    assert not marker.exists()
    assert tmux.send_text_if_running(pane.id, "typed", pids=None, not_at_shell_prompt=True)
    wait_until(lambda: out.exists() and out.read_text() == "typed\n", what="typed")
    # the shell's pane with a program in front of it: typed into the program
    tmux.send_text(shell.id, f"cat > {tmp_path / 'front.txt'}")
    wait_until(lambda: tmux.pane(shell.id).command == "cat", what="cat in front")
    assert tmux.send_text_if_running(shell.id, "front", pids=[shell.pid],
                                     not_at_shell_prompt=True)
    wait_until(lambda: (tmp_path / "front.txt").exists()
               and (tmp_path / "front.txt").read_text() == "front\n", what="front")


def test_checked_send_without_server_raises(tmux: Tmux, tmux_server) -> None:
    tmux_server.kill()
    with pytest.raises(NoServer):
        Tmux().send_text_if_running("%0", "x", pids=None)


def test_send_to_missing_pane_raises_and_types_nothing(tmux: Tmux, tmp_path: Path) -> None:
    out = tmp_path / "typed.txt"
    pane = tee_pane(tmux, out)
    with pytest.raises(TmuxError) as info:
        tmux.send_text("%999", "nope")
    assert "%999" in str(info.value)
    assert "can't find pane" in info.value.stderr
    tmux.send_text(pane.id, "yes")
    wait_until(lambda: out.exists() and out.read_text() == "yes\n", what="yes")


def test_exact_session_matching(tmux: Tmux, tmp_path: Path) -> None:
    tmux.new_session("claude-old", str(tmp_path))
    assert tmux.has_session("claude-old")
    assert not tmux.has_session("claude")  # plain `has-session -t claude` would say yes
    assert not tmux.has_session("claude-")
    with pytest.raises(TmuxError):
        tmux.new_window("claude", str(tmp_path))  # must not land in claude-old
    assert len(tmux.list_windows("claude-old")) == 1
    pane = tmux.new_session("claude", str(tmp_path))
    assert tmux.has_session("claude")
    win = tmux.new_window("claude", str(tmp_path))
    assert win.session == "claude"
    assert pane.session == "claude"


def test_numeric_session_name_is_a_session(tmux: Tmux, tmp_path: Path) -> None:
    tmux.new_session("0", str(tmp_path))
    tmux.new_session("other", str(tmp_path))
    pane = tmux.new_window("0", str(tmp_path))
    assert pane.session == "0"
    assert tmux.has_session("0")


def test_no_server(tmux: Tmux) -> None:
    assert not tmux.server_running()
    assert tmux.list_panes() == []
    assert tmux.live_panes() == {}
    assert tmux.pane("%0") is None
    assert not tmux.has_session("x")
    with pytest.raises(NoServer) as info:
        tmux.send_text("%0", "x")
    assert "no tmux server is running" in str(info.value)
    with pytest.raises(NoServer):
        tmux.run("list-sessions")


def test_tmux_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    tmux = Tmux()
    for call in (
        tmux.live_panes,
        tmux.list_panes,
        tmux.server_running,
        lambda: tmux.send_text("%0", "x"),
        lambda: tmux.has_session("a"),
    ):
        with pytest.raises(TmuxNotInstalled) as info:
            call()
        assert "tmux is not installed" in str(info.value)
        assert "apt-get install tmux" in str(info.value)


def test_pane_fields_and_liveness(tmux: Tmux, tmux_server, tmp_path: Path) -> None:
    first = tmux_server.start()
    second = tmux_server.new_pane(first, window=False)  # split: same window
    panes = {p.id: p for p in tmux.list_panes()}
    assert set(panes) == {first, second}
    a, b = panes[first], panes[second]
    assert a.session == b.session == "main"
    assert a.window == b.window and a.window.startswith("@")
    assert a.pid > 0 and b.pid > 0 and a.pid != b.pid
    assert (a.left, a.top) == (0, 0) and b.top > a.top
    assert a.width == b.width == 200
    assert not a.dead
    assert tmux.live_panes() == {first: a.pid, second: b.pid}
    assert [p.id for p in tmux.window_panes(a.window)] == [first, second]
    # a dead pane (remain-on-exit) is listed but not live
    tmux.run("set-option", "-g", "remain-on-exit", "on")
    dying = tmux.new_window("main", str(tmp_path), ["true"])
    wait_until(lambda: tmux.pane(dying.id) and tmux.pane(dying.id).dead, what="dead pane")
    assert dying.id not in tmux.live_panes()
    tmux.kill_pane(second)
    assert tmux.pane(second) is None
    assert second not in tmux.live_panes()
    assert tmux.session_of(first) == "main"


def test_display_message_is_literal_and_capture_lines(tmux: Tmux, tmux_server) -> None:
    pane = tmux_server.start()
    tmux.display_message(pane, "Claimed #{pane_id} a;", 100)  # no client: accepted, no error
    tmux.send_text(pane, "for i in $(seq 1 80); do echo line$i; done")
    tmux_server.wait_for(pane, "line80")
    assert "line1\n" not in tmux.capture(pane)
    assert "line1\n" in tmux.capture(pane, lines=200)


def test_current_pane_from_env_only_for_our_server(
    tmux: Tmux, tmux_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    pane = tmux_server.start()
    socket = tmux_server.tmux("display-message", "-p", "#{socket_path}")
    monkeypatch.setenv("TMUX", f"{socket},1,0")
    monkeypatch.setenv("TMUX_PANE", "%42")
    assert tmux.current_pane() == "%42"
    assert Tmux(socket_path=socket).current_pane() == "%42"
    # a handle on another server does not trust $TMUX_PANE (it would name a pane elsewhere)
    assert Tmux(socket_name="elsewhere").current_pane() is None
    # neither does any handle when $TMUX is unset
    monkeypatch.delenv("TMUX")
    assert tmux.current_pane() == pane


def test_pid_identity_after_server_restart(tmux: Tmux, tmux_server, tmp_path: Path) -> None:
    pane = tmux_server.start()
    old_pid = tmux.live_panes()[pane]
    reg = Registry(tmp_path / "registry.json")
    with reg.transaction() as entries:
        entries["doc"] = make_entry(pane, pid=old_pid, window="@0")
    again = restart(tmux_server)
    assert again == pane  # pane ids restart at %0
    live = tmux.live_panes()
    assert live[pane] != old_pid
    assert not identity_ok(reg.load()["doc"], live)
    removed = reg.prune(live)
    assert [k for k, _ in removed] == ["doc"]
    assert reg.load() == {}


def test_stash_pane_keeps_panes_alive(tmux: Tmux, tmux_server) -> None:
    first = tmux_server.start()
    x = tmux_server.new_pane(first, window=False)
    y = tmux_server.new_pane(first, window=False)
    pids = tmux.live_panes()
    assert tmux.find_stash_window("main") is None
    stash = tmux.stash_pane(x, "main")
    assert tmux.find_stash_window("main") == stash
    assert tmux.window_of(x) == stash
    assert tmux.stash_pane(y, "main") == stash
    assert {p.id for p in tmux.window_panes(stash)} == {x, y}  # no spare shell in the stash
    assert tmux.live_panes() == pids  # same panes, same processes
    assert [p.id for p in tmux.window_panes(first)] == [first]
    names = [name for _, name in tmux.list_windows("main")]
    assert names.count("stash") == 1


def test_find_or_create_stash_window(tmux: Tmux, tmux_server) -> None:
    tmux_server.start()
    w = tmux.find_or_create_stash_window("main")
    assert tmux.find_or_create_stash_window("main") == w
    assert ("@1", "stash") in tmux.list_windows("main") or (w, "stash") in tmux.list_windows("main")


def test_select_pane_and_run_many_abort(tmux: Tmux, tmux_server) -> None:
    first = tmux_server.start()
    other = tmux_server.new_pane("main", window=True)
    tmux.select_pane(other)
    p = tmux.pane(other)
    assert p is not None and p.active and p.window_active
    tmux.select_pane(first)
    assert tmux.pane(first).window_active
    # a failing command aborts the rest of a batch
    with pytest.raises(TmuxError):
        tmux.run_many([["select-pane", "-t", "%999"], ["select-window", "-t", other]])
    assert tmux.pane(first).window_active


def test_explicit_socket_name_is_another_server(tmux: Tmux, tmp_path: Path) -> None:
    other = Tmux(socket_name="tr-test-other")
    try:
        pane = other.new_session("s", str(tmp_path))
        assert other.live_panes().keys() == {pane.id}
        assert other.has_session("s")
        assert not tmux.server_running()  # the default server was never started
        assert not tmux.has_session("s")
    finally:
        other.run("kill-server", check=False)


def test_env_tmux_is_respected_without_flags(tmp_path: Path, tmux_server) -> None:
    """With $TMUX set (inside tmux), plain tmux talks to that server: we pass no -L/-S."""
    other = Tmux(socket_name="tr-test-env")
    try:
        other.new_session("inner", str(tmp_path))
        socket = other.run("display-message", "-p", "#{socket_path}").strip()
        env = dict(os.environ, TMUX=f"{socket},1,0")
        code = (
            "from tmux_router.tmux import Tmux; t = Tmux(); "
            "print(t.has_session('inner'), sorted(p.session for p in t.list_panes()))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert out.strip() == "True ['inner']"
    finally:
        other.run("kill-server", check=False)
