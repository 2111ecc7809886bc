"""Small helpers shared by the command modules: argument types and output."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # `import typing` costs start-up time (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any



def existing_file(path: str) -> str:
    """Validate that ``path`` is an existing regular file (or a link to one)."""
    if not os.path.exists(path):
        from agent_doc.errors import missing_file_error

        raise missing_file_error(path)
    return path


def say(message: str) -> None:
    """Human-readable progress and results go to stderr (stdout is for data)."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def emit_json(data: Any) -> None:
    import json  # deferred: `json` pulls in `re` (bench/IMPORTS.md); only --json needs it

    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()
