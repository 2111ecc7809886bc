"""``agent-doc patch`` end to end: real subprocesses, real files (Part B §7.2–§7.4, SPEC A4/A5)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent_doc.components import apply_patch, find_component, parse_components
from agent_doc.project import Project
from agent_doc.snapshot import SnapshotStore
from helpers.cli import run_cli, trust_project
from helpers.procs import pid_running
from helpers.waiting import wait_until

DOC = "# Dashboard\n\n<!-- agent:status -->\nunknown\n<!-- /agent:status -->\n\n## User\n\n"


def compute(snapshot: str | None, text: str) -> str | None:
    from agent_doc.diff import compute as diff_compute  # the diff the next `run` would send

    return diff_compute(snapshot, text)


def _doc(project: Path, text: str = DOC, name: str = "dash.md") -> Path:
    p = project / name
    p.write_text(text)
    return p


def _components_toml(project: Path, body: str) -> None:
    """Write the project's components.toml and trust the project, as its user would (the
    hooks run only then, SPEC A12; tests/test_trust.py covers the untrusted case)."""
    (project / ".agent-doc" / "components.toml").write_text(body)
    trust_project(project)


def _snapshot(doc: Path) -> str | None:
    return SnapshotStore(Project.for_document(doc)).load(doc)


def test_replace_from_argument_and_from_stdin(project: Path) -> None:
    doc = _doc(project)
    r = run_cli("patch", "dash.md", "status", "all green", cwd=project)
    assert r.returncode == 0, r
    assert r.stderr.strip().endswith("Patched component 'status' in dash.md (mode: replace)")
    assert doc.read_text() == DOC.replace("unknown\n", "all green\n")
    r = run_cli("patch", str(doc), "status", input="from stdin\nline 2\n", cwd=project)
    assert r.returncode == 0, r
    assert find_component(doc.read_text(), "status").content == "from stdin\nline 2\n"
    assert doc.read_text().startswith("# Dashboard\n\n<!-- agent:status -->\n")
    assert doc.read_text().endswith("<!-- /agent:status -->\n\n## User\n\n")


def test_missing_file_and_missing_component(project: Path) -> None:
    r = run_cli("patch", "nope.md", "status", "x", cwd=project)
    assert r.returncode == 1 and "file not found: nope.md" in r.stderr
    doc = _doc(project)
    r = run_cli("patch", "dash.md", "other", "x", cwd=project)
    assert r.returncode == 1
    assert "component 'other' not found in dash.md" in r.stderr and "hint:" in r.stderr
    assert doc.read_text() == DOC


def test_malformed_markers_name_the_line(project: Path) -> None:
    doc = _doc(project, "a\n<!-- agent:status -->\nb\n")
    r = run_cli("patch", "dash.md", "status", "x", cwd=project)
    assert r.returncode == 1
    assert "dash.md:2: unclosed component" in r.stderr
    assert doc.read_text() == "a\n<!-- agent:status -->\nb\n"


def test_invalid_components_toml_fails_with_file_and_line(project: Path) -> None:
    doc = _doc(project)
    _components_toml(project, '[status]\nmode = "append"\nmax_entries = "ten"\n')
    r = run_cli("patch", "dash.md", "status", "x", cwd=project)
    assert r.returncode == 1
    assert "components.toml:3: [status] max_entries must be a whole number" in r.stderr
    assert doc.read_text() == DOC


def test_snapshot_gets_the_same_patch_so_user_edits_stay_visible(project: Path) -> None:
    doc = _doc(project)
    SnapshotStore(Project.for_document(doc)).save(doc, DOC)  # last exchange
    doc.write_text(DOC + "What is the status?\n")  # the user's unsent question
    _components_toml(project, '[status]\nmode = "append"\ntimestamp = true\n')
    r = run_cli("patch", "dash.md", "status", "deploy ok", cwd=project)
    assert r.returncode == 0, r
    text, snap = doc.read_text(), _snapshot(doc)
    assert snap is not None
    entry = find_component(text, "status").content.splitlines()[1]
    assert entry.endswith("] deploy ok")
    # the snapshot got exactly the same entry (same timestamp)...
    assert find_component(snap, "status").content == find_component(text, "status").content
    # ...so the next diff shows the question and not the patch
    diff = compute(snap, text)
    assert diff is not None and "What is the status?" in diff and "deploy ok" not in diff


def test_snapshot_without_the_component_becomes_the_document(project: Path) -> None:
    doc = _doc(project)
    SnapshotStore(Project.for_document(doc)).save(doc, "# Dashboard\n")
    assert run_cli("patch", "dash.md", "status", "x", cwd=project).returncode == 0
    assert _snapshot(doc) == doc.read_text()


def test_no_snapshot_baselines_the_patched_document(project: Path) -> None:
    doc = _doc(project)
    assert run_cli("patch", "dash.md", "status", "x", cwd=project).returncode == 0
    assert _snapshot(doc) == doc.read_text()


def test_trigger_true_leaves_the_snapshot_alone(project: Path) -> None:
    doc = _doc(project)
    SnapshotStore(Project.for_document(doc)).save(doc, DOC)
    _components_toml(project, "[status]\ntrigger = true\n")
    assert run_cli("patch", "dash.md", "status", "red", cwd=project).returncode == 0
    assert "red\n" in doc.read_text()
    assert _snapshot(doc) == DOC
    diff = compute(_snapshot(doc), doc.read_text())
    assert diff is not None and "red" in diff


def test_prepend_with_max_entries_keeps_newest_via_cli(project: Path) -> None:
    doc = _doc(project)
    _components_toml(project, '[status]\nmode = "prepend"\nmax_entries = 2\n')
    for i in range(4):
        r = run_cli("patch", "dash.md", "status", f"event {i}", cwd=project)
        assert r.returncode == 0, r
    assert find_component(doc.read_text(), "status").content == "event 3\nevent 2\n"


# -- hooks -------------------------------------------------------------------------------------


def test_pre_patch_transforms_with_env(project: Path) -> None:
    doc = _doc(project)
    _components_toml(
        project,
        '[status]\npre_patch = "tr a-z A-Z; echo \\"[$COMPONENT in $FILE]\\"; '
        'echo note-on-stderr >&2"\n',
    )
    r = run_cli("patch", "dash.md", "status", "shout\n", cwd=project)
    assert r.returncode == 0, r
    assert find_component(doc.read_text(), "status").content == "SHOUT\n[status in dash.md]\n"
    assert "note-on-stderr" in r.stderr  # the hook's stderr is passed through


def test_pre_patch_with_a_megabyte_both_ways_does_not_deadlock(project: Path) -> None:
    doc = _doc(project)
    # prints 1 MB before it reads any of its (1 MB) input: a write-all-then-read caller hangs
    _components_toml(
        project, "[status]\npre_patch = \"yes y | head -c 1000000; cat > /dev/null\"\n"
    )
    r = run_cli("patch", "dash.md", "status", input="x" * 1_000_000 + "\n", cwd=project,
                timeout=60)
    assert r.returncode == 0, r.stderr[-500:]
    content = find_component(doc.read_text(), "status").content
    assert content == "y\n" * 500_000


def test_hung_pre_patch_times_out_and_leaves_the_document(project: Path) -> None:
    doc = _doc(project)
    _components_toml(
        project,
        '[status]\npre_patch = "echo about to hang >&2; sleep 317.25"\nhook_timeout = 1\n',
    )
    r = run_cli("patch", "dash.md", "status", "x", cwd=project, timeout=60)
    assert r.returncode == 1
    assert "pre_patch hook timed out after 1s" in r.stderr
    assert "about to hang" in r.stderr and "hook_timeout" in r.stderr
    assert doc.read_text() == DOC
    assert _snapshot(doc) is None
    # the hook's process group was killed: its `sleep` is not left behind
    out = subprocess.run(["pgrep", "-f", "sleep 317.25"], capture_output=True, text=True)
    assert out.stdout.split() == []


def test_failing_pre_patch_aborts_with_its_stderr_tail(project: Path) -> None:
    doc = _doc(project)
    _components_toml(project, '[status]\npre_patch = "echo validation failed >&2; exit 3"\n')
    r = run_cli("patch", "dash.md", "status", "x", cwd=project)
    assert r.returncode == 1
    assert "pre_patch hook failed (exit 3)" in r.stderr and "validation failed" in r.stderr
    assert doc.read_text() == DOC


def test_post_patch_runs_after_the_lock_is_released(project: Path) -> None:
    doc = _doc(project, DOC + "<!-- agent:other -->\n<!-- /agent:other -->\n")
    # the hook patches the same document: it would wait for the document lock (and time out
    # after 3 s) if post_patch ran while patch still held it
    _components_toml(
        project,
        f'[status]\npost_patch = "{sys.executable} -m agent_doc patch \\"$FILE\\" other '
        f'\\"after $COMPONENT\\""\n',
    )
    r = run_cli("patch", "dash.md", "status", "x", cwd=project,
                env={"AGENT_DOC_LOCK_TIMEOUT": "3"})
    assert r.returncode == 0, r
    assert find_component(doc.read_text(), "other").content == "after status\n"
    assert find_component(doc.read_text(), "status").content == "x\n"


def test_post_patch_output_is_the_users_and_its_timeout_kills_its_group(project: Path) -> None:
    """post_patch runs through procrun.run_attached: its stdout and stderr are the command's
    own (not captured), and at hook_timeout its whole group is stopped (a sleeping child too)
    and the patch is still reported written."""
    doc = _doc(project)
    pidfile = project / "child.pid"
    _components_toml(project, '[status]\npost_patch = "echo out-$COMPONENT; echo err >&2; '
                     f'sleep 300 & echo $! > {pidfile}; wait"\nhook_timeout = 2\n')
    r = run_cli("patch", str(doc), "status", "v2", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "out-status" in r.stdout and "err\n" in r.stderr
    assert "warning: post_patch hook timed out after 2s" in r.stderr
    child = int(pidfile.read_text())
    wait_until(lambda: not pid_running(child), f"the hook's child (pid {child}) to be stopped "
               "with the timed-out hook", 10, interval=0.05)
    assert "v2" in doc.read_text()


def test_failing_post_patch_is_a_warning(project: Path) -> None:
    doc = _doc(project)
    _components_toml(project, '[status]\npost_patch = "exit 4"\n')
    r = run_cli("patch", "dash.md", "status", "x", cwd=project)
    assert r.returncode == 0
    assert "warning: post_patch hook failed (exit 4)" in r.stderr
    assert "x\n" in doc.read_text()


# -- concurrency -------------------------------------------------------------------------------

READER = r"""
import json, os, sys, time
from agent_doc.components import parse_components
path, stop = sys.argv[1], sys.argv[2]
reads = bad = 0
problems = []
while not os.path.exists(stop):
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    reads += 1
    try:
        names = [c.name for c in parse_components(text)]
        if names != ["log"] or not text.startswith("# Log\n"):
            raise ValueError(names)
    except Exception as exc:
        bad += 1
        problems.append(repr(exc)[:200])
