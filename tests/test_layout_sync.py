"""`agent-doc sync`, `layout` and `focus` on a real, isolated tmux server: the resulting pane
geometry (pane_left/pane_top), idempotence, the stash window, and the tmux_session write-back."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import helpers.docs
from helpers.cli import Result
from helpers.tmux import TmuxServer

make_doc = partial(helpers.docs.make_doc, extra="# note\n")


def geometry(tmux_server: TmuxServer, pane: str) -> dict[str, str]:
    fmt = "#{window_id} #{window_name} #{pane_left} #{pane_top} #{pane_active} #{window_active}"
    window, name, left, top, active, wactive = tmux_server.tmux(
        "display-message", "-p", "-t", pane, fmt
    ).split()
    return {
        "window": window,
        "name": name,
        "left": int(left),
        "top": int(top),
        "active": active == "1",
        "window_active": wactive == "1",
    }


def all_panes(tmux_server: TmuxServer) -> list[str]:
    return tmux_server.tmux("list-panes", "-a", "-F", "#{pane_id}").split()


def claimed(
    cli: Callable[..., Result],
    tmux_server: TmuxServer,
    project: Path,
    names: list[str],
) -> dict[str, str]:
    panes = {}
    for name in names:
        make_doc(project, name)
        pane = tmux_server.new_pane()
        r = cli("claim", name, "--pane", pane, cwd=project)
        assert r.returncode == 0, r
        panes[name] = pane
    return panes


def test_sync_two_columns_idempotent_and_stash(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    panes = claimed(cli, tmux_server, project, ["a.md", "b.md", "c.md"])
    # d.md's pane sits in a.md's window: registered but not wanted by the layout below
    make_doc(project, "d.md")
    pd = tmux_server.new_pane(panes["a.md"], window=False)
    assert cli("claim", "d.md", "--pane", pd, cwd=project).returncode == 0
    # c.md lost its tmux_session line: sync writes it back surgically
    c = project / "c.md"
    c_text = c.read_text().replace("tmux_session: main\n", "")
    c.write_text(c_text)

    r = cli("sync", "--col", "a.md,b.md", "--col", "c.md", "--json", cwd=project)
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    assert out["columns"] == [[panes["a.md"], panes["b.md"]], [panes["c.md"]]]
    ga, gb, gc = (geometry(tmux_server, panes[n]) for n in ("a.md", "b.md", "c.md"))
    assert ga["window"] == gb["window"] == gc["window"] == out["target_window"]
    assert ga["left"] == gb["left"] == 0
    assert ga["top"] == 0 and gb["top"] > 0
    assert gc["left"] > 0 and gc["top"] == 0
    assert len(tmux_server.tmux("list-panes", "-t", out["target_window"]).splitlines()) == 3
    # the unwanted registered pane is alive, in the stash window
    gd = geometry(tmux_server, pd)
    assert gd["name"] == "stash" and pd in all_panes(tmux_server)
    # tmux_session written into c.md only, one line, rest untouched
    assert c.read_text() == c_text.replace("# note\n", "# note\ntmux_session: main\n")
    assert out["tmux_session_written"] == ["c.md"]
    # the registry follows the moves (window fields)
    reg = json.loads((project / ".agent-doc" / "sessions.json").read_text())
    assert {e["pane"]: e["window"] for e in reg.values()}[panes["c.md"]] == gc["window"]

    # a second identical sync changes nothing
    windows = tmux_server.tmux("list-windows", "-a", "-F", "#{window_id}")
    r2 = cli("sync", "--col", "a.md,b.md", "--col", "c.md", "--json", cwd=project)
    assert r2.returncode == 0, r2
    out2 = json.loads(r2.stdout)
    assert out2["moved"] == 0 and out2["target_window"] == out["target_window"]
    assert [geometry(tmux_server, panes[n]) for n in ("a.md", "b.md", "c.md")] == [ga, gb, gc]
    assert tmux_server.tmux("list-windows", "-a", "-F", "#{window_id}") == windows
    assert out2["tmux_session_written"] == []


def test_sync_errors(cli: Callable[..., Result], project: Path, tmux_server: TmuxServer) -> None:
    tmux_server.start()
    r = cli("sync", cwd=project)
    assert r.returncode == 1 and "at least one --col required" in r.stderr
    r = cli("sync", "--col", " , ", cwd=project)
    assert r.returncode == 1 and "empty --col argument" in r.stderr


def test_layout_side_by_side_and_stacked(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    panes = claimed(cli, tmux_server, project, ["a.md", "b.md", "c.md"])
    r = cli("layout", "a.md", "b.md", "c.md", cwd=project)
    assert r.returncode == 0, r
    assert "Layout: 3 panes arranged side-by-side" in r.stderr
    g = [geometry(tmux_server, panes[n]) for n in ("a.md", "b.md", "c.md")]
    assert len({x["window"] for x in g}) == 1
    assert g[0]["left"] < g[1]["left"] < g[2]["left"]
    assert {x["top"] for x in g} == {0}
    assert g[0]["active"]
    # registry windows follow the move
    reg = json.loads((project / ".agent-doc" / "sessions.json").read_text())
    assert {e["window"] for e in reg.values()} == {g[0]["window"]}
    # stacked, in a fresh arrangement of two documents
    panes2 = claimed(cli, tmux_server, project, ["x.md", "y.md"])
    r = cli("layout", "x.md", "y.md", "--split", "v", cwd=project)
    assert r.returncode == 0, r
    gx, gy = geometry(tmux_server, panes2["x.md"]), geometry(tmux_server, panes2["y.md"])
    assert gx["window"] == gy["window"] and gx["left"] == gy["left"] and gx["top"] < gy["top"]
    r = cli("layout", "x.md", "y.md", "--split", "diagonal", cwd=project)
    assert r.returncode == 2


def test_layout_same_pane_and_focus(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    first = tmux_server.start()
    panes = claimed(cli, tmux_server, project, ["a.md"])
    make_doc(project, "b.md")
    assert cli("claim", "b.md", "--pane", panes["a.md"], cwd=project).returncode == 0
    r = cli("layout", "a.md", "b.md", cwd=project)
    assert r.returncode == 1 and "all files share the same pane" in r.stderr
    # focus selects the pane and its window
    tmux_server.tmux("select-window", "-t", first)
    assert not geometry(tmux_server, panes["a.md"])["window_active"]
    r = cli("focus", "a.md", cwd=project)
    assert r.returncode == 0, r
    assert f"Focused pane {panes['a.md']} (a.md)" in r.stderr
    g = geometry(tmux_server, panes["a.md"])
    assert g["active"] and g["window_active"]
    # dead pane / unregistered / no UUID
    tmux_server.tmux("kill-pane", "-t", panes["a.md"])
    r = cli("focus", "a.md", cwd=project)
    assert r.returncode == 1 and f"pane {panes['a.md']} is dead for a.md" in r.stderr
    make_doc(project, "new.md")
    r = cli("focus", "new.md", cwd=project)
    assert r.returncode == 1 and "no pane registered for new.md" in r.stderr
    (project / "plain.md").write_text("# plain\n")
    r = cli("focus", "plain.md", cwd=project)
    assert r.returncode == 1 and "no session UUID in plain.md" in r.stderr
    assert (project / "plain.md").read_text() == "# plain\n"
