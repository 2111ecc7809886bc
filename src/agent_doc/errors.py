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


def os_cause(exc: OSError, path: str | None = None) -> str:
    """The real cause of ``exc`` in words, naming ``path`` (or the file the error names).

    ``safefile`` raises errors whose message already names the file ("cannot write X: ...");
    the kernel's own (``[Errno 28] No space left on device``) name nothing: the path is added.
    """
    import os

    text = exc.strerror or str(exc)
    names = [n for n in (exc.filename, path) if n]
    named = [os.fspath(n) for n in names if os.fspath(n) in text]
    if names and not named:
        text = f"{text}: {os.fspath(names[0])}"
    return text


def os_hint(exc: OSError, path: str | None = None) -> str:
    """What to do about ``exc`` (by its errno), for the file ``path``."""
    import errno
    import os

    where = os.fspath(path if path is not None else (exc.filename or "the file"))
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free some space on the file system holding {where} (see `df {where}`)"
    if code in (errno.EACCES, errno.EPERM):
        return f"check the permissions of {where} and of its folder (`ls -ld`)"
    if code == errno.EROFS:
        return f"the file system holding {where} is mounted read-only"
    if code == errno.ENOENT:
        return f"check that {where} and its folder exist"
    if code == errno.EIO:
        return f"the disk holding {where} reported an I/O error: check it"
    return f"check {where}"


def missing_file_error(path: object) -> AgentDocError:
    """The error for a path ``os.path.exists`` says is not there: :class:`FileNotFound`, or —
    when a folder on the way may not be searched — the real cause (not "no such file")."""
    import os

    try:
        os.stat(path)  # type: ignore[arg-type]
    except FileNotFoundError:
        return FileNotFound(path)
    except OSError as exc:
        p = os.fspath(path)  # type: ignore[call-overload]
        return AgentDocError(f"cannot open {p}: {os_cause(exc, p)}", hint=os_hint(exc, p))
    return FileNotFound(path)  # a dangling symlink


def say(message: str) -> None:
    """One line for a person on stderr (stdout is for data): progress, warnings, results.

    The one such helper of ``agent_doc`` (engines and ``cli`` alike)."""
    import sys

    sys.stderr.write(message + "\n")
    sys.stderr.flush()
