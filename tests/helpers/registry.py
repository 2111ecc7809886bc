"""What agent-doc recorded about documents: a document's session id, the session registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def session_of(doc: Path) -> str:
    """The ``agent_doc_session:`` value in DOC's front matter (fails the test if there is none)."""
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("agent_doc_session:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no session in {doc}")


def registry(project: Path) -> dict[str, Any]:
    """The project's ``.agent-doc/sessions.json`` as a dict (``{}`` when there is none yet)."""
    path = project / ".agent-doc" / "sessions.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return data
