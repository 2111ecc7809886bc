"""hostile_data: frontmatter values are data, never options (issue 11, item 1).

A cloned document may carry any frontmatter. What of it reaches the agent's command line must
be a value, never an option: ``resume:`` must be a conversation id (a UUID) and ``model:`` a
model name; nothing from the document may become an argv element that starts with ``-``
(``resume: --dangerously-skip-permissions`` used to reach claude's argv). A NUL byte in the
frontmatter is a clear error, not a traceback. Each case runs ``agent-doc run`` with the fake
``claude`` (which records its argv) and checks: exit 1, a message naming the file, a
``hint:``, no traceback, no call of the agent, and the document unchanged.
"""

from __future__ import annotations

import json
import random

from stress.common import Env
from stress.hostile import Case

SESSION = "6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11"
INVARIANT = ("frontmatter values are data: hostile resume/model never reach the agent's argv "
             "as options; NUL is a clear error (exit 1, file named, hint, document unchanged)")

#: (case name, frontmatter lines) — each must be refused before the agent runs
HOSTILE = (
    ("resume-option", ["resume: --dangerously-skip-permissions"]),
    ("resume-quoted-option", ['resume: "--dangerously-skip-permissions"']),
    ("resume-short-option", ["resume: -c"]),
    ("resume-not-an-id", ["resume: ../../etc/passwd"]),
    ("resume-id-plus-option", [f'resume: "{SESSION} --verbose"']),
    ("model-option", ["model: --dangerously-skip-permissions"]),
    ("model-quoted-option", ['model: "--permission-mode=bypassPermissions"']),
    ("model-with-space", ['model: "opus --add-dir /"']),
    ("resume-nul-escape", ['resume: "6f1c2d9a\\0--x"']),
    ("model-nul-byte", ["model: opus\x00--x"]),
)


def _doc(lines: list[str]) -> str:
    front = "\n".join([f"agent_doc_session: {SESSION}", "agent: claude", *lines])
    return f"---\n{front}\n---\n\n# Session\n\n## User\n\nquestion\n"


def _case(name: str, lines: list[str]) -> Case:
    def run(env: Env, rng: random.Random) -> list[str]:
        root = env.base / "proj"
        (root / ".agent-doc").mkdir(parents=True)
        doc = root / "doc.md"
        doc.write_bytes(_doc(lines).encode("utf-8"))
        before = doc.read_bytes()
        log = env.base / "argv.jsonl"
        p = env.cli("run", str(doc), cwd=root, env={"FAKE_CLAUDE_LOG": str(log)})
        problems: list[str] = []
        if p.returncode != 1:
            problems.append(f"exit {p.returncode}, expected 1 ({p.stderr.strip()[-300:]!r})")
        if "Traceback" in p.stderr:
            problems.append(f"a traceback: {p.stderr.strip()[-400:]!r}")
        if str(doc) not in p.stderr and "doc.md" not in p.stderr:
            problems.append(f"the message does not name the file: {p.stderr.strip()!r}")
        if "hint:" not in p.stderr:
            problems.append(f"no hint: {p.stderr.strip()!r}")
        if log.exists():
            for line in log.read_text().splitlines():
                argv = json.loads(line)["argv"]
                leaked = [a for a in argv if a.startswith("-") and (
                    "dangerously" in a or "bypass" in a or a in ("-c", "--x", "--verbose")
                    or "add-dir" in a)]
                problems.append(f"the agent ran (argv {argv}); hostile options: {leaked}")
        if doc.read_bytes() != before:
            problems.append("the document was changed")
        return problems

    return Case(f"data-{name}", INVARIANT, run)


def _valid_values_still_work(env: Env, rng: random.Random) -> list[str]:
    """The other side: real ids and model names are passed on, as values."""
    root = env.base / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    doc = root / "doc.md"
    doc.write_text(_doc(["model: claude-opus-4-1[1m]"]))
    log = env.base / "argv.jsonl"
    p = env.cli("run", str(doc), cwd=root, env={"FAKE_CLAUDE_LOG": str(log)})
    if p.returncode != 0:
        return [f"a valid model name was refused: exit {p.returncode}: {p.stderr.strip()[-300:]!r}"]
    argv = json.loads(log.read_text().splitlines()[-1])["argv"]
    problems = []
    if argv[argv.index("--model") + 1] != "claude-opus-4-1[1m]":
        problems.append(f"model not passed as a value: {argv}")
    sid = argv[argv.index("--session-id") + 1] if "--session-id" in argv else None
    if sid is None or f"resume: {sid}" not in doc.read_text():
        problems.append(f"the conversation id was not recorded: {argv}")
    return problems


CASES = [_case(name, lines) for name, lines in HOSTILE] + [
    Case("data-valid-values", INVARIANT, _valid_values_still_work),
]
