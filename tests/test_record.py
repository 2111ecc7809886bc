"""agent_doc.record: the dataclass replacement every result class uses."""

from __future__ import annotations

import pytest

from agent_doc.agents.base import AgentReply
from agent_doc.cycle import SubmitResult
from agent_doc.record import FrozenRecord, Record


class Point(FrozenRecord):
    __slots__ = _fields = ("x", "y")
    x: int
    y: int

    def __init__(self, x: int, y: int = 0) -> None:
        self._assign(x, y)


class Box(Record):
    __slots__ = _fields = ("items",)
    items: list[int]

    def __init__(self, items: list[int]) -> None:
        self._assign(items)


def test_frozen_record_equality_hash_repr_and_immutability() -> None:
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert len({Point(1, 2), Point(1, 2), Point(1)}) == 2
    assert repr(Point(1, 2)) == "Point(x=1, y=2)"
    p = Point(1)
    with pytest.raises(AttributeError, match="Point is immutable"):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError, match="Point is immutable"):
        del p.y  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.z = 1  # type: ignore[attr-defined]
    assert p.x == 1 and p.y == 0


def test_mutable_record_is_unhashable_and_compares_by_type() -> None:
    b = Box([1])
    b.items = [2]
    assert b == Box([2]) and b != Box([1])
    with pytest.raises(TypeError):
        hash(b)
    assert (Point(1, 2) == (1, 2)) is False  # not a tuple
    assert repr(b) == "Box(items=[2])"


def test_assign_refuses_a_wrong_number_of_values() -> None:
    with pytest.raises(ValueError):
        Point(1, 2)._assign(1, 2, 3)


def test_real_result_classes() -> None:
    r = AgentReply("hi", None)
    assert r == AgentReply("hi", None) and hash(r) == hash(AgentReply("hi", None))
    assert repr(r) == "AgentReply(text='hi', session_id=None)"
    s = SubmitResult("answered", response="x")
    assert s == SubmitResult("answered", "x") and s.conflicts == 0
    s.conflicts = 2
    assert "conflicts=2" in repr(s)