print(json.dumps({"reads": reads, "bad": bad, "problems": problems[:5]}))
"""


def test_twenty_concurrent_appends_lose_nothing_and_never_tear(project: Path) -> None:
    doc = _doc(project, "# Log\n\n<!-- agent:log -->\n<!-- /agent:log -->\n\nfooter\n", "log.md")
    _components_toml(project, '[log]\nmode = "append"\n')
    stop = project / "stop-reader"
    env = dict(os.environ)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(doc), str(stop)], stdout=subprocess.PIPE, text=True,
        env=env,
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "agent_doc", "patch", "log.md", "log", f"entry-{i:02d}"],
            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for i in range(20)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    stop.touch()
    out, _ = reader.communicate(timeout=30)
    assert all(rc == 0 for rc, _err in results), results
    stats = json.loads(out)
    assert stats["reads"] > 0 and stats["bad"] == 0, stats
    content = find_component(doc.read_text(), "log").content
    lines = content.splitlines()
    assert sorted(lines) == [f"entry-{i:02d}" for i in range(20)]
    assert doc.read_text().endswith("<!-- /agent:log -->\n\nfooter\n")


def test_sigkill_at_random_instants_leaves_before_or_after(project: Path) -> None:
    doc = _doc(project, "# K\n<!-- agent:k -->\nstart\n<!-- /agent:k -->\n", "k.md")
    env = dict(os.environ)
    argv = [sys.executable, "-m", "agent_doc", "patch", "k.md", "k"]
    # how long one patch takes here, to spread the kills over its whole life
    t0 = time.monotonic()
    subprocess.run([*argv, "warm-up"], cwd=project, env=env, check=True, capture_output=True)
    span = (time.monotonic() - t0) * 1.1
    rng = random.Random(1234)
    outcomes = {"before": 0, "after": 0}
    for trial in range(120):
        before = doc.read_text()
        entry = f"trial {trial} " + "z" * rng.randrange(1, 200_000)
        after = apply_patch(before, "k", entry, "replace", timestamp=False, max_entries=0)
        assert after != before
        src = project / "entry.txt"  # on stdin: too long for one argument
        src.write_text(entry)
        with open(src, "rb") as stdin:
            p = subprocess.Popen(argv, cwd=project, env=env, stdin=stdin,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, span))
        p.send_signal(signal.SIGKILL)
        p.wait()
        now = doc.read_text()
        assert now in (before, after), f"trial {trial}: torn document ({len(now)} chars)"
        outcomes["before" if now == before else "after"] += 1
        assert [c.name for c in parse_components(now)] == ["k"]
    # the kills hit both sides of the write
    assert outcomes["before"] > 0 and outcomes["after"] > 0, outcomes
    # a later patch cleans the temporary files of killed writers
    subprocess.run([*argv, "final"], cwd=project, env=env, check=True, capture_output=True)
    leftovers = [n for n in os.listdir(project) if n.startswith(".k.md.tmp-")]
    assert leftovers == []
    assert find_component(doc.read_text(), "k").content == "final\n"


def test_broken_frontmatter_does_not_block_components(project: Path) -> None:
    text = "---\nagent_doc_session: [unclosed\n---\n" + DOC
    doc = _doc(project, text)
    r = run_cli("patch", "dash.md", "status", "fine", cwd=project)
    assert r.returncode == 0, r
    assert doc.read_text() == text.replace("unknown\n", "fine\n")


def test_non_utf8_document_is_refused(project: Path) -> None:
    doc = project / "bin.md"
    doc.write_bytes(b"<!-- agent:s -->\n\xff\xfe\n<!-- /agent:s -->\n")
    r = run_cli("patch", "bin.md", "s", "x", cwd=project)
    assert r.returncode == 1 and "not valid UTF-8" in r.stderr
    assert doc.read_bytes() == b"<!-- agent:s -->\n\xff\xfe\n<!-- /agent:s -->\n"
