"""Each document's own Claude conversation (issue 12), with the fake `claude`:

the id is chosen by agent-doc and recorded in the frontmatter before the first call
(`--session-id`), resumed afterwards (`--resume`), the agent runs in the project root
whatever the working directory, `reset` starts a new one, and values from the frontmatter
are data, never options (issue 11). The same behaviours against the real CLI:
tests/test_real_claude.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.agents import claude_calls
from helpers.cli import run_cli

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def make(folder: Path, name: str, question: str, extra: str = "") -> Path:
    path = folder / name
    path.write_text(f"---\nagent: claude\n{extra}---\n\n# S\n\n## User\n\n{question}\n")
    return path


def resume_of(path: Path) -> str | None:
    m = re.search(rf"^resume: ({UUID})$", path.read_text(), re.M)
    return m.group(1) if m else None


def opt(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_each_document_gets_its_own_conversation_recorded_before_the_call(
    project: Path, fake_claude: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make(project, "a.md", "question A",
             "agent_doc_session: 1f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11\n")
    b = make(project, "b.md", "question B")
    # the id is in the document while the agent runs (a crash then leaves nothing orphaned)
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "exit1")
    seen = project / "seen-by-agent.md"
    monkeypatch.setenv("FAKE_CLAUDE_PRE", f"import shutil; shutil.copy({str(a)!r}, {str(seen)!r})")
    before = a.read_bytes()
    r = run_cli("run", str(a))
    assert r.returncode == 1, r
    (call,) = claude_calls(fake_claude)
    failed_id = opt(call["argv"], "--session-id")
    assert failed_id is not None and resume_of(seen) == failed_id
    assert "--continue" not in call["argv"] and "--resume" not in call["argv"]
    # ... and taken back when the call fails cleanly: a failed submit changes nothing
    assert a.read_bytes() == before
    assert not list((project / ".agent-doc").glob("pending/*"))
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "ok")
    monkeypatch.delenv("FAKE_CLAUDE_PRE")
    assert run_cli("run", str(a)).returncode == 0
    conv_a = opt(claude_calls(fake_claude)[1]["argv"], "--session-id")
    assert conv_a is not None and resume_of(a) == conv_a
    assert run_cli("run", str(b)).returncode == 0
    conv_b = opt(claude_calls(fake_claude)[2]["argv"], "--session-id")
    assert conv_b is not None and conv_b != conv_a and resume_of(b) == conv_b
    with a.open("a") as fh:
        fh.write("follow-up A\n")
    assert run_cli("run", str(a)).returncode == 0
    last = claude_calls(fake_claude)[3]["argv"]
    assert opt(last, "--resume") == conv_a and "--session-id" not in last
    assert resume_of(a) == conv_a


def test_the_agent_runs_in_the_project_root_from_any_folder(
    project: Path, fake_claude: Path, tmp_path: Path
) -> None:
    sub = project / "notes" / "deep"
    sub.mkdir(parents=True)
    a = make(sub, "a.md", "question")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert run_cli("run", str(a), cwd=elsewhere).returncode == 0
    with a.open("a") as fh:
        fh.write("more\n")
    assert run_cli("run", "a.md", cwd=sub).returncode == 0
    assert [c["cwd"] for c in claude_calls(fake_claude)] == [str(project), str(project)]


def test_reset_starts_a_new_conversation(project: Path, fake_claude: Path) -> None:
    a = make(project, "a.md", "question")
    assert run_cli("run", str(a)).returncode == 0
    first = resume_of(a)
    assert run_cli("reset", str(a)).returncode == 0
    assert resume_of(a) is None
    assert run_cli("run", str(a)).returncode == 0
    second = resume_of(a)
    assert second is not None and second != first
    assert opt(claude_calls(fake_claude)[1]["argv"], "--session-id") == second


@pytest.mark.parametrize("extra,words", [
    ("resume: --dangerously-skip-permissions\n", "not a Claude conversation id"),
    ('resume: "-c"\n', "not a Claude conversation id"),
    ("resume: fake-session-1\n", "not a Claude conversation id"),
    ("model: --dangerously-skip-permissions\n", "is not a model name"),
    ('model: "opus --add-dir /"\n', "is not a model name"),
    ('resume: "a\\0b"\n', "NUL"),
    ("model: op\x00us\n", "NUL byte"),
])
def test_frontmatter_values_are_data_never_options(
    project: Path, fake_claude: Path, extra: str, words: str
) -> None:
    a = make(project, "a.md", "question",
             "agent_doc_session: 6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11\n" + extra)
    before = a.read_bytes()
    r = run_cli("run", str(a))
    assert r.returncode == 1, r
    assert words in r.stderr and str(a) in r.stderr and "hint:" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not fake_claude.exists()  # the agent never ran
    assert a.read_bytes() == before
