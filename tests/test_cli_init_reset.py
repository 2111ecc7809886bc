"""``agent-doc init`` and ``agent-doc reset`` as real processes (Part B §3.4, §3.5, §9.2, §9.3;
SPEC A4; fixes C7, C9, C18)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import helpers.docs
from agent_doc.project import Project
from agent_doc.snapshot import SnapshotStore
from helpers.cli import run_cli

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def scaffold_re(agent: str, title: str) -> re.Pattern[str]:
    return re.compile(
        rf"---\nagent_doc_session: ({UUID})\nagent: {re.escape(agent)}\n---\n\n"
        rf"# Session: {re.escape(title)}\n\n## User\n\n\Z"
    )


# -- init ------------------------------------------------------------------------------------------


def test_init_writes_the_exact_scaffold(project: Path) -> None:
    r = run_cli("init", "sessions/deep/plan.md", "Sprint plan", cwd=project)
    assert r.returncode == 0, r
    assert r.stderr == "Created sessions/deep/plan.md\n"
    assert r.stdout == ""
    text = (project / "sessions" / "deep" / "plan.md").read_text()
    assert scaffold_re("claude", "Sprint plan").match(text), text


def test_init_defaults_and_agent_option(project: Path) -> None:
    assert run_cli("init", "a.md", cwd=project).returncode == 0
    assert scaffold_re("claude", "Untitled Session").match((project / "a.md").read_text())
    assert run_cli("init", "b.md", "T", "--agent", "offline", cwd=project).returncode == 0
    assert scaffold_re("offline", "T").match((project / "b.md").read_text())
    # two documents, two sessions
    ids = {re.search(UUID, (project / n).read_text()).group(0) for n in ("a.md", "b.md")}  # type: ignore[union-attr]
    assert len(ids) == 2


def test_init_takes_the_default_agent_from_the_config(project: Path) -> None:
    cfg = Path(os.environ["XDG_CONFIG_HOME"]) / "agent-doc" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('default_agent = "global-agent"\n')
    assert run_cli("init", "g.md", cwd=project).returncode == 0
    assert scaffold_re("global-agent", "Untitled Session").match((project / "g.md").read_text())
    (project / ".agent-doc" / "config.toml").write_text('default_agent = "project-agent"\n')
    assert run_cli("init", "p.md", cwd=project).returncode == 0
    assert "agent: project-agent\n" in (project / "p.md").read_text()
    assert run_cli("init", "o.md", "--agent", "cli-agent", cwd=project).returncode == 0
    assert "agent: cli-agent\n" in (project / "o.md").read_text()


def test_init_with_a_broken_config_warns_and_still_creates(project: Path) -> None:
    cfg = Path(os.environ["XDG_CONFIG_HOME"]) / "agent-doc" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("default_agent = [not toml\n")
    r = run_cli("init", "x.md", cwd=project)
    assert r.returncode == 0, r
    assert "warning" in r.stderr and str(cfg) in r.stderr
    assert "agent: claude\n" in (project / "x.md").read_text()


def test_init_never_overwrites(project: Path) -> None:
    f = project / "keep.md"
    f.write_bytes(b"precious\r\ncontent without frontmatter")
    before = f.stat()
    r = run_cli("init", "keep.md", "New", cwd=project)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: file already exists: keep.md\nhint: ")
    assert f.read_bytes() == b"precious\r\ncontent without frontmatter"
    after = f.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # a folder or a symlink to an existing file is not replaced either
    (project / "dir.md").mkdir()
    assert run_cli("init", "dir.md", cwd=project).returncode == 1
    (project / "link.md").symlink_to(f)
    assert run_cli("init", "link.md", cwd=project).returncode == 1
    assert (project / "link.md").is_symlink() and f.read_bytes().startswith(b"precious")


def test_init_through_a_dangling_symlink_creates_the_target(project: Path) -> None:
    (project / "docs").mkdir()
    link = project / "current.md"
    link.symlink_to(Path("docs") / "real.md")
    assert run_cli("init", "current.md", cwd=project).returncode == 0
    assert link.is_symlink()
    assert scaffold_re("claude", "Untitled Session").match((project / "docs" / "real.md")
                                                           .read_text())


INIT_AT_GO = """
import os, sys, time
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.0005)
from agent_doc.cli import main
sys.exit(main(["init", sys.argv[2], "Race " + sys.argv[3]]))
"""


def test_concurrent_inits_exactly_one_wins(project: Path) -> None:
    for round_ in range(3):
        go = project / f"go{round_}"
        target = project / f"race{round_}.md"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", INIT_AT_GO, str(go), str(target), str(k)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for k in range(6)
        ]
        go.write_text("")
        results = [(p.wait(timeout=60), p.communicate()[1]) for p in procs]
        winners = [k for k, (rc, _err) in enumerate(results) if rc == 0]
        assert len(winners) == 1, results
        for k, (rc, err) in enumerate(results):
            if k != winners[0]:
                assert rc == 1 and "file already exists" in err, err
        text = target.read_text()
        assert scaffold_re("claude", f"Race {winners[0]}").match(text), text
        assert not [n for n in os.listdir(project) if ".tmp-" in n]


# -- reset -----------------------------------------------------------------------------------------

DOC = (
    "---\n"
    "# my notes about this session\n"
    "agent_doc_session: 6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11\n"
    "resume: 0c6d7e8f-aaaa-bbbb-cccc-111122223333\n"
    "agent: claude\n"
    "custom_key: {keep: me}\n"
    "---\n"
    "\n## User\n\nhello\n"
)


def make_doc(project: Path, text: str = DOC, name: str = "doc.md") -> tuple[Path, SnapshotStore]:
    f = helpers.docs.make_doc(project, name, text=text)
    store = SnapshotStore(Project.for_document(f))
    store.save(f, text)
    return f, store


def test_reset_removes_resume_and_snapshot_and_keeps_the_rest(project: Path) -> None:
    f, store = make_doc(project)
    f.chmod(0o640)
    r = run_cli("reset", "doc.md", cwd=project)
    assert r.returncode == 0, r
    assert r.stderr == "Reset session for doc.md\n"
    assert f.read_text() == DOC.replace("resume: 0c6d7e8f-aaaa-bbbb-cccc-111122223333\n", "")
    assert store.load(f) is None
    assert stat.S_IMODE(f.stat().st_mode) == 0o640


def test_reset_without_resume_does_not_rewrite(project: Path) -> None:
    text = DOC.replace("resume: 0c6d7e8f-aaaa-bbbb-cccc-111122223333\n", "")
    f, store = make_doc(project, text)
    ino = f.stat().st_ino
    assert run_cli("reset", str(f), cwd="/").returncode == 0  # any working directory
    assert f.stat().st_ino == ino and f.read_text() == text
    assert store.load(f) is None


def test_reset_without_frontmatter_adds_nothing(project: Path) -> None:
    f, store = make_doc(project, "# plain\r\n\r\nbody\r\n")
    assert run_cli("reset", "doc.md", cwd=project).returncode == 0
    assert f.read_bytes() == b"# plain\r\n\r\nbody\r\n"
    assert store.load(f) is None


def test_reset_through_a_symlink(project: Path) -> None:
    f, store = make_doc(project)
    (project / "link.md").symlink_to("doc.md")
    assert run_cli("reset", "link.md", cwd=project).returncode == 0
    assert (project / "link.md").is_symlink()
    assert "resume:" not in f.read_text()
    assert store.load(f) is None


def test_reset_missing_file(project: Path) -> None:
    r = run_cli("reset", "nope.md", cwd=project)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: file not found: nope.md\n")


def test_reset_of_malformed_frontmatter_touches_nothing(project: Path) -> None:
    bad = "---\nagent_doc_session: x\nresume: [oops\n---\nbody\n"
    f, store = make_doc(project, bad)
    r = run_cli("reset", "doc.md", cwd=project)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: doc.md:4: malformed frontmatter")
    assert f.read_text() == bad
    assert store.load(f) == bad


def test_reset_keeps_a_pending_response(project: Path) -> None:
    f, _store = make_doc(project)
    pending = Path(Project.for_document(f).pending_path(f))
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.write_text('{"response": "a paid answer"}')
    r = run_cli("reset", "doc.md", cwd=project)
    assert r.returncode == 0
    assert pending.read_text() == '{"response": "a paid answer"}'
    assert "agent-doc recover doc.md" in r.stderr
    assert r.stderr.endswith("Reset session for doc.md\n")


HOLD_SUBMIT = """
import sys
from agent_doc.project import Project
doc = sys.argv[1]
with Project.for_document(doc).submit_lock(doc):
    print("holding", flush=True)
    sys.stdin.readline()
"""


def test_reset_waits_for_a_running_cycle(project: Path) -> None:
    """C18: a reset never interleaves with a cycle; it waits for the submit lock."""
    f, store = make_doc(project)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SUBMIT, str(f)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    reset = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        reset = subprocess.Popen([sys.executable, "-m", "agent_doc", "reset", "doc.md"],
                                 cwd=project, stderr=subprocess.PIPE, text=True)
        assert reset.stderr is not None
        notice = reset.stderr.readline()  # after ~1 s of waiting
        assert "waiting for lock 'submit cycle of doc.md'" in notice
        assert f"held by pid {holder.pid}" in notice
        assert "resume:" in f.read_text() and store.load(f) is not None  # not yet reset
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert reset.wait(timeout=60) == 0
        assert reset.stderr.read() == "Reset session for doc.md\n"
        assert "resume:" not in f.read_text()
        assert store.load(f) is None
    finally:
        holder.kill()
        holder.wait()
        if reset is not None and reset.poll() is None:
            reset.kill()
            reset.wait()
