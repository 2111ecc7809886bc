"""User-facing errors: what went wrong, which file, what to do.

Every failure a user can cause or fix is raised as :class:`AgentDocError` (or a subclass). The
CLI prints ``Error: <message>`` and, on its own line, ``hint: <hint>``, and exits with
``exit_code`` (1 unless stated otherwise).
"""

from __future__ import annotations


class AgentDocError(Exception):
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class FileNotFound(AgentDocError):
    def __init__(self, path: object) -> None:
        super().__init__(
            f"file not found: {path}",
            hint="check the path; create a new session document with `agent-doc init FILE`",
        )


class FrontmatterError(AgentDocError):
    """Malformed frontmatter; the document is never rewritten after this."""
