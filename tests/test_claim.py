"""`agent-doc claim` on a real, isolated tmux server: what it registers, what it writes, and that
concurrent claims / resyncs / syncs (separate processes) lose nothing and never tear the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

import helpers.docs
from helpers.cli import Result
from helpers.cli import spawn_cli as _spawn
from helpers.registry import registry, session_of
from helpers.tmux import TmuxServer
from tmux_router.registry import make_entry

# a comment and a custom key around the session: claiming must keep both
make_doc = partial(helpers.docs.make_doc, before="# keep this comment\n", extra="custom: 'x'\n",
                   body="\nbody\n", unsessioned="# {name}\n")


def pane_fmt(tmux_server: TmuxServer, pane: str, fmt: str) -> str:
    return tmux_server.tmux("display-message", "-p", "-t", pane, fmt)


def test_claim_registers_pane_and_writes_surgically(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    first = tmux_server.start()
    pane = tmux_server.new_pane()
    doc = make_doc(project / "notes", "plan.md")
    sid = session_of(doc)
    original = doc.read_text(encoding="utf-8")
    r = cli("claim", "notes/plan.md", "--pane", pane, "--json", cwd=project)
    assert r.returncode == 0, r
    assert f"Claimed notes/plan.md for pane {pane} (session {sid[:8]})" in r.stderr
    reg = registry(project)
    assert list(reg) == [sid]
    entry = reg[sid]
    assert entry["pane"] == pane
    assert entry["pid"] == int(pane_fmt(tmux_server, pane, "#{pane_pid}"))
    assert entry["window"] == pane_fmt(tmux_server, pane, "#{window_id}")
    assert entry["file"] == "notes/plan.md"
    assert entry["cwd"] == str(project.resolve())
    assert list(entry) == ["pane", "pid", "cwd", "started", "file", "window"]
    # tmux_session inserted as ONE line; every other byte unchanged
    new = doc.read_text(encoding="utf-8")
    assert new == original.replace("custom: 'x'\n", "custom: 'x'\ntmux_session: main\n")
    assert (project / ".agent-doc" / "claims.log").read_text() == (
        f"Claimed notes/plan.md for pane {pane}\n"
    )
    out = json.loads(r.stdout)
    assert out["pane"] == pane and out["session_id"] == sid and out["file"] == "notes/plan.md"
    # the claimed pane got selected (select-pane + select-window)
    assert pane_fmt(tmux_server, pane, "#{pane_active}#{window_active}") == "11"
    assert first != pane
    # claiming again from another cwd: same registry (root-relative), tmux_session not rewritten
    mtime = doc.stat().st_mtime_ns
    r = cli("claim", "plan.md", "--pane", pane, cwd=project / "notes")
    assert r.returncode == 0, r
    assert doc.stat().st_mtime_ns == mtime
    assert list(registry(project)) == [sid]
    assert (project / ".agent-doc" / "claims.log").read_text().count("\n") == 2


def test_claim_generates_uuid_and_short_session_ids_are_safe(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    pane = tmux_server.new_pane()
    bare = make_doc(project, "bare.md", session=None)
    r = cli("claim", str(bare), "--pane", pane, cwd=project)
    assert r.returncode == 0, r
    assert "Generated session UUID:" in r.stderr
    sid = session_of(bare)
    assert len(sid) == 36 and sid in registry(project)
    assert bare.read_text().endswith("---\n# bare.md\n")
    # C47: a session id shorter than 8 characters must not crash after side effects
    short = make_doc(project, "short.md", session="abc")
    r = cli("claim", str(short), "--pane", pane, cwd=project)
    assert r.returncode == 0, r
    assert "(session abc)" in r.stderr
    assert "abc" in registry(project)


def test_two_documents_share_one_pane(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    pane = tmux_server.new_pane()
    a, b = make_doc(project, "a.md"), make_doc(project, "b.md")
    assert cli("claim", str(a), "--pane", pane, cwd=project).returncode == 0
    assert cli("claim", str(b), "--pane", pane, cwd=project).returncode == 0
    reg = registry(project)
    assert {reg[session_of(a)]["pane"], reg[session_of(b)]["pane"]} == {pane}
    # resync keeps both (no dedup by pane)
    r = cli("resync", cwd=project)
    assert r.returncode == 0, r
    assert len(registry(project)) == 2


def test_claim_dead_pane_is_refused_without_changes(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    doc = make_doc(project, "a.md", session=None)
    before = doc.read_bytes()
    r = cli("claim", str(doc), "--pane", "%4242", cwd=project)
    assert r.returncode == 1
    assert "pane %4242 is not alive" in r.stderr and "hint:" in r.stderr
    assert doc.read_bytes() == before
    assert not (project / ".agent-doc" / "sessions.json").exists()
    r = cli("claim", str(project / "missing.md"), "--pane", "%0", cwd=project)
    assert r.returncode == 1 and "file not found" in r.stderr
    r = cli("claim", str(doc), "--position", "middle", cwd=project)
    assert r.returncode == 1 and "invalid position 'middle'" in r.stderr
    assert doc.read_bytes() == before


def test_claim_prunes_and_replaces_stale_claims_in_one_go(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    first = tmux_server.start()
    pane = tmux_server.new_pane()
    doc = make_doc(project, "a.md")
    other = make_doc(project, "other.md")
    live_pid = int(pane_fmt(tmux_server, first, "#{pane_pid}"))
    reg = {
        # the same document, under an older UUID, bound to a dead pane
        "old-key": make_entry("%999", pid=1234, cwd=str(project), file="a.md", window="@9"),
        # a pane id that exists but runs another process (reused id): identity fails
        "reused": make_entry(first, pid=live_pid + 100000, cwd=str(project), file="x.md"),
        # alive and identical: kept, with an unknown field preserved
        session_of(other): {
            **make_entry(first, pid=live_pid, cwd=str(project), file="other.md"),
            "extra_field": [1, 2],
        },
    }
    state = project / ".agent-doc"
    (state / "sessions.json").write_text(json.dumps(reg, indent=2))
    r = cli("claim", "a.md", "--pane", pane, cwd=project)
    assert r.returncode == 0, r
    assert "stale claim: a.md was bound to dead pane %999, replacing" in r.stderr
    after = registry(project)
    assert set(after) == {session_of(doc), session_of(other)}
    assert after[session_of(other)]["extra_field"] == [1, 2]


def test_claim_by_position_and_window_fallback(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    left = tmux_server.start()
    right = tmux_server.tmux("split-window", "-h", "-d", "-t", left, "-P", "-F", "#{pane_id}")
    tmux_server.tmux("split-window", "-v", "-d", "-t", right, "-P", "-F", "#{pane_id}")
    window = pane_fmt(tmux_server, left, "#{window_id}")
    docs = {pos: make_doc(project, f"{pos}.md") for pos in ("left", "right", "top", "bottom")}
    # ties are broken deterministically: leftmost, then topmost ("bottom": the full-height left
    # pane and the bottom-right pane both end at the last row -> the left one)
    expected = {"left": left, "right": right, "top": left, "bottom": left}
    for pos, doc in docs.items():
        r = cli("claim", str(doc), "--position", pos, "--window", window, cwd=project)
        assert r.returncode == 0, r
        assert registry(project)[session_of(doc)]["pane"] == expected[pos], pos
    # --window of a dead window: falls back to the window of the most recent live entry
    other = tmux_server.new_pane()
    late = make_doc(project, "late.md")
    assert cli("claim", str(late), "--pane", other, cwd=project).returncode == 0
    other_window = pane_fmt(tmux_server, other, "#{window_id}")
    doc = make_doc(project, "fallback.md")
    r = cli("claim", str(doc), "--position", "left", "--window", "@999", cwd=project)
    assert r.returncode == 0, r
    assert "window @999 is dead" in r.stderr
    assert f"found alive window {other_window}" in r.stderr
    assert registry(project)[session_of(doc)]["pane"] == other


READER = r"""
import json, os, sys, time
path, stop = sys.argv[1], sys.argv[2]
reads = torn = 0
while not os.path.exists(stop):
    try:
        raw = open(path, "rb").read()
    except FileNotFoundError:
        continue
    reads += 1
    try:
        data = json.loads(raw)
        assert isinstance(data, dict)
    except Exception:
        torn += 1
