"""Small value classes without ``dataclasses``: ``==``, ``hash`` and ``repr`` from ``_fields``.

Every result and option class of agent-doc (``AgentReply``, ``SubmitResult``, ``CommitOutcome``,
``ClaimResult``…) derives from :class:`Record` (mutable, unhashable) or :class:`FrozenRecord`
(immutable, hashable). A subclass declares its fields once, in order, and keeps an explicit,
typed ``__init__``::

    class Span(FrozenRecord):
        __slots__ = _fields = ("start", "end")
        start: int
        end: int

        def __init__(self, start: int, end: int = -1) -> None:
            self._assign(start, end)

Why not ``@dataclass`` or ``typing.NamedTuple``: importing ``dataclasses`` (it pulls in
``inspect``) and ``typing`` costs start-up time (``bench/IMPORTS.md``), and each dataclass
definition costs more. Every hotkey command would pay that before doing anything.
This module imports nothing.
"""

from __future__ import annotations


class Record:
    """A mutable record: equality and ``repr`` over ``_fields``; not hashable."""

    __slots__ = ()
    #: the field names in declaration order (a subclass sets ``__slots__ = _fields = (...)``)
    _fields: tuple[str, ...] = ()

    def _assign(self, *values: object) -> None:
        """Set the fields, in ``_fields`` order (used by ``__init__``, also when frozen)."""
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"


class FrozenRecord(Record):
    """An immutable, hashable record (hashable when its field values are)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._key())
