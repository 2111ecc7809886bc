"""The tmux side of the command line, shared by the commands that talk to tmux: the
``--socket-name`` option and the mapping of tmux wrapper errors to :class:`AgentDocError`.

On the hot path (``route``, ``claim``, ``focus``, ``prompt``): imports nothing at module level
but ``agent_doc.errors`` and ``agent_doc.routing.common`` (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from agent_doc.errors import AgentDocError
from agent_doc.routing.common import SOCKET_ENV

TYPE_CHECKING = False  # `typing` stays off the hot path (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any


class tmux_errors:
    """Turn tmux wrapper errors into user-facing :class:`AgentDocError` (message + hint).

    A small class rather than ``@contextlib.contextmanager``: ``contextlib`` is kept off the
    hotkey path (docs/ARCHITECTURE.md)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            return
        from tmux_router.tmux import NoServer, TmuxError, TmuxNotInstalled

        if isinstance(exc, TmuxNotInstalled):
            raise AgentDocError(
                "tmux is not installed (no `tmux` on PATH); nothing was changed",
                hint="install tmux (e.g. `apt-get install tmux` or `brew install tmux`) and "
                "retry",
            ) from None
        if isinstance(exc, NoServer):
            raise AgentDocError(
                "no tmux server is running; nothing was changed",
                hint="start tmux first (e.g. `tmux new -s work`), or select a server with "
                f"--socket-name / ${SOCKET_ENV}",
            ) from None
        if isinstance(exc, TmuxError):
            raise AgentDocError(f"tmux failed: {exc}",
                                hint="check the tmux server and retry") from None


def add_socket_option(parser: Any) -> None:
    """``--socket-name NAME`` on an argparse parser or fastargs' recording one (the value is
    passed to :func:`agent_doc.routing.common.open_tmux`)."""
    parser.add_argument(
        "--socket-name",
        "-L",
        metavar="NAME",
        default=None,
        help=f"tmux server socket name (or path); default: ${SOCKET_ENV}, else tmux's own choice",
    )
