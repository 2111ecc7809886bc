"""``agent-doc demo``: two full cycles in a scratch project, with the built-in offline agent.

It creates a temporary folder (a git repository when git is installed, with a local identity
if none is configured, so the pre-commit works), makes it a project (``.agent-doc/``), then runs
the real commands in this process through the normal dispatcher — ``init``, ``run`` twice —
with a one-line explanation before each step, and shows the document after each answer. The
user's typing is simulated by appending text to the file, as an editor would save it. The
folder is removed at the end unless ``--keep`` is given (its path is printed either way).

The narration and the document go to stdout; the commands' own progress lines go to stderr,
exactly as when they are run by hand.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

DESCRIPTION = (
    "Create a scratch project in a temporary folder and run two full submit cycles with the\n"
    "built-in offline agent (no network, no model), showing the document after each."
)

QUESTION = "What does agent-doc do when I submit this document?\n"
FOLLOW_UP = (
    "> Nice. And what happens to text I type while the agent is answering?\n"
    "\n"
    "Can you list the files it keeps under .agent-doc/?\n"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch folder (its path is printed) to look around")


def _out(text: str = "") -> None:
    sys.stderr.flush()
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _step(n: int, text: str) -> None:
    _out()
    _out(f"== Step {n}: {text}")


def _show(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        content = fh.read()
    _out(f"---------- {os.path.basename(path)} ----------")
    sys.stdout.write(content if content.endswith("\n") else content + "\n")
    _out("-" * (22 + len(os.path.basename(path))))


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _git_repo(folder: str) -> bool:
    if shutil.which("git") is None:
        return False
    from procrun import run_text

    run_text(["git", "init", "-q", folder], check=True)
    for key, value in (("user.name", "agent-doc demo"), ("user.email", "demo@agent-doc.invalid")):
        have = run_text(["git", "-C", folder, "config", key])
        if have.returncode != 0:
            run_text(["git", "-C", folder, "config", key, value], check=True)
    return True


def _command(*argv: str) -> int:
    from agent_doc.cli import main

    _out("$ agent-doc " + " ".join(argv))
    return main(list(argv))


def run(args: argparse.Namespace) -> int:
    folder = os.path.realpath(tempfile.mkdtemp(prefix="agent-doc-demo-"))
    old_cwd = os.getcwd()
    rc = 1
    try:
        os.chdir(folder)
        has_git = _git_repo(folder)
        os.mkdir(os.path.join(folder, ".agent-doc"))
        _out(f"Scratch project: {folder}" + (" (a git repository)" if has_git else ""))
        doc = "session.md"
        path = os.path.join(folder, doc)

        _step(1, "create a session document (frontmatter with a session id, a `## User` "
                 "heading)")
        rc = _command("init", doc, "Demo session", "--agent", "offline")
        if rc:
            return rc
        _step(2, "write a question under `## User`, as you would in your editor")
        _append(path, QUESTION)
        _show(path)

        _step(3, "submit: agent-doc sends what changed to the agent and appends its answer"
                 + (" (committing your text to git first)" if has_git else ""))
        rc = _command("run", doc)
        if rc:
            return rc
        _show(path)

        _step(4, "add a follow-up below the new `## User` heading, and an inline note")
        _append(path, FOLLOW_UP)

        _step(5, "submit again: only the change since the last submit is sent (the diff)")
        rc = _command("run", doc)
        if rc:
            return rc
        _show(path)
        _out()
        _out("That is the whole loop: edit the document, run `agent-doc run FILE`, read the "
             "answer. Use `--agent claude` (or configure an agent) for a real model.")
        return 0
    finally:
        os.chdir(old_cwd)
        if args.keep:
            _out(f"Kept the scratch project: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            if rc:
                _out(f"(removed {folder})")
