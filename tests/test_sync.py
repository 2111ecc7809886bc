"""``tmux_router.sync`` on real, isolated tmux servers: columns, stacks, eviction to the stash,
reorder, fast path, dead panes, determinism, one registry transaction."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from tmux_router.registry import Registry, make_entry
from tmux_router.sync import (
    Resolved,
    SyncError,
    Unresolvable,
    all_files,
    parse_columns,
    structure_of,
    sync,
)
from tmux_router.tmux import NoServer, Tmux

pytestmark = pytest.mark.tmux


class Env:
    """Named panes, each in its own window of session ``main``, registered under its name."""

    def __init__(self, server, tmp_path: Path) -> None:
        self.server = server
        self.tmux = Tmux()
        self.reg = Registry(tmp_path / "registry.json")
        self.panes: dict[str, str] = {}

    def make(self, *names: str, session: str = "main") -> dict[str, str]:
        for name in names:
            if not self.tmux.server_running():
                pane = self.start(session)
            elif not self.tmux.has_session(session):
                pane = self.tmux.new_session(session, "/tmp").id
            else:
                pane = self.server.new_pane(session, window=True)
            self.panes[name] = pane
        self.register(*names)
        return self.panes

    def start(self, session: str) -> str:
        """Start the server; window names do not follow the running program (tmux's
        automatic-rename samples the pane's process, ``tmux`` before the shell has exec'd, then
        ``bash``: a timing race that made two identical runs differ)."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return self.server.tmux(
                    "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "200",
                    "-y", "50", "-P", "-F", "#{pane_id}",
                    ";", "set-option", "-g", "automatic-rename", "off",
                )
            except RuntimeError:  # a previous server is still shutting down
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def register(self, *names: str) -> None:
        info = {p.id: p for p in self.tmux.list_panes()}
        with self.reg.transaction() as entries:
            for name in names:
                p = info[self.panes[name]]
                entries[name] = make_entry(p.id, pid=p.pid, window=p.window)

    def resolve(self, name: str) -> Resolved | None:
        if name.startswith("unreadable"):
            raise Unresolvable(f"cannot read {name}")
        if name.startswith("shell"):
            return None  # an unmanaged file
        return Resolved(key=name, tmux_session=None)

    def sync(self, *cols: str, **kw):
        return sync(self.tmux, self.reg, parse_columns(cols), self.resolve, **kw)

    def layout(self, window: str) -> list[list[str]] | None:
        return structure_of(self.tmux.window_panes(window))

    def ids(self, cols: list[list[str]]) -> list[list[str]]:
        return [[self.panes[n] for n in col] for col in cols]

    def windows(self) -> list[tuple[str, str]]:
        return self.tmux.list_windows("main")


@pytest.fixture
def env(tmux_server, tmp_path: Path) -> Env:
    return Env(tmux_server, tmp_path)


def all_alive(env: Env) -> None:
    live = env.tmux.live_panes()
    for name, pane in env.panes.items():
        assert pane in live, f"pane of {name} ({pane}) was lost"


# -- pure parts ---------------------------------------------------------------------------------
def test_parse_columns() -> None:
    assert parse_columns(["a.md, b.md", " c.md "]) == [["a.md", "b.md"], ["c.md"]]
    assert parse_columns(["a,,b,"]) == [["a", "b"]]
    with pytest.raises(SyncError, match="at least one --col required"):
        parse_columns([])
    with pytest.raises(SyncError, match="empty --col argument: ' , '"):
        parse_columns(["a", " , "])
    assert all_files([["a", "b"], ["c", "a"]]) == ["a", "b", "c"]


# -- layouts --------------------------------------------------------------------------------------
def test_two_columns_with_stack(env: Env) -> None:
    p = env.make("a", "b", "c")
    windows_before = len(env.windows())
    assert windows_before == 3
    r = env.sync("a,b", "c")
    assert r.ok, r.log
    assert r.panes == env.ids([["a", "b"], ["c"]])
    info = {x.id: x for x in env.tmux.window_panes(r.target_window)}
    assert set(info) == {p["a"], p["b"], p["c"]}
    a, b, c = info[p["a"]], info[p["b"]], info[p["c"]]
    assert (a.left, a.top) == (0, 0)
    assert b.left == 0 and b.top > 0
    assert c.left > 0 and c.top == 0
    assert c.height > a.height  # column 2 is full height
    assert abs(a.width - c.width) <= 1  # columns equalized
    assert len(env.windows()) == 1  # the other two windows emptied and closed
    assert r.moved >= 2
    assert r.target_session == "main"
    all_alive(env)


