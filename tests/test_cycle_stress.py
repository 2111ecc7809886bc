"""Trial loops for the write-back: an editor process saving at random instants, and SIGKILL of
`run` at random instants. Default sizes are kept small enough for the normal suite; the
`@pytest.mark.stress` versions run many more trials (`pytest -m stress`).

Each loop prints its counts (run pytest with -s to see them).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers.agents import claude_calls

ANSWER = "Answer from fake claude"

EDITOR = r"""
import json, os, sys, time
for line in sys.stdin:
    cmd = json.loads(line)
    data = cmd["content"].encode()
    time.sleep(cmd["delay"])
    t0 = time.monotonic()
    if cmd["mode"] == "inplace":
        with open(cmd["path"], "wb") as fh:
            fh.write(data)
    else:
        tmp = cmd["path"] + ".editor~"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, cmd["path"])
    t1 = time.monotonic()
    print(json.dumps({"t0": t0, "t1": t1}), flush=True)
"""


def _sent_text() -> str:
    return (
        f"---\nagent_doc_session: {uuid.uuid4()}\nagent: claude\n---\n\n# Session: Stress\n\n"
        "## User\n\nFirst question?\n\n## Assistant\n\nMiddle line.\n\n## User\n\n"
        "Second question?\n"
    )


@dataclass
class EditorCounts:
    trials: int = 0
    before: int = 0  # the save ended before our first swap started
    overlap: int = 0  # the save overlapped our swaps
    after: int = 0  # the save started after our last swap (the editor overwrote us)
    lost_edits: int = 0
    lost_responses: int = 0  # response missing although the save was not after our swaps
    duplicates: int = 0
    remerges: int = 0  # trials where our swap displaced an editor's save (merged again)
    modes: dict[str, int] = field(default_factory=dict)


def _editor_trials(project: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> EditorCounts:
    from agent_doc import writeback
    from agent_doc.project import Project
    from agent_doc.snapshot import SnapshotStore

    doc = project / "doc.md"
    sent = _sent_text()
    doc.write_text(sent)
    proj = Project.for_document(doc)
    store = SnapshotStore(proj)
    swaps: list[tuple[float, float, bool]] = []
    real_swap = writeback.exchange_write

    def timed_swap(real: str, data: bytes, **kw: str) -> bytes | None:
        t0 = time.monotonic()
        displaced = real_swap(real, data, **kw)
        swaps.append((t0, time.monotonic(), displaced is not None and displaced != expected[0]))
        return displaced

    expected: list[bytes] = [b""]
    monkeypatch.setattr(writeback, "exchange_write", timed_swap)

    # calibrate: how long does one write-back take here?
    # calibrate: when does our swap end, counted from the start of a write-back? Saves are
    # then aimed at random instants up to a little past that point.
    durations = []
    for i in range(10):
        doc.write_text(sent)
        swaps.clear()
        t = time.monotonic()
        writeback.apply_response(doc, proj, sent=sent, response=f"calibration {i}", session_id="s")
        durations.append(swaps[-1][1] - t)
    window = statistics.median(durations) * 1.3

    editor = subprocess.Popen([sys.executable, "-c", EDITOR], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    counts = EditorCounts()
    rng = random.Random(20240607)
    try:
        for i in range(n):
            mode = "inplace" if i % 2 == 0 else "rename"
            counts.modes[mode] = counts.modes.get(mode, 0) + 1
            doc.write_text(sent)
            expected[0] = sent.encode()
            marker = f"user edit {i} {rng.random()}"
            if i % 4 < 2:
                content = sent + marker + "\n"  # typed at the end
            else:
                content = sent.replace("Middle line.", f"Middle line. {marker}")
            response = f"Response number {i} {rng.random()}"
            swaps.clear()
            editor.stdin.write(json.dumps({  # type: ignore[union-attr]
                "path": str(doc), "content": content, "mode": mode,
                "delay": rng.uniform(0, window),
            }) + "\n")
            editor.stdin.flush()  # type: ignore[union-attr]
            started = time.monotonic()
            writeback.apply_response(doc, proj, sent=sent, response=response, session_id="s")
            times = json.loads(editor.stdout.readline())  # type: ignore[union-attr]
            if swaps:  # the machine's load changes during a long run: aim at today's window
                durations = [*durations[-49:], swaps[-1][1] - started]
                window = statistics.median(durations) * 1.3
            final = doc.read_text()
            counts.trials += 1
            if any(remerged for _a, _b, remerged in swaps):
                counts.remerges += 1
            first_start = swaps[0][0] if swaps else float("inf")
            last_end = swaps[-1][1] if swaps else float("-inf")
            if times["t1"] < first_start:
                klass = "before"
            elif times["t0"] > last_end:
                klass = "after"
            else:
                klass = "overlap"
            setattr(counts, klass, getattr(counts, klass) + 1)
            if marker not in final:
                counts.lost_edits += 1
            n_resp = final.count(response)
            if n_resp > 1:
                counts.duplicates += 1
            if n_resp == 0 and not (klass != "before" and final == content):
                counts.lost_responses += 1
            if klass == "before" and n_resp != 1:
                counts.lost_responses += 1
            snap = store.load(doc)
            assert snap is not None and snap.startswith(sent.replace(
                "agent: claude\n", "agent: claude\nresume: s\n"))
            assert response in snap and marker not in snap
    finally:
        editor.stdin.close()  # type: ignore[union-attr]
        editor.wait(timeout=10)
    leftovers = [p.name for p in project.iterdir() if ".tmp-" in p.name or "editor~" in p.name]
    assert leftovers == []
    print(f"\neditor trials: {counts}; saves aimed at 0..{window * 1000:.1f} ms")
    return counts


def _check_editor(counts: EditorCounts, n: int) -> None:
    assert counts.trials == n
    assert counts.lost_edits == 0
    assert counts.lost_responses == 0
    assert counts.duplicates == 0
    # the loop must actually have exercised saves landing inside the write-back
    assert counts.before + counts.overlap >= n // 4


def _require_exchange(folder: Path) -> None:
    """The no-loss guarantee rests on renameat2(RENAME_EXCHANGE); elsewhere the cycle falls
    back to check-then-replace, which has a small window (measured: see the report)."""
    from safefile import atomic

    a, b = folder / "xa", folder / "xb"
    a.write_text("a")
    b.write_text("b")
    try:
        if not atomic._exchange(str(a), str(b)):
            pytest.skip("renameat2(RENAME_EXCHANGE) is not available on this file system")
    finally:
        a.unlink()
        b.unlink()


def test_editor_saving_during_write_back(project: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _require_exchange(project)
    n = 200
    _check_editor(_editor_trials(project, n, monkeypatch), n)


@pytest.mark.stress
def test_editor_saving_during_write_back_soak(project: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _require_exchange(project)
    n = 3000
    _check_editor(_editor_trials(project, n, monkeypatch), n)


# -- SIGKILL of `run` at random instants ----------------------------------------------------


@dataclass
class KillCounts:
    trials: int = 0
    killed_before_answer: int = 0  # document unchanged, nothing pending
    pending_recovered: int = 0  # a pending response was applied by recover
    written_before_kill: int = 0  # the document already held the response
    finished: int = 0  # the run completed before the kill
    duplicates: int = 0
    lost_edits: int = 0
    cli_recovers: int = 0


def _answers(text: str) -> list[str]:
    import re

    return re.findall(r"Answer from fake claude \(call (\d+)\)", text)


def _kill_trials(project: Path, log: Path, n: int) -> KillCounts:
    from agent_doc import cycle
    from agent_doc.project import Project

    doc = project / "doc.md"
    doc.write_text(
        f"---\nagent_doc_session: {uuid.uuid4()}\nagent: claude\n---\n\n# Session: Kill\n\n"
        "## User\n\nQuestion 0?\n"
    )
    proj = Project.for_document(doc)
    pending = Path(proj.pending_path(doc))
    env = dict(os.environ, FAKE_CLAUDE_SLEEP="0")
    done_log = Path(str(log) + ".done")
    rng = random.Random(99)

    def lines_of(path: Path) -> int:
        return len(path.read_text().splitlines()) if path.exists() else 0

    def wait_lines(path: Path, seen: int, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if lines_of(path) > seen:
                return
            time.sleep(0.0005)

    # calibrate: a whole run, the agent's part (its log line to its done line) and what
    # follows (the write-back and exit)
    whole, agent_part, tail_part = [], [], []
    for k in range(4):
        with doc.open("a") as fh:
            fh.write(f"Calibration {k}?\n")
        seen_log, seen_done = lines_of(log), lines_of(done_log)
        t = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "agent_doc", "run", str(doc), "--no-git"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_lines(log, seen_log, proc)
        t_start = time.monotonic()
        wait_lines(done_log, seen_done, proc)
        t_done = time.monotonic()
        assert proc.wait() == 0
        t_end = time.monotonic()
        whole.append(t_end - t)
        agent_part.append(t_done - t_start)
        tail_part.append(t_end - t_done)
    full = statistics.median(whole)
    agent_window = statistics.median(agent_part) * 1.2
    tail_window = statistics.median(tail_part) * 1.2

    counts = KillCounts()
    for i in range(n):
        user_line = f"User line {i} {rng.random()}"
        with doc.open("a") as fh:  # the user types between runs
            fh.write(user_line + "\n")
        before = doc.read_text()
        before_answers = _answers(before)
        done_before, calls_before = lines_of(done_log), lines_of(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_doc", "run", str(doc), "--no-git"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if i % 4 == 0:
            time.sleep(rng.uniform(0, full * 1.1))  # anywhere, start-up included
        elif i % 4 == 1:  # while the agent works
            wait_lines(log, calls_before, proc)
            time.sleep(rng.uniform(0, agent_window))
        else:  # after the agent answered: pending journal and write-back
            wait_lines(done_log, done_before, proc)
            time.sleep(rng.uniform(0, tail_window))
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        counts.trials += 1
        after = doc.read_text()
        new = [a for a in _answers(after) if a not in before_answers]
        assert user_line in after
        assert "<<<<<<<" not in after
        if len(new) > 1 or len(set(_answers(after))) != len(_answers(after)):
            counts.duplicates += 1
        has_pending = pending.exists()
        if finished and proc.returncode == 0:
            counts.finished += 1
        elif new:
            counts.written_before_kill += 1
        elif not has_pending:
            assert after == before  # killed before the agent answered: nothing changed
            counts.killed_before_answer += 1
        if has_pending:
            if i % 10 == 1:  # sometimes through the real command
                r = subprocess.run([sys.executable, "-m", "agent_doc", "recover", str(doc)],
                                   env=env, capture_output=True, text=True)
                assert r.returncode == 0, r.stderr
                counts.cli_recovers += 1
            else:
                assert cycle.recover(doc) is not None
            assert not pending.exists()
            recovered = doc.read_text()
            new = [a for a in _answers(recovered) if a not in before_answers]
            if len(new) != 1 or len(set(_answers(recovered))) != len(_answers(recovered)):
                counts.duplicates += 1
            if not (set(_answers(after)) - set(before_answers)):
                counts.pending_recovered += 1
            if user_line not in recovered:
                counts.lost_edits += 1
    # the next run works without any manual cleanup
    with doc.open("a") as fh:
        fh.write("Final question?\n")
    r = subprocess.run([sys.executable, "-m", "agent_doc", "run", str(doc), "--no-git"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    final = doc.read_text()
    assert len(set(_answers(final))) == len(_answers(final))
    assert final.rstrip().endswith("## User")
    leftovers = [p.name for p in project.iterdir() if ".tmp-" in p.name]
    assert leftovers == []
    print(f"\nkill trials: {counts}; a whole run takes ~{full * 1000:.0f} ms, the agent "
          f"~{agent_window * 833:.0f} ms, what follows ~{tail_window * 833:.0f} ms")
    return counts


def _check_kills(counts: KillCounts, n: int) -> None:
    assert counts.trials == n
    assert counts.duplicates == 0
    assert counts.lost_edits == 0
    # the random instants must have hit the interesting phases
    assert counts.pending_recovered + counts.written_before_kill > 0


def test_sigkill_of_run_at_random_instants(project: Path, fake_claude: Path) -> None:
    n = 100
    _check_kills(_kill_trials(project, fake_claude, n), n)


@pytest.mark.stress
def test_sigkill_of_run_at_random_instants_soak(project: Path, fake_claude: Path) -> None:
    n = 600
    _check_kills(_kill_trials(project, fake_claude, n), n)


# -- many concurrent runs with a user typing --------------------------------------------------


@pytest.mark.stress
def test_concurrent_runs_with_a_typing_user_soak(project: Path, fake_claude: Path) -> None:
    """Rounds of 6 concurrent runs while the user appends lines: every line kept, one agent
    call per round at most, never a duplicate response."""
    doc = project / "doc.md"
    doc.write_text(f"---\nagent_doc_session: {uuid.uuid4()}\nagent: claude\n---\n\n## User\n\n")
    env = dict(os.environ, FAKE_CLAUDE_SLEEP="0.2")
    lines = []
    for rnd in range(30):
        line = f"round {rnd} line"
        lines.append(line)
        with doc.open("a") as fh:
            fh.write(line + "\n")
        procs = [subprocess.Popen([sys.executable, "-m", "agent_doc", "run", str(doc),
                                   "--no-git"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(6)]
        time.sleep(0.1)
        with doc.open("a") as fh:
            fh.write(f"typed during round {rnd}\n")
        lines.append(f"typed during round {rnd}")
        for p in procs:
            assert p.wait(timeout=60) == 0
    text = doc.read_text()
    for line in lines:
        assert text.count(line + "\n") == 1
    answers = _answers(text)
    assert len(answers) == len(set(answers)) == len(claude_calls(fake_claude))
    assert "<<<<<<<" not in text
