"""The bundled Claude Code skill (``SKILL.md``) and its installation (Part B §9.5).

The skill teaches an interactive Claude Code session to run the cycle with our commands
(``claims``, ``commit``, ``diff``, ``write``) instead of editing the document and the snapshot
by hand. ``SKILL.md`` ships as package data; its ``agent-doc-version`` field holds the
placeholder :data:`VERSION_PLACEHOLDER`, replaced by :data:`agent_doc.__version__` when the text
is read, so the installed file always names the version that installed it (the reference's
bundled file named 0.5.6 inside binary 0.9.6, so its update check always fired).

The target is ``<project root>/.claude/skills/agent-doc/SKILL.md``, the project root found
from the working directory (SPEC A2), written with :func:`safefile.atomic_write`.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent_doc import __version__

VERSION_PLACEHOLDER = "__AGENT_DOC_VERSION__"
SKILL_RELPATH = Path(".claude") / "skills" / "agent-doc" / "SKILL.md"


def bundled_text() -> str:
    """The skill text as it is installed (version filled in)."""
    from importlib.resources import files

    raw = files(__name__).joinpath("SKILL.md").read_text(encoding="utf-8")
    return raw.replace(VERSION_PLACEHOLDER, __version__)


def skill_path(root: str | os.PathLike[str]) -> Path:
    return Path(root) / SKILL_RELPATH


def state(root: str | os.PathLike[str]) -> str:
    """``"missing"``, ``"current"`` or ``"outdated"`` for the skill installed under ``root``."""
    target = skill_path(root)
    try:
        installed = target.read_bytes()
    except FileNotFoundError:
        return "missing"
    return "current" if installed == bundled_text().encode("utf-8") else "outdated"


def install(root: str | os.PathLike[str]) -> bool:
    """Write the skill under ``root``; False when it was already identical."""
    from safefile import atomic_write

    if state(root) == "current":
        return False
    atomic_write(skill_path(root), bundled_text(), make_parents=True)
    return True