def test_second_identical_sync_is_fast_path(env: Env, tmux_counter) -> None:
    env.make("a", "b", "c")
    first = env.sync("a,b", "c")
    layout = env.tmux.run("display-message", "-p", "-t", first.target_window, "#{window_layout}")
    windows = env.windows()
    tmux_counter.reset()
    second = env.sync("a,b", "c")
    calls = tmux_counter.calls()
    assert second.fast_path and second.moved == 0
    assert second.target_window == first.target_window
    assert env.windows() == windows
    assert (
        env.tmux.run("display-message", "-p", "-t", first.target_window, "#{window_layout}")
        == layout
    )  # not even resized
    # one snapshot and nothing else: no mutating tmux command at all
    assert len(calls) == 1, calls
    assert calls[0].startswith("list-panes -a")


def test_unwanted_registered_pane_goes_to_stash_alive(env: Env) -> None:
    p = env.make("a", "b", "x")
    env.sync("a", "b", "x")  # all three in one window
    pids = env.tmux.live_panes()
    r = env.sync("a", "b")
    assert r.ok, r.log
    assert env.layout(r.target_window) == env.ids([["a"], ["b"]])
    stash = env.tmux.find_stash_window("main")
    assert stash is not None and stash != r.target_window
    assert env.tmux.window_of(p["x"]) == stash
    assert env.tmux.live_panes() == pids  # nothing killed, nothing restarted
    # the registry follows: x now lives in the stash window
    assert env.reg.load()["x"]["window"] == stash
    # evicting more reuses the one stash window
    env.sync("a")  # one file: only a select, nothing evicted
    r = env.sync("a,b")
    env.make("y")
    r = env.sync("a,y")
    assert env.tmux.window_of(p["b"]) == stash
    assert [n for _, n in env.windows()].count("stash") == 1
    all_alive(env)


def test_unmanaged_shell_in_target_is_stashed(env: Env, tmux_server) -> None:
    p = env.make("a", "b")
    shell = tmux_server.new_pane(p["a"], window=False)  # an unregistered pane beside a
    r = env.sync("a", "b")
    assert r.ok, r.log
    assert env.layout(r.target_window) == env.ids([["a"], ["b"]])
    assert shell in env.tmux.live_panes()
    assert env.tmux.window_of(shell) == env.tmux.find_stash_window("main")


def test_three_columns(env: Env) -> None:
    p = env.make("a", "b", "c")
    r = env.sync("a", "b", "c")
    assert r.ok, r.log
    info = sorted(env.tmux.window_panes(r.target_window), key=lambda x: x.left)
    assert [x.id for x in info] == [p["a"], p["b"], p["c"]]
    assert all(x.top == 0 for x in info)
    widths = [x.width for x in info]
    assert max(widths) - min(widths) <= 1


def test_stacked_columns_are_not_flattened(env: Env) -> None:
    env.make("a", "b", "c", "d", "e")
    r = env.sync("a,b", "c,d", "e")
    assert r.ok, r.log
    assert env.layout(r.target_window) == env.ids([["a", "b"], ["c", "d"], ["e"]])
    r = env.sync("a,b,c")
    assert env.layout(r.target_window) == env.ids([["a", "b", "c"]])
    heights = [x.height for x in env.tmux.window_panes(r.target_window)]
    assert max(heights) - min(heights) <= 1
    all_alive(env)


def test_reorder(env: Env) -> None:
    env.make("a", "b", "c")
    r1 = env.sync("a", "b", "c")
    r2 = env.sync("c", "a", "b")
    assert r2.ok, r2.log
    assert r2.target_window == r1.target_window
    assert env.layout(r2.target_window) == env.ids([["c"], ["a"], ["b"]])
    assert r2.moved > 0
    r3 = env.sync("b,a", "c")
    assert env.layout(r3.target_window) == env.ids([["b", "a"], ["c"]])
    assert env.sync("b,a", "c").fast_path
    all_alive(env)


def test_dead_pane_in_desired_is_logged(env: Env) -> None:
    p = env.make("a", "b", "d")
    env.tmux.kill_pane(p["d"])
    r = env.sync("a", "b", "d")
    assert not r.ok
    assert any("d:" in e.message and "no live pane" in e.message for e in r.errors)
    assert any(p["d"] in e.message and "dead or missing" in e.message for e in r.log)
    assert env.layout(r.target_window) == env.ids([["a"], ["b"]])
    assert "Sync completed with errors" in r.summary()


def test_same_column_donor_and_unmanaged_focus(env: Env) -> None:
    p = env.make("a", "b")
    # "new" is managed but has no pane: it borrows a's pane (same column), not b's
    r = env.sync("a,new", "b")
    assert r.borrowed == {"new": p["a"]}
    assert r.panes == env.ids([["a"], ["b"]])
    env.tmux.select_pane(p["b"])
    # focus on an unmanaged file leaves the selection where it is
    r = env.sync("a,shell.txt", "b", focus="shell.txt")
    assert r.focus_pane is None
    assert env.tmux.pane(p["b"]).active
    r = env.sync("a,shell.txt", "b", focus="a")
    assert env.tmux.pane(p["a"]).active


