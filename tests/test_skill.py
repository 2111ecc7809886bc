"""The bundled Claude Code skill: ``skill install|check`` (Part B §9.5) and the workflow it
documents, driven with the CLI alone (``claims`` → ``commit`` → ``diff`` → ``write``)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from agent_doc import __version__
from agent_doc.cli import COMMANDS
from agent_doc.skill import VERSION_PLACEHOLDER, bundled_text
from helpers.cli import run_cli

TARGET = Path(".claude/skills/agent-doc/SKILL.md")


def _frontmatter(text: str) -> dict[str, object]:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])


def test_check_install_check_exit_codes_and_messages(project: Path) -> None:
    r = run_cli("skill", "check", cwd=project)
    assert r.returncode == 1
    assert "Not installed. Run `agent-doc skill install` to install." in r.stderr
    r = run_cli("skill", "install", cwd=project)
    assert r.returncode == 0
    target = project / TARGET
    assert f"Installed skill v{__version__} → {target}" in r.stderr
    assert target.read_text() == bundled_text()
    r = run_cli("skill", "install", cwd=project)
    assert r.returncode == 0 and f"Skill already up to date (v{__version__})." in r.stderr
    r = run_cli("skill", "check", cwd=project)
    assert r.returncode == 0 and f"Up to date (v{__version__})." in r.stderr
    target.write_text(target.read_text().replace("agent-doc diff", "cat"))
    r = run_cli("skill", "check", "--json", cwd=project)
    assert r.returncode == 1
    assert f"Outdated. Run `agent-doc skill install` to update to v{__version__}." in r.stderr
    assert json.loads(r.stdout)["state"] == "outdated"
    r = run_cli("skill", "install", cwd=project)
    assert r.returncode == 0 and "Installed skill" in r.stderr
    assert run_cli("skill", "check", cwd=project).returncode == 0


def test_installs_at_the_project_root_from_a_subfolder(project: Path) -> None:
    sub = project / "notes" / "deep"
    sub.mkdir(parents=True)
    assert run_cli("skill", "install", cwd=sub).returncode == 0
    assert (project / TARGET).is_file()
    assert not (sub / ".claude").exists()
    assert run_cli("skill", "check", cwd=sub).returncode == 0


def test_version_field_equals_the_package_version(project: Path) -> None:
    assert VERSION_PLACEHOLDER not in bundled_text()
    assert run_cli("skill", "install", cwd=project).returncode == 0
    meta = _frontmatter((project / TARGET).read_text())
    assert meta["agent-doc-version"] == __version__
    assert meta["user-invocable"] is True
    assert meta["argument-hint"]
    assert isinstance(meta["description"], str) and "agent-doc" in meta["description"]


def test_every_command_the_skill_names_exists() -> None:
    text = bundled_text()
    named = set(re.findall(r"`agent-doc ([a-z-]+)", text)) | set(
        re.findall(r"^\s*agent-doc ([a-z-]+)", text, re.MULTILINE)
    )
    assert {"skill", "claims", "commit", "diff", "write", "recover", "claim"} <= named
    for cmd in named:
        assert cmd in COMMANDS, cmd
        assert importlib.util.find_spec(f"agent_doc.cli.{COMMANDS[cmd][0]}"), cmd
    # the skill never tells Claude to touch the snapshot or the claims log itself
    assert "snapshots/" not in text
    flat = " ".join(text.split()).lower()
    assert "never read or truncate `.agent-doc/claims.log` by hand" in flat


DRIVER = r"""
import json, subprocess, sys

doc, name = sys.argv[1], sys.argv[2]
log = []

def ad(*args, stdin=None):
    p = subprocess.run([sys.executable, "-m", "agent_doc", *args], input=stdin,
                       capture_output=True, text=True)
    log.append({"cmd": args[0], "rc": p.returncode, "stderr": p.stderr[-500:]})
    return p

