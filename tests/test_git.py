"""Git for documents (agent_doc.gitops) with real repositories: pathspec commits, parallel
runs in one repository, `-b`, `clean`'s squash and its refusal, index.lock retries."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest

import helpers.docs
from helpers.agents import claude_calls
from helpers.cli import run_cli

MESSAGE = re.compile(r"^agent-doc\((?P<stem>[^)]+)\): \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


make_doc = partial(helpers.docs.make_doc, agent="claude", blank=True,
                   title="# Session\n\n## User\n\n", body="Question?\n")


def commits(repo: Path, n: int = 20) -> list[tuple[str, list[str]]]:
    """(subject, files) of the last n commits, newest first."""
    out = git(repo, "log", f"-n{n}", "--name-only", "--format=%x1e%s")
    result = []
    for rec in out.split("\x1e")[1:]:
        subject, _, names = rec.partition("\n")
        result.append((subject, [x for x in names.splitlines() if x]))
    return result


def test_commit_takes_only_the_document_even_with_other_files_staged(git_project: Path) -> None:
    doc = make_doc(git_project)
    (git_project / "staged.txt").write_text("the user's own work\n")
    git(git_project, "add", "staged.txt")
    r = run_cli("commit", str(doc))
    assert r.returncode == 0, r
    subject, files = commits(git_project)[0]
    assert MESSAGE.match(subject) and MESSAGE.match(subject)["stem"] == "doc"
    assert files == ["doc.md"]
    assert git(git_project, "diff", "--cached", "--name-only").split() == ["staged.txt"]
    again = run_cli("commit", str(doc))
    assert again.returncode == 0 and "Nothing to commit" in again.stderr
    assert len(commits(git_project)) == 2


def test_run_pre_commits_the_users_text_and_leaves_the_answer_uncommitted(
    git_project: Path, fake_claude: Path
) -> None:
    doc = make_doc(git_project)
    (git_project / "staged.txt").write_text("x\n")
    git(git_project, "add", "staged.txt")
    r = run_cli("run", str(doc))
    assert r.returncode == 0, r
    assert "not a git repository" not in r.stderr
    committed = git(git_project, "show", "HEAD:doc.md")
    assert "Question?" in committed and "## Assistant" not in committed
    assert "## Assistant" in doc.read_text()
    assert commits(git_project)[0][1] == ["doc.md"]
    assert "staged.txt" in git(git_project, "diff", "--cached", "--name-only")
    # --no-git: no commit at all
    with doc.open("a") as fh:
        fh.write("More?\n")
    n = len(commits(git_project))
    assert run_cli("run", str(doc), "--no-git").returncode == 0
    assert len(commits(git_project)) == n


def test_two_documents_of_one_repository_run_in_parallel_both_committed(
    git_project: Path, fake_claude: Path
) -> None:
    docs = [make_doc(git_project / "notes", f"d{i}.md", body=f"Doc {i}?\n") for i in range(2)]
    env = dict(os.environ, FAKE_CLAUDE_SLEEP="0.3")
    procs = [subprocess.Popen([sys.executable, "-m", "agent_doc", "run", str(d)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for d in docs]
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    log = commits(git_project)
    by_file = {tuple(files): subject for subject, files in log}
    assert MESSAGE.match(by_file[("notes/d0.md",)])
    assert MESSAGE.match(by_file[("notes/d1.md",)])
    assert len(claude_calls(fake_claude)) == 2
    assert not (git_project / ".git" / "index.lock").exists()


def test_index_lock_is_waited_for(git_project: Path) -> None:
    doc = make_doc(git_project)
    lock = git_project / ".git" / "index.lock"
    lock.write_text("")
    timer = threading.Timer(0.4, lock.unlink)
    timer.start()
    try:
        r = run_cli("commit", str(doc))
    finally:
        timer.join()
    assert r.returncode == 0, r
    assert commits(git_project)[0][1] == ["doc.md"]


def test_index_lock_that_stays_gives_a_clear_error(
    git_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_doc import gitops

    monkeypatch.setattr(gitops, "_RETRIES", 3)
    doc = make_doc(git_project)
    (git_project / ".git" / "index.lock").write_text("")
    with pytest.raises(gitops.GitError) as info:
        gitops.commit_document(doc)
    assert "git add failed for" in info.value.message
    assert info.value.hint and "index.lock" in info.value.hint


def test_relative_path_resolves_against_the_working_directory(git_project: Path) -> None:
    top = make_doc(git_project)
    sub = make_doc(git_project / "sub")
    r = run_cli("commit", "doc.md", cwd=git_project / "sub")
    assert r.returncode == 0, r
    assert commits(git_project)[0][1] == ["sub/doc.md"]
    assert "doc.md" in git(git_project, "status", "--porcelain")  # top one untouched
    assert top.exists() and sub.exists()


def test_outside_a_repository_the_cycle_says_so_once(project: Path, fake_claude: Path) -> None:
    doc = make_doc(project)
    r = run_cli("run", str(doc), "-b")
    assert r.returncode == 0, r
    assert r.stderr.count("not a git repository: running without git") == 1
    c = run_cli("commit", str(doc))
    assert c.returncode == 0 and "not a git repository" in c.stderr


def test_branch_is_created_once_and_not_switched_again(
    git_project: Path, fake_claude: Path
) -> None:
    doc = make_doc(git_project, "plan.md")
    r = run_cli("run", str(doc), "-b")
    assert r.returncode == 0, r
    assert "Switched to branch agent-doc/plan" in r.stderr
    assert git(git_project, "symbolic-ref", "--short", "HEAD").strip() == "agent-doc/plan"
    with doc.open("a") as fh:
        fh.write("Again?\n")
    r2 = run_cli("run", str(doc), "-b")
    assert r2.returncode == 0, r2
    assert "Switched" not in r2.stderr
    git(git_project, "checkout", "-q", "-b", "elsewhere")  # same commit: changes carried
    with doc.open("a") as fh:
        fh.write("Third?\n")
    r3 = run_cli("run", str(doc), "-b")
    assert r3.returncode == 0, r3
    assert "Switched to branch agent-doc/plan" in r3.stderr
    assert git(git_project, "symbolic-ref", "--short", "HEAD").strip() == "agent-doc/plan"


def _agent_doc_commits(repo: Path, doc: Path, n: int) -> None:
    for i in range(n):
        with doc.open("a") as fh:
            fh.write(f"edit {i}\n")
        assert run_cli("commit", str(doc)).returncode == 0
        time.sleep(0.01)


def test_clean_squashes_the_consecutive_agent_doc_commits_at_the_tip(git_project: Path) -> None:
    doc = make_doc(git_project)
    _agent_doc_commits(git_project, doc, 3)
    (git_project / "staged.txt").write_text("x\n")
    git(git_project, "add", "staged.txt")
    with doc.open("a") as fh:
        fh.write("uncommitted answer\n")
    tree_before = git(git_project, "rev-parse", "HEAD^{tree}")
    r = run_cli("clean", str(doc))
    assert r.returncode == 0, r
    assert "Squashed 3 agent-doc commits" in r.stderr
    log = commits(git_project)
    assert log[0] == ("agent-doc: squashed session for doc.md", ["doc.md"])
    assert log[1][0] == "init"
    assert git(git_project, "rev-parse", "HEAD^{tree}") == tree_before
    # the working tree and the index are untouched
    assert doc.read_text().endswith("uncommitted answer\n")
    assert git(git_project, "diff", "--cached", "--name-only").split() == ["staged.txt"]
    again = run_cli("clean", str(doc))
    assert again.returncode == 0 and "nothing to squash" in again.stderr


def test_clean_refuses_when_another_commit_is_interleaved(git_project: Path) -> None:
    doc = make_doc(git_project)
    _agent_doc_commits(git_project, doc, 2)
    (git_project / "other.txt").write_text("work\n")
    git(git_project, "add", "other.txt")
    git(git_project, "commit", "-q", "-m", "user work")
    _agent_doc_commits(git_project, doc, 1)
    head = git(git_project, "rev-parse", "HEAD")
    r = run_cli("clean", str(doc))
    assert r.returncode == 1, r
    assert "user work" in r.stderr and "not squashing" in r.stderr
    assert "hint:" in r.stderr
    assert git(git_project, "rev-parse", "HEAD") == head


def test_clean_squashes_only_the_tip_run_and_leaves_older_ones(git_project: Path) -> None:
    doc = make_doc(git_project)
    _agent_doc_commits(git_project, doc, 2)
    (git_project / "other.txt").write_text("work\n")
    git(git_project, "add", "other.txt")
    git(git_project, "commit", "-q", "-m", "user work")
    _agent_doc_commits(git_project, doc, 2)
    r = run_cli("clean", str(doc))
    assert r.returncode == 0, r
    assert "Squashed 2" in r.stderr and "left alone" in r.stderr
    subjects = [s for s, _f in commits(git_project)]
    assert subjects[0] == "agent-doc: squashed session for doc.md"
    assert subjects[1] == "user work"
    assert MESSAGE.match(subjects[2]) and MESSAGE.match(subjects[3])


def test_clean_ignores_other_documents_commits(git_project: Path) -> None:
    a = make_doc(git_project, "a.md")
    b = make_doc(git_project, "b.md")
    _agent_doc_commits(git_project, a, 2)
    _agent_doc_commits(git_project, b, 1)
    r = run_cli("clean", str(a))
    assert r.returncode == 1 and "agent-doc(b)" in r.stderr
    r2 = run_cli("clean", str(b))
    assert r2.returncode == 0 and "nothing to squash" in r2.stderr


def test_clean_without_agent_doc_commits(git_project: Path) -> None:
    doc = make_doc(git_project)
    r = run_cli("clean", str(doc))
    assert r.returncode == 0 and "No agent-doc commits found" in r.stderr


def test_relative_path_falls_back_to_the_root_when_not_in_the_working_directory(
    git_project: Path,
) -> None:
    make_doc(git_project / "notes", "plan.md")
    (git_project / "elsewhere").mkdir()
    r = run_cli("commit", "notes/plan.md", cwd=git_project / "elsewhere")
    assert r.returncode == 0, r
    assert commits(git_project)[0][1] == ["notes/plan.md"]
    missing = run_cli("commit", "notes/nope.md", cwd=git_project / "elsewhere")
    assert missing.returncode == 1 and "file not found: notes/nope.md" in missing.stderr


# -- git does only what the user would (issue 11 item 7) ------------------------------------


def _answered(doc: Path) -> bool:
    return "## Assistant" in doc.read_text()


def test_ignored_document_is_never_committed(git_project: Path, fake_claude: Path) -> None:
    (git_project / ".gitignore").write_text("private*.md\n")
    git(git_project, "add", ".gitignore")
    git(git_project, "commit", "-q", "-m", "ignore private notes")
    doc = make_doc(git_project, "private-notes.md")
    before = len(commits(git_project))
    r = run_cli("run", str(doc))
    assert r.returncode == 0, r
    assert _answered(doc)
    assert "ignored by git" in r.stderr
    assert len(commits(git_project)) == before
    assert git(git_project, "log", "--all", "--format=%H", "--", "private-notes.md") == ""
    assert git(git_project, "ls-files", "--", "private-notes.md") == ""
    c = run_cli("commit", str(doc))
    assert c.returncode == 0 and "ignored by git" in c.stderr, c
    assert git(git_project, "log", "--all", "--format=%H", "--", "private-notes.md") == ""


def _break_commits(repo: Path, how: str, tmp: Path) -> dict[str, str]:
    if how == "gpgsign":
        gnupg = tmp / "gnupg-empty"
        gnupg.mkdir(mode=0o700)
        git(repo, "config", "commit.gpgsign", "true")
        return {"GNUPGHOME": str(gnupg)}
    if how == "hook":
        hook = repo / ".git" / "hooks" / "prepare-commit-msg"
        hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
        hook.chmod(0o755)
        return {}
    assert how == "identity"
    git(repo, "config", "user.useConfigOnly", "true")
    return {"GIT_AUTHOR_NAME": "", "GIT_COMMITTER_NAME": "", "GIT_AUTHOR_EMAIL": "",
            "GIT_COMMITTER_EMAIL": "", "EMAIL": ""}


@pytest.mark.parametrize("how", ["gpgsign", "hook", "identity"])
def test_failed_pre_commit_leaves_the_document_unstaged(
    git_project: Path, fake_claude: Path, tmp_path: Path, how: str
) -> None:
    doc = make_doc(git_project)
    git(git_project, "add", doc.name)
    git(git_project, "commit", "-q", "-m", "the document, tracked")
    with doc.open("a") as fh:
        fh.write("A new question, not staged by the user\n")
    (git_project / "other.txt").write_text("staged by the user\n")
    git(git_project, "add", "other.txt")
    env = _break_commits(git_project, how, tmp_path)
    head = git(git_project, "rev-parse", "HEAD")
    r = run_cli("run", str(doc), env=env)
    assert r.returncode == 0, r
    assert f"warning: could not commit {doc} before submitting" in r.stderr
    assert _answered(doc)
    assert git(git_project, "rev-parse", "HEAD") == head
    assert git(git_project, "diff", "--cached", "--name-only").split() == ["other.txt"]


def test_failed_commit_of_a_new_document_leaves_it_untracked(
    git_project: Path, tmp_path: Path
) -> None:
    doc = make_doc(git_project, "fresh.md")
    env = _break_commits(git_project, "hook", tmp_path)
    r = run_cli("commit", str(doc), env=env)
    assert r.returncode == 1 and "fresh.md" in r.stderr, r
    assert git(git_project, "ls-files", "--", "fresh.md") == ""
    assert git(git_project, "diff", "--cached", "--name-only") == ""


def _conflict(repo: Path) -> None:
    """Two branches that change README differently: `other` and `main`."""
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "README").write_text("theirs\n")
    git(repo, "commit", "-q", "-am", "theirs")
    git(repo, "checkout", "-q", "main")
    (repo / "README").write_text("ours\n")
    git(repo, "commit", "-q", "-am", "ours")


def _enter_state(repo: Path, state: str) -> None:
    if state == "detached":
        git(repo, "checkout", "-q", "--detach", "HEAD")
        return
    if state == "bisect":
        git(repo, "bisect", "start")
        return
    _conflict(repo)
    cmd = {"rebase": ["rebase", "other"], "merge": ["merge", "other"],
           "cherry-pick": ["cherry-pick", "other"]}[state]
    p = subprocess.run(["git", *cmd], cwd=repo, capture_output=True, text=True)
    assert p.returncode != 0, "the conflict should stop the operation"


@pytest.mark.parametrize("state", ["detached", "rebase", "merge", "cherry-pick", "bisect"])
def test_no_commit_while_the_repository_is_mid_operation(
    git_project: Path, fake_claude: Path, state: str
) -> None:
    (git_project / ".git" / "info" / "exclude").write_text(".agent-doc/\n")
    _enter_state(git_project, state)
    doc = make_doc(git_project)
    head = git(git_project, "rev-parse", "HEAD")
    status = git(git_project, "status", "--porcelain=v1")
    r = run_cli("run", str(doc))
    assert r.returncode == 0, r
    assert _answered(doc)
    assert "not committing" in r.stderr, r.stderr
    assert git(git_project, "rev-parse", "HEAD") == head
    # nothing staged, nothing of the user's operation touched
    assert git(git_project, "status", "--porcelain=v1") == status
    with doc.open("a") as fh:
        fh.write("Again?\n")
    r2 = run_cli("run", str(doc))
    assert r2.returncode == 0 and git(git_project, "rev-parse", "HEAD") == head, r2


def test_only_procrun_starts_programs() -> None:
    """Issue 13: "what runs a subprocess?" has one answer, src/procrun — git (gitops), the patch
    hooks and the demo run through it (each took `subprocess` before). `os.execv` replaces the
    process rather than starting one, so it is not counted."""
    src = Path(__file__).resolve().parent.parent / "src"
    starter = re.compile(r"^\s*(import subprocess|from subprocess import)|os\.(posix_spawnp?|fork|"
                         r"system|popen|spawn\w*)\(|Popen\(", re.M)
    found = []
    for path in sorted(src.rglob("*.py")):
        if path.is_relative_to(src / "procrun"):
            continue
        for m in starter.finditer(path.read_text(encoding="utf-8")):
            line = path.read_text(encoding="utf-8").count("\n", 0, m.start()) + 1
            found.append(f"{path.relative_to(src)}:{line}: {m.group(0).strip()}")
    assert found == [], "programs started outside procrun:\n" + "\n".join(found)