def test_focus_is_selected(env: Env) -> None:
    p = env.make("a", "b", "c")
    r = env.sync("a", "b,c", focus="c")
    assert r.focus_pane == p["c"]
    pane = env.tmux.pane(p["c"])
    assert pane.active and pane.window_active
    r = env.sync("a", "b,c")  # no focus: the first pane
    assert env.tmux.pane(p["a"]).active


def test_unreadable_files_are_skipped(env: Env) -> None:
    env.make("a", "b")
    r = env.sync("a,unreadable.md", "b")
    assert any("unreadable.md" in e.message and e.warning for e in r.log)
    assert env.layout(r.target_window) == env.ids([["a"], ["b"]])


def test_early_exits(env: Env) -> None:
    p = env.make("a", "b")
    other = env.tmux.window_of(p["b"])
    r = env.sync("a")  # one file: select it, move nothing
    assert r.moved == 0 and env.tmux.pane(p["a"]).active
    assert env.tmux.window_of(p["b"]) == other
    r = env.sync("a", "nobody")  # fewer than 2 resolved; never claimed: a warning only
    assert r.moved == 0 and r.panes == []
    assert r.ok and any("nobody" in e.message and e.warning for e in r.log)
    r = env.sync("a,b", "a")  # duplicates collapse
    assert r.panes == env.ids([["a", "b"]])


def test_window_option_picks_the_target(env: Env) -> None:
    p = env.make("a", "b", "c")
    target = env.tmux.window_of(p["c"])
    r = env.sync("a", "b", window=target)
    assert r.target_window == target
    assert env.layout(target) == env.ids([["a"], ["b"]])
    assert env.tmux.window_of(p["c"]) == env.tmux.find_stash_window("main")
    # a dead window falls back to the best window, with a warning
    r = env.sync("a", "b", window="@999")
    assert any("@999" in e.message for e in r.log)
    assert r.fast_path


def test_wanted_pane_in_stash_comes_back(env: Env) -> None:
    p = env.make("a", "b", "c")
    env.sync("a", "b", "c")
    env.sync("a")  # nothing happens with one file
    env.sync("a", "b")  # c to the stash
    env.sync("a")
    stash = env.tmux.find_stash_window("main")
    env.make("d")
    env.sync("c", "d")  # c is in the stash; d in its own window
    win = env.tmux.window_of(p["c"])
    assert win != stash
    assert env.layout(win) == env.ids([["c"], ["d"]])
    assert env.tmux.window_of(p["a"]) != stash
    all_alive(env)


def test_numeric_session_stashes_into_stash_window(env: Env) -> None:
    p = env.make("a", "b", "x", session="0")
    env.sync("a", "b", "x")
    r = env.sync("a", "b")
    assert r.target_session == "0"
    stash = env.tmux.find_stash_window("0")
    assert stash is not None and env.tmux.window_of(p["x"]) == stash


def test_registry_updated_in_one_transaction(env: Env, monkeypatch) -> None:
    p = env.make("a", "b", "c")
    calls = []
    original = env.reg.transaction

    @contextlib.contextmanager
    def counting():
        calls.append(1)
        with original() as entries:
            yield entries

    monkeypatch.setattr(env.reg, "transaction", counting)
    r = env.sync("a,b", "c")
    assert len(calls) == 1
    entries = env.reg.load()
    assert {entries[k]["window"] for k in "abc"} == {r.target_window}
    assert env.tmux.window_of(p["b"]) == r.target_window
    calls.clear()
    env.sync("a,b", "c")
    assert calls == []  # fast path, registry already right: not even the lock


def test_reused_pane_id_is_not_arranged(env: Env) -> None:
    p = env.make("a", "b")
    with env.reg.transaction() as entries:
        entries["b"]["pid"] = 1  # b's pane id now belongs to some other process
    r = env.sync("a", "b")
    assert r.panes == []
    assert any("another process" in e.message for e in r.log)
    assert env.tmux.window_of(p["b"]) != env.tmux.window_of(p["a"])


def test_no_server(env: Env) -> None:
    with env.reg.transaction() as entries:
        entries["a"] = make_entry("%0", pid=123)
    before = Path(env.reg.path).read_bytes()
    with pytest.raises(NoServer):
        env.sync("a", "b")
    assert Path(env.reg.path).read_bytes() == before