print(json.dumps({"reads": reads, "torn": torn}))
"""


def test_twenty_concurrent_claims_with_an_unlocked_reader(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    tmux_server.start()
    panes = [tmux_server.new_pane() for _ in range(5)]
    docs = [make_doc(project, f"doc{i:02d}.md") for i in range(20)]
    state = project / ".agent-doc"
    (state / "sessions.json").write_text("{}")
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(state / "sessions.json"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    procs = [
        _spawn(["claim", doc.name, "--pane", panes[i % 5]], project) for i, doc in enumerate(docs)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    stop.touch()
    rstats = json.loads(reader.communicate(timeout=30)[0])
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    reg = registry(project)
    assert len(reg) == 20
    for i, doc in enumerate(docs):
        assert reg[session_of(doc)]["pane"] == panes[i % 5]
        assert reg[session_of(doc)]["file"] == doc.name
    assert rstats["torn"] == 0 and rstats["reads"] > 0, rstats
    log = (state / "claims.log").read_text().splitlines()
    assert sorted(log) == sorted(
        f"Claimed {doc.name} for pane {panes[i % 5]}" for i, doc in enumerate(docs)
    )


def test_concurrent_claim_resync_sync_lose_nothing_alive(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    panes = [tmux_server.new_pane() for _ in range(6)]
    pids = {p: int(pane_fmt(tmux_server, p, "#{pane_pid}")) for p in panes}
    kept = [make_doc(project, f"kept{i}.md") for i in range(3)]
    reg = {}
    for i, doc in enumerate(kept):
        reg[session_of(doc)] = make_entry(
            panes[i], pid=pids[panes[i]], cwd=str(project), file=doc.name
        )
    for i in range(4):
        reg[f"dead-{i}"] = make_entry(f"%{900 + i}", pid=99999, cwd=str(project), file=f"d{i}.md")
    (project / ".agent-doc" / "sessions.json").write_text(json.dumps(reg, indent=2))
    new = [make_doc(project, f"new{i}.md") for i in range(8)]
    procs = [
        _spawn(["claim", d.name, "--pane", panes[3 + i % 3]], project) for i, d in enumerate(new)
    ]
    procs += [_spawn(["resync"], project) for _ in range(3)]
    procs += [
        _spawn(["sync", "--col", f"{kept[0].name},{kept[1].name}", "--col", kept[2].name], project)
        for _ in range(3)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    after = registry(project)
    for doc in kept + new:
        assert session_of(doc) in after, doc.name
    assert not any(k.startswith("dead-") for k in after)
    assert len(after) == len(kept) + len(new)
    # every pane is still alive (sync stashes, never kills)
    alive = set(tmux_server.tmux("list-panes", "-a", "-F", "#{pane_id}").split())
    assert set(panes) <= alive


@pytest.mark.stress
def test_stress_claims_routes_resyncs_and_pane_deaths(
    cli: Callable[..., Result], project: Path, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """Rounds of 30 concurrent processes (claims, routes, resyncs, prompt --all) while panes
    die; after each round: every document claimed to a live pane is registered, no entry
    points to a dead pane once a resync ran, and an unlocked reader never saw a torn file."""
    tmux_server.start()
    state = project / ".agent-doc"
    (state / "sessions.json").write_text("{}")
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(state / "sessions.json"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    env_no_start = {**os.environ, "AGENT_DOC_NO_AUTOSTART": "1"}
    expected: dict[str, str] = {}
    for rnd in range(5):
        panes = [tmux_server.new_pane() for _ in range(4)]
        docs = [make_doc(project, f"r{rnd}-{i:02d}.md") for i in range(16)]
        procs = [
            _spawn(["claim", d.name, "--pane", panes[i % 4]], project) for i, d in enumerate(docs)
        ]
        procs += [_spawn(["resync"], project) for _ in range(4)]
        procs += [_spawn(["prompt", "--all"], project) for _ in range(4)]
        procs += [
            subprocess.Popen(
                [sys.executable, "-m", "agent_doc", "route", d.name],
                cwd=project, env=env_no_start,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for d in docs[:6]
        ]
        for p in procs:
            p.communicate(timeout=300)
        # the claims themselves must all have succeeded
        for p in procs[:16]:
            assert p.returncode == 0
        for i, d in enumerate(docs):
            expected[session_of(d)] = panes[i % 4]
        # kill one pane per round: its documents must go at the next resync, others stay
        victim = panes[rnd % 4]
        tmux_server.tmux("kill-pane", "-t", victim)
        expected = {k: v for k, v in expected.items() if v != victim}
        assert cli("resync", cwd=project).returncode == 0
        reg = registry(project)
        assert {k: e["pane"] for k, e in reg.items()} == expected
    stop.touch()
    stats = json.loads(reader.communicate(timeout=30)[0])
    assert stats["torn"] == 0 and stats["reads"] > 0, stats


def test_first_claim_writes_the_document_once(
    project: Path, tmux_server: TmuxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document without frontmatter gets its session UUID and tmux_session in ONE locked
    write; a second claim of the same pane writes nothing."""
    from agent_doc import document, routing

    tmux_server.start()
    pane = tmux_server.new_pane()
    doc = project / "fresh.md"
    doc.write_text("# Fresh\n\nno frontmatter yet\n")
    writes: list[str] = []
    real_replace = document.replace_document

    def counting(path: object, raw: bytes, new: str) -> object:
        writes.append(new)
        return real_replace(path, raw, new)  # type: ignore[arg-type]

    monkeypatch.setattr(document, "replace_document", counting)
    monkeypatch.chdir(project)
    said: list[str] = []
    r = routing.claim_document("fresh.md", pane=pane, tmux=routing.open_tmux(), say=said.append)
    assert r.generated and r.tmux_session == "main" and r.tmux_session_changed
    assert len(writes) == 1
    text = doc.read_text()
    assert f"agent_doc_session: {r.session}\n" in text and "tmux_session: main\n" in text
    assert text.endswith("# Fresh\n\nno frontmatter yet\n")
    assert said[:2] == [f"Generated session UUID: {r.session}", "set tmux_session=main in fresh.md"]
    again = routing.claim_document("fresh.md", pane=pane, tmux=routing.open_tmux(), say=said.append)
    assert again.session == r.session and not again.generated and not again.tmux_session_changed
    assert len(writes) == 1


