"""agent_doc.record: the dataclass replacement every result class uses."""

from __future__ import annotations

import pytest

from agent_doc.agents.base import AgentReply
from agent_doc.record import FrozenRecord, Record
from agent_doc.writeback import SubmitResult


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


# -- the annotation-derived form (issue 13: one value-class style) ----------------------------


class Span(FrozenRecord):
    start: int
    end: int = -1


class Labelled(Span):
    label: str = ""


class Bag(Record):
    name: str
    items: tuple[int, ...] = ()
    note: str | None = None


def test_fields_slots_init_from_annotations() -> None:
    assert Span._fields == ("start", "end") and Span.__slots__ == ("start", "end")
    assert Span(3) == Span(3, -1) == Span(start=3) == Span(end=-1, start=3)
    assert repr(Span(1, 2)) == "Span(start=1, end=2)"
    assert hash(Span(1, 2)) == hash(Span(1, 2)) and len({Span(1), Span(1), Span(2)}) == 2
    s = Span(1)
    with pytest.raises(AttributeError, match="Span is immutable"):
        s.start = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        s.other = 1  # type: ignore[attr-defined]  # slots: no __dict__
    assert not hasattr(s, "__dict__")
    b = Bag("x")
    assert (b.name, b.items, b.note) == ("x", (), None)
    b.note = "n"
    assert b == Bag("x", (), "n") and repr(b) == "Bag(name='x', items=(), note='n')"
    with pytest.raises(TypeError):
        hash(b)
    match Span(4, 5):
        case Span(a, e):
            assert (a, e) == (4, 5)


def test_inherited_fields_come_first() -> None:
    assert Labelled._fields == ("start", "end", "label") and Labelled.__slots__ == ("label",)
    x = Labelled(1, 2, "a")
    assert repr(x) == "Labelled(start=1, end=2, label='a')"
    assert x != Span(1, 2) and Labelled(1) == Labelled(1, -1, "")


def test_wrong_arguments_name_the_class() -> None:
    with pytest.raises(TypeError, match=r"Span\(\) missing required argument\(s\): start"):
        Span()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'stop'"):
        Span(1, stop=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'start'"):
        Span(1, start=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="takes 2 positional"):
        Span(1, 2, 3)  # type: ignore[call-arg]


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="mutable default list"):
        class Bad(Record):
            xs: list[int] = []  # noqa: RUF012
    with pytest.raises(TypeError, match="'b' without a default follows 'a'"):
        class Bad2(Record):
            a: int = 0
            b: int


def test_classvar_is_not_a_field() -> None:
    from typing import ClassVar

    class WithConst(FrozenRecord):
        LIMIT: ClassVar[int] = 3
        n: int

    assert WithConst._fields == ("n",) and WithConst.LIMIT == 3 and WithConst(1).n == 1