def scenario(env: Env) -> tuple:
    env.make("a", "b", "c", "d", "x")
    env.server.new_pane(env.panes["b"], window=False)  # an unregistered shell next to b
    results = [env.sync("a,b", "c"), env.sync("d", "a,c", "b"), env.sync("x,b", "a")]
    snapshot = [
        (x.id, x.window, x.session, x.left, x.top, x.width, x.height, x.window_name)
        for x in sorted(env.tmux.list_panes(), key=lambda x: x.id)
    ]
    return (
        [(r.target_window, r.panes, r.moved, [str(e) for e in r.log]) for r in results],
        snapshot,
        env.windows(),
    )


def test_deterministic_on_fresh_servers(tmux_server, tmp_path: Path) -> None:
    outcomes = []
    for run in range(2):
        env = Env(tmux_server, tmp_path / f"run{run}")
        (tmp_path / f"run{run}").mkdir()
        outcomes.append(scenario(env))
        tmux_server.kill()
    assert outcomes[0] == outcomes[1]


def test_large_layout(env: Env) -> None:
    names = [f"p{i}" for i in range(8)]
    env.make(*names)
    r = env.sync("p0,p1,p2", "p3,p4,p5", "p6,p7")
    assert r.ok, [str(e) for e in r.log]
    assert env.layout(r.target_window) == env.ids([names[0:3], names[3:6], names[6:8]])
    assert env.sync("p0,p1,p2", "p3,p4,p5", "p6,p7").fast_path
    all_alive(env)


def test_random_layouts_complete_idempotent_lossless(env: Env) -> None:
    """Property check with a fixed seed: 2–5 panes in 1–3 columns, from whatever came before."""
    import random

    rng = random.Random(20240611)
    names = [f"k{i}" for i in range(6)]
    env.make(*names)
    for _ in range(10):
        chosen = rng.sample(names, rng.randint(2, 5))
        ncols = rng.randint(1, min(3, len(chosen)))
        cuts = sorted(rng.sample(range(1, len(chosen)), ncols - 1))
        cols = [chosen[i:j] for i, j in zip([0, *cuts], [*cuts, len(chosen)], strict=True)]
        r = env.sync(*(",".join(c) for c in cols))
        assert r.ok, (cols, [str(e) for e in r.log])
        assert env.layout(r.target_window) == env.ids(cols), cols  # completeness
        again = env.sync(*(",".join(c) for c in cols))
        assert again.fast_path and again.moved == 0, cols  # idempotent
        all_alive(env)  # no pane lost


def test_pane_dying_during_sync_is_logged_and_the_rest_arranged(env: Env) -> None:
    p = env.make("a", "b", "c")

    def resolve(name: str) -> Resolved | None:
        if name == "c":  # b dies after the snapshot, before the moves
            env.tmux.kill_pane(p["b"])
        return Resolved(key=name)

    r = sync(env.tmux, env.reg, parse_columns(["a", "b", "c"]), resolve)
    errors = [e for e in r.errors if e.phase == "ATTACH"]
    assert errors and p["b"] in errors[0].message and "dead?" in errors[0].message
    assert any(e.phase == "VERIFY" for e in r.errors)
    win = env.tmux.window_of(p["a"])
    assert env.tmux.window_of(p["c"]) == win
    assert structure_of(env.tmux.window_panes(win)) == [[p["a"]], [p["c"]]]


def test_split_evenly_handles_no_columns() -> None:
    """Found by the stress suite: every wanted pane died during a sync → no columns to size."""
    from tmux_router.sync import _split_evenly

    assert _split_evenly(200, 0) == []
    assert _split_evenly(200, 2) == [100, 99]
    assert sum(_split_evenly(201, 3)) + 2 == 201


def test_unreadable_focus_selects_the_first_pane_of_its_column(env: Env) -> None:
    """`--focus` naming a file that cannot be read (a new unsaved editor tab, bad frontmatter)
    selects the first pane of that file's column, as the reference does (issue 14); an
    unmanaged focus still leaves the selection alone."""
    p = env.make("a", "b", "c")
    env.tmux.select_pane(p["a"])
    r = env.sync("a", "b,unreadable-new.md,c", focus="unreadable-new.md")
    assert r.focus_pane == p["b"]
    pane = env.tmux.pane(p["b"])
    assert pane.active and pane.window_active
    assert any("unreadable-new.md" in e.message and "first pane of its column" in e.message
               for e in r.log)
    # the same on the early exit (fewer than two panes): the column's pane is selected
    env.tmux.select_pane(p["c"])
    r = env.sync("a,unreadable-x.md", focus="unreadable-x.md")
    assert r.focus_pane == p["a"] and env.tmux.pane(p["a"]).active
    # not in any column, or only unreadable files in its column: selection left alone
    env.tmux.select_pane(p["c"])
    r = env.sync("a", "b", "unreadable-y.md", focus="unreadable-y.md")
    assert r.focus_pane is None and env.tmux.pane(p["c"]).active
