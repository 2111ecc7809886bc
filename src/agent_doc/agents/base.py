"""The agent interface every backend implements, its reply and its error (SPEC A7).

``send(prompt, *, resume_id, fork, model) -> AgentReply(text, session_id)``. ``resume_id`` is
the document's ``resume`` value (the conversation to continue); ``fork`` asks a backend that
keeps conversations to branch from the latest one when there is no ``resume_id``; ``model``
overrides the configured model. Backends that keep no conversation return ``session_id=None``.
``send(..., stream=TextStream)`` (issue 16): a backend whose ``streams`` is true calls
``stream.write(delta)`` as the answer arrives and ``stream.restart()`` when a new assistant
message begins, and still returns the whole reply; the reply's text, not the concatenation of
the deltas, is the answer.
"""

from __future__ import annotations

from agent_doc.errors import AgentDocError
from agent_doc.record import FrozenRecord

# `typing` (bench/IMPORTS.md) is kept off the start-up path of the hotkey commands: the
# Protocol exists for type checkers only (and see agent_doc.record for why no dataclasses).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

#: how many trailing lines of the agent's stderr go into error messages
STDERR_TAIL_LINES = 20


class AgentReply(FrozenRecord):
    """What an agent answered, and the conversation to resume next time (immutable)."""

    __slots__ = _fields = ("text", "session_id")
    text: str
    session_id: str | None

    def __init__(self, text: str, session_id: str | None) -> None:
        self._assign(text, session_id)


class AgentError(AgentDocError):
    """The agent could not answer. The message names the agent and ends with its stderr tail."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        exit_code: int | None = None,
        agent: str | None = None,
        stderr_tail: str = "",
    ) -> None:
        if stderr_tail:
            message = f"{message}\n{agent or 'agent'} stderr (last lines):\n{_indent(stderr_tail)}"
        super().__init__(message, hint=hint, exit_code=exit_code)
        self.agent = agent
        self.stderr_tail = stderr_tail


class AgentTimeout(AgentError):
    """The agent did not answer within its configured ``timeout``."""


if TYPE_CHECKING:

    class Agent(Protocol):
        name: str
        #: whether ``send(..., stream=...)`` hands text on as it arrives (otherwise the
        #: stream is not called and only the final reply counts)
        streams: bool

        def send(
            self, prompt: str, *, resume_id: str | None, fork: bool, model: str | None,
            stream: TextStream | None = None,
        ) -> AgentReply: ...

else:

    class Agent:
        """Runtime stand-in for the ``Agent`` protocol (``agent_doc.agents`` re-exports the
        name); only type checkers see the real :class:`typing.Protocol`."""


# -- streaming (issue 16) ------------------------------------------------------------------

if TYPE_CHECKING:

    class TextStream(Protocol):
        def write(self, delta: str) -> None: ...   # more answer text, in order
        def restart(self) -> None: ...              # a new assistant message begins: what was
                                                    # streamed so far is not part of the answer


def stderr_tail(data: bytes | str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` non-empty-trailing lines of a stream, decoded leniently."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(line.rstrip() for line in kept)


def _indent(text: str) -> str:
    return "\n".join(f"  | {line}" for line in text.splitlines())
