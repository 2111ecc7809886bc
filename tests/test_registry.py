"""tmux_router.registry (Part B §2.4, §5.2; SPEC A3–A5, A8; fixes C19, C23, C24, C29)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.tmux import restart
from tmux_router.registry import (
    FIELD_ORDER,
    Registry,
    dumps,
    identity_ok,
    make_entry,
    prune_entries,
)

WRITER = """
import os, sys, time
from tmux_router.registry import Registry, make_entry
reg = Registry(sys.argv[1])
k, n, go = sys.argv[2], int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):
    time.sleep(0.001)
for i in range(n):
    with reg.transaction() as entries:
        entries[f"{k}-{i}"] = make_entry(f"%{i}", pid=os.getpid(), file=f"doc-{k}.md")
"""

# A reader that never locks. It pauses 2 ms between reads so that it leaves the second core
# to the writers (a reader spinning flat out tripled the run time on 2 cores) while still
# reading thousands of times during the run.
READER = """
import json, os, sys, time
path, stop = sys.argv[1], sys.argv[2]
reads = failures = 0
while not os.path.exists(stop):
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
        if not isinstance(data, dict):
            failures += 1
    except (OSError, ValueError):
        failures += 1
    reads += 1
    time.sleep(0.002)
print(reads, failures)
"""


def test_concurrent_transactions_lose_nothing_and_readers_never_see_bad_json(
    tmp_path: Path,
) -> None:
    """16 processes x 50 transactions, each adding its own key, while an unlocking reader
    parses the file in a tight loop (SPEC §10.4 item 4)."""
    path = tmp_path / ".agent-doc" / "sessions.json"
    reg = Registry(path)
    with reg.transaction() as entries:
        entries["seed"] = make_entry("%0", file="seed.md")
    go, stop = tmp_path / "go", tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{k}", "50", str(go)])
        for k in range(16)
    ]
    go.write_text("")
    try:
        codes = [w.wait(timeout=240) for w in writers]
    finally:
        stop.write_text("")
    out, _ = reader.communicate(timeout=60)
    assert codes == [0] * 16
    reads, failures = map(int, out.split())
    assert reads > 0
    assert failures == 0
    final = reg.load()
    expected = {"seed"} | {f"w{k}-{i}" for k in range(16) for i in range(50)}
    assert set(final) == expected
    assert len(final) == 801
    assert not [n for n in os.listdir(path.parent) if ".tmp-" in n]


def test_unknown_fields_and_keys_are_preserved(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    original = {
        "zzz-first": {"pane": "%1", "pid": 0, "cwd": "/p", "started": "x", "file": "a.md",
                      "window": "@1", "future_field": {"nested": [1, 2]}, "note": "keep"},
        "aaa-second": {"pane": "%2", "custom": True},
    }
    path.write_text(json.dumps(original))
    reg = Registry(path)
    with reg.transaction() as entries:
        entries["new"] = make_entry("%3", pid=7, cwd="/c", file="n.md", window="@2")
    data = json.loads(path.read_text())
    assert list(data) == ["zzz-first", "aaa-second", "new"]  # file order kept, new appended
    assert data["zzz-first"] == original["zzz-first"]
    assert data["aaa-second"] == original["aaa-second"]


def test_output_format(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    reg = Registry(path)
    with reg.transaction() as entries:
        entries["k"] = {"extra": 1, "window": "@3", "file": "f.md", "pane": "%12", "pid": 48211,
                        "cwd": "/home/u/proj", "started": "2026-03-06T18:04:11Z"}
    text = path.read_text()
    assert not text.endswith("\n")
    assert text == (
        '{\n  "k": {\n    "pane": "%12",\n    "pid": 48211,\n    "cwd": "/home/u/proj",\n'
        '    "started": "2026-03-06T18:04:11Z",\n    "file": "f.md",\n    "window": "@3",\n'
        '    "extra": 1\n  }\n}'
    )
    assert tuple(json.loads(text)["k"])[:6] == FIELD_ORDER
    assert dumps({"ü": {"file": "ü.md"}}) == '{\n  "ü": {\n    "file": "ü.md"\n  }\n}'


def test_transaction_saves_only_changes_and_nothing_on_error(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    path.write_text('{"a": {"window": "@1", "pane": "%1"}}')  # not our field order
    reg = Registry(path)
    ino = path.stat().st_ino
    with reg.transaction() as entries:
        assert entries["a"]["pane"] == "%1"
    assert path.stat().st_ino == ino  # unchanged: not rewritten
    with pytest.raises(KeyError), reg.transaction() as entries:
        entries["b"] = make_entry("%2")
        raise KeyError("boom")
    assert path.stat().st_ino == ino and "b" not in reg.load()


def test_nested_transactions_in_one_thread(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "sessions.json")
    with reg.transaction() as outer:
        outer["a"] = make_entry("%1")
        with reg.transaction() as inner:  # re-entrant lock: no deadlock, no skip
            inner["b"] = make_entry("%2")
    assert set(reg.load()) == {"a"}  # the outer save wins, as for any read-modify-write
    assert reg.with_registry(lambda e: sorted(e)) == ["a"]


def test_missing_and_empty_files_read_as_empty(tmp_path: Path) -> None:
    assert Registry(tmp_path / "none.json").load() == {}
    (tmp_path / "empty.json").write_text("")
    assert Registry(tmp_path / "empty.json").load() == {}


@pytest.mark.parametrize("content", [b'{"a": {"pane": "%1"', b"[1, 2]", b'{"a": 3}', b"\xff\xfe"])
def test_corrupt_file_is_moved_aside_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "sessions.json"
    path.write_bytes(content)
    reg = Registry(path)
    with reg.transaction() as entries:
        assert entries == {}
        entries["fresh"] = make_entry("%1")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("sessions.json.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_bytes() == content  # nothing destroyed
    err = capsys.readouterr().err
    assert "warning" in err and str(path) in err and str(aside[0]) in err
    assert set(reg.load()) == {"fresh"}
    # a second corruption in the same second gets its own name
    path.write_bytes(content)
    assert reg.load() == {}
    assert len([p for p in tmp_path.iterdir() if ".corrupt-" in p.name]) == 2


# -- pruning with pane identity (C23, C29) ---------------------------------------------------------


def test_prune_entries_identity_rules() -> None:
    me, parent = os.getpid(), os.getppid()
    entries = {
        "claimed": {"pane": "%1", "pid": 100},  # pid is the pane's pid: kept
        "same-pane-2": {"pane": "%1", "pid": 100},  # several keys on one pane: all kept
        "pid-0": {"pane": "%1", "pid": 0},  # unverifiable: never matches (issue 11): pruned
        "no-pid": {"pane": "%1"},  # no pid (legacy): unverifiable, pruned
        "reused": {"pane": "%2", "pid": 200},  # pane %2 now runs pid 999: pruned
        "gone": {"pane": "%3", "pid": 300},  # pane does not exist: pruned
        "descendant": {"pane": "%4", "pid": me},  # a process started inside the pane: kept
        "bad-pid": {"pane": "%1", "pid": "garbage"},  # unverifiable like pid 0: pruned
    }
    live = {"%1": 100, "%2": 999, "%4": parent}
    removed = prune_entries(entries, live)
    assert [k for k, _ in removed] == ["pid-0", "no-pid", "reused", "gone", "bad-pid"]
    assert list(entries) == ["claimed", "same-pane-2", "descendant"]
    assert identity_ok({"pane": "%4", "pid": me}, {"%4": parent})
    assert not identity_ok({"pane": "%4", "pid": parent}, {"%4": me})  # an ancestor is not ok
    assert not identity_ok({"pid": 1}, live)


def live_panes(tmux_server: object) -> dict[str, int]:
    out = tmux_server.tmux("list-panes", "-a", "-F", "#{pane_id} #{pane_pid}")  # type: ignore[attr-defined]
    return {pane: int(pid) for pane, pid in (line.split() for line in out.splitlines())}


@pytest.mark.tmux
def test_prune_after_a_tmux_restart_drops_the_reused_pane(tmp_path: Path, tmux_server) -> None:  # type: ignore[no-untyped-def]
    """Pane ids restart at %0 with a new server: the old claim must not match the new pane."""
    pane = tmux_server.start()
    live = live_panes(tmux_server)
    reg = Registry(tmp_path / "sessions.json")
    with reg.transaction() as entries:
        entries["doc"] = make_entry(pane, pid=live[pane], file="doc.md")
        entries["legacy"] = make_entry(pane, pid=0, file="other.md")
    # pid 0 proves nothing, so it never matches (issue 11): pruned even while the pane lives
    assert [k for k, _ in reg.prune(live_panes(tmux_server))] == ["legacy"]
    new_pane = restart(tmux_server)
    assert new_pane == pane  # the id was reused ...
    live = live_panes(tmux_server)
    removed = reg.prune(live)  # ... but not the process: pruned
    assert [k for k, _ in removed] == ["doc"]
    assert reg.load() == {}