def test_dead_window_with_stale_recorded_windows_falls_back_to_the_projects_agent_pane(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    """`claim --window W` with W dead and every recorded window stale (issue 14.5).

    Decision (README, docs/HAZARDS.md C26): the window where the project's most recently
    registered live pane actually is — not tmux's current window (the reference's fallback),
    which from an editor plugin outside tmux is whatever session tmux used last. Entries whose
    file lies outside the project are never used for it (SPEC A13)."""
    first = tmux_server.start()
    first_window = pane_fmt(tmux_server, first, "#{window_id}")
    keep = tmux_server.new_pane()  # window W2 holds the agent pane and a companion
    agent = tmux_server.tmux("split-window", "-d", "-t", keep, "-P", "-F", "#{pane_id}")
    recorded = pane_fmt(tmux_server, agent, "#{window_id}")
    doc = make_doc(project, "agent.md")
    assert cli("claim", str(doc), "--pane", agent, cwd=project).returncode == 0
    assert registry(project)[session_of(doc)]["window"] == recorded
    # the agent pane moves to a window of its own, and its recorded window dies
    tmux_server.tmux("break-pane", "-d", "-s", agent)
    tmux_server.tmux("kill-pane", "-t", keep)
    actual = pane_fmt(tmux_server, agent, "#{window_id}")
    assert actual != recorded and recorded not in tmux_server.tmux(
        "list-windows", "-a", "-F", "#{window_id}").split()
    # a newer live entry whose file is outside the project: never used
    stray = tmux_server.new_pane()
    reg_path = project / ".agent-doc" / "sessions.json"
    reg = registry(project)
    reg["stray"] = {"pane": stray, "pid": int(pane_fmt(tmux_server, stray, "#{pane_pid}")),
                    "cwd": str(project), "started": "9999-01-01T00:00:00Z",
                    "file": "../elsewhere/stray.md", "window": "@998"}
    reg_path.write_text(json.dumps(reg, indent=2), encoding="utf-8")
    tmux_server.tmux("select-window", "-t", first_window)  # tmux's current window: another one
    assert tmux_server.tmux("display-message", "-p", "#{window_id}") == first_window
    new = make_doc(project, "new.md")
    r = cli("claim", str(new), "--position", "left", "--window", "@999", cwd=project)
    assert r.returncode == 0, r
    assert "window @999 is dead" in r.stderr and f"found alive window {actual}" in r.stderr
    assert registry(project)[session_of(new)]["pane"] == agent


def test_claim_records_the_agent_in_front_not_the_shell(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    """`claim --pane` stores the pid of the program in the pane's foreground (the agent started
    in the pane's shell), so that route can tell when the agent has exited (issue 11)."""
    tmux_server.start()
    pane = tmux_server.new_pane()
    pidfile = tmp_path / "agent.pid"
    tmux_server.tmux("send-keys", "-t", pane, "-l",
                     f"{sys.executable} -c 'import os,time; open(\"{pidfile}\",\"w\")"
                     f".write(str(os.getpid())); print(\"UP\"); time.sleep(600)'")
    tmux_server.tmux("send-keys", "-t", pane, "Enter")
    tmux_server.wait_for(pane, "UP")
    doc = make_doc(project, "front.md")
    assert cli("claim", str(doc), "--pane", pane, cwd=project).returncode == 0
    entry = registry(project)[session_of(doc)]
    assert entry["pid"] == int(pidfile.read_text())
    assert entry["pid"] != int(pane_fmt(tmux_server, pane, "#{pane_pid}"))
    # a pane whose shell is at its prompt: the shell (the pane's own process) is recorded
    bare = tmux_server.new_pane()
    other = make_doc(project, "bare.md")
    assert cli("claim", str(other), "--pane", bare, cwd=project).returncode == 0
    assert registry(project)[session_of(other)]["pid"] == int(
        pane_fmt(tmux_server, bare, "#{pane_pid}"))