# pre-flight, as SKILL.md says
ad("skill", "check")
ad("claims")
# the cycle
assert ad("commit", doc).returncode == 0, log
diff = ad("diff", doc).stdout
added = [l[1:].strip() for l in diff.splitlines()
         if l.startswith("+") and not l.startswith("+++") and l[1:].strip()]
answer = f"Answer for {name}: you asked {added[-1]!r}." if added else None
if answer:
    assert ad("write", doc, stdin=answer + "\n").returncode == 0, log
after = ad("diff", doc).stdout
print(json.dumps({"answer": answer, "added": added, "after": after, "log": log}))
"""


def test_documented_workflow_for_two_documents_at_once(git_project: Path) -> None:
    (git_project / ".agent-doc").mkdir()
    assert run_cli("skill", "install", cwd=git_project).returncode == 0
    docs = {}
    for name in ("alpha", "beta"):
        doc = git_project / f"{name}.md"
        doc.write_text(f"# {name}\n\n## User\n\nWhat is special about {name}?\n")
        docs[name] = doc
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", DRIVER, f"{name}.md", name], cwd=git_project,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in docs
    }
    outs = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs[name] = json.loads(out)
    for name, doc in docs.items():
        res = outs[name]
        assert res["answer"] == f"Answer for {name}: you asked 'What is special about {name}?'."
        assert res["after"] == "", res  # the write-back baselined the answer
        text = doc.read_text()
        other = "beta" if name == "alpha" else "alpha"
        assert text.count("## Assistant") == 1
        assert text.count(res["answer"]) == 1
        assert f"Answer for {other}" not in text
        assert text.rstrip().endswith(res["answer"] + "\n\n## User")
    # `commit` recorded each question before it was answered
    log = subprocess.run(
        ["git", "log", "--format=%s", "--name-only"], cwd=git_project, capture_output=True,
        text=True, check=True,
    ).stdout
    assert "agent-doc(alpha):" in log and "agent-doc(beta):" in log


# -- claims (the skill's pre-flight) ------------------------------------------------------------


def test_claims_prints_and_empties_the_log(project: Path) -> None:
    log = project / ".agent-doc" / "claims.log"
    r = run_cli("claims", cwd=project)
    assert (r.returncode, r.stdout) == (0, "") and "No new claims." in r.stderr
    log.write_text("Claimed a.md for pane %1\nClaimed notes/b.md for pane %2\n")
    sub = project / "notes"
    sub.mkdir()
    r = run_cli("claims", cwd=sub)  # a drifted working directory finds the project's log
    assert r.returncode == 0
    assert r.stdout == "Claimed a.md for pane %1\nClaimed notes/b.md for pane %2\n"
    assert log.read_text() == ""
    log.write_text("Claimed c.md for pane %3\n")
    r = run_cli("claims", "--json", cwd=project)
    assert json.loads(r.stdout) == {"claims": ["Claimed c.md for pane %3"], "log": str(log)}
    assert run_cli("claims", "--json", cwd=project).stdout.startswith('{"claims": []')


APPENDER = r"""
import sys, time
from safefile import append_line
from tmux_router.registry import Registry
reg = Registry(sys.argv[1])
for i in range(int(sys.argv[2])):
    with reg.lock():  # what `claim` does (routing.claim): append under the registry lock
        append_line(sys.argv[3], f"Claimed doc{i}.md for pane %{i}\n")
    time.sleep(0.002)
"""


def test_claims_loses_no_line_appended_concurrently(project: Path) -> None:
    state = project / ".agent-doc"
    n = 400
    writer = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(state / "sessions.json"), str(n),
         str(state / "claims.log")],
    )
    seen: list[str] = []
    while writer.poll() is None:
        r = run_cli("claims", "--json", cwd=project)
        assert r.returncode == 0, r
        seen += json.loads(r.stdout)["claims"]
    assert writer.returncode == 0
    seen += json.loads(run_cli("claims", "--json", cwd=project).stdout)["claims"]
    assert sorted(seen) == sorted(f"Claimed doc{i}.md for pane %{i}" for i in range(n))
