"""``agent-doc skill install|check``: the bundled Claude Code skill (Part B §9.5).

``install`` writes ``<project root>/.claude/skills/agent-doc/SKILL.md`` (atomically) unless it
is already identical. ``check`` exits 0 when the installed file is identical to the bundled
one, 1 when it is missing or different. Messages go to stderr, as in the reference.
"""

from __future__ import annotations

import argparse

from agent_doc.cli.common import emit_json, say

DESCRIPTION = (
    "Install the bundled Claude Code skill into <project>/.claude/skills/agent-doc/SKILL.md,\n"
    "or check that the installed one is current (exit 1 if missing or outdated)."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("install", "check"), help="what to do")
    parser.add_argument(
        "--json", action="store_true", help="print {state, path, version} on stdout"
    )


def run(args: argparse.Namespace) -> int:
    from agent_doc import __version__
    from agent_doc.project import Project
    from agent_doc.skill import install, skill_path, state

    root = Project.for_cwd().root
    path = skill_path(root)
    if args.action == "install":
        changed = install(root)
        if changed:
            say(f"Installed skill v{__version__} → {path}")
        else:
            say(f"Skill already up to date (v{__version__}).")
        if args.json:
            emit_json({"state": "current", "changed": changed, "path": str(path),
                       "version": __version__})
        return 0
    current = state(root)
    if args.json:
        emit_json({"state": current, "path": str(path), "version": __version__})
    if current == "missing":
        say("Not installed. Run `agent-doc skill install` to install.")
        return 1
    if current == "outdated":
        say(f"Outdated. Run `agent-doc skill install` to update to v{__version__}.")
        return 1
    say(f"Up to date (v{__version__}).")
    return 0
