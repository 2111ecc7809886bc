"""Small value classes for the start-up paths: everything derived from the class annotations.

The one value-class style of agent-doc: on the start-up paths — what the hotkey commands
import (docs/ARCHITECTURE.md) and what ``run``/``write`` import (importing ``dataclasses``
would add its cost to every cycle, bench/IMPORTS.md) — :class:`Record` (mutable, unhashable)
or :class:`FrozenRecord` (immutable, hashable); ``@dataclass`` (frozen where values are)
everywhere else (watch-only code, sync, layout, components, outline). A subclass only annotates its
fields, in order, with keyword defaults where wanted::

    class Span(FrozenRecord):
        start: int
        end: int = -1

and gets, as from ``@dataclass``: ``__slots__`` (the fields it adds), ``_fields`` (all of them,
a base's first), ``__init__`` (positional or keyword, defaults filled in, a ``TypeError``
naming the class for a missing, unknown or doubled argument), ``__eq__`` (same type, same
field values), ``__repr__``, ``__match_args__``; :class:`FrozenRecord` also ``__hash__`` and
refuses attribute writes. ``ClassVar`` annotations are not fields. A default must be
immutable (a list, dict or set default is refused, as ``dataclasses`` refuses it): it is shared
by every instance. Methods and properties are written in the class as usual; a class may still
write its own ``__init__`` (it sets the fields with ``self._assign(...)``, in ``_fields``
order).

The older form — ``__slots__ = _fields = ("start", "end")`` plus a hand-written ``__init__`` —
still works: a class that declares ``__slots__`` itself is left as written.

Why not ``@dataclass`` or ``typing.NamedTuple`` here: importing ``dataclasses`` (it pulls in
``inspect``) and ``typing`` costs start-up time that every hotkey command would pay
(``bench/IMPORTS.md``), and each dataclass definition costs more (it compiles code). This
module imports nothing; a class costs one metaclass call, no ``exec``. Type checkers see the
generated ``__init__`` through ``typing.dataclass_transform`` (imported only for them).
The fields are read from the class body's ``__annotations__`` (CPython 3.11–3.13, tested;
on 3.14 a module without ``from __future__ import annotations`` has them evaluated).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, dataclass_transform
else:
    def dataclass_transform(**_kwargs: object) -> object:
        return lambda cls: cls

_MUTABLE_DEFAULTS = (list, dict, set, bytearray)


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))


class _RecordType(type):
    """The metaclass: derives ``__slots__``, ``_fields``, ``_defaults`` and ``__match_args__``
    from the annotations of a class body that does not declare ``__slots__`` itself."""

    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any],
                **kwargs: Any) -> _RecordType:
        if "__slots__" in ns:  # written by hand (the older form, or the bases below)
            return super().__new__(mcls, name, bases, ns, **kwargs)
        inherited: tuple[str, ...] = ()
        defaults: dict[str, object] = {}
        for base in reversed(bases):
            inherited += tuple(f for f in getattr(base, "_fields", ()) if f not in inherited)
            defaults.update(getattr(base, "_defaults", {}))
        own: list[str] = []
        annotations = ns.get("__annotations__")
        if annotations is None and callable(ns.get("__annotate__")):
            annotations = ns["__annotate__"](1)  # 3.14+ without the __future__ import (VALUE)
        for field, annotation in (annotations or {}).items():
            if _is_classvar(annotation) or field in inherited:
                continue
            own.append(field)
            if field in ns:  # a default: kept aside (a slot and a class attribute clash)
                value = ns.pop(field)
                if isinstance(value, _MUTABLE_DEFAULTS):
                    raise ValueError(f"{name}.{field}: mutable default {type(value).__name__} "
                                     "is not allowed (it would be shared by every instance)")
                defaults[field] = value
        fields = inherited + tuple(own)
        first_default = None
        for field in fields:
            if field in defaults:
                first_default = first_default or field
            elif first_default is not None:
                raise TypeError(f"{name}: field {field!r} without a default follows "
                                f"{first_default!r}, which has one")
        ns["__slots__"] = tuple(own)
        ns["_fields"] = fields
        ns["_defaults"] = defaults
        ns.setdefault("__match_args__", fields)
        return super().__new__(mcls, name, bases, ns, **kwargs)


class _RecordBase(metaclass=_RecordType):
    """What :class:`Record` and :class:`FrozenRecord` share (two siblings rather than one
    deriving from the other: a type checker's dataclass model refuses a frozen class derived
    from a mutable one)."""

    __slots__ = ()
    #: the field names in declaration order (derived, or set by hand with ``__slots__``)
    _fields: tuple[str, ...] = ()
    #: the keyword defaults (derived)
    _defaults: dict[str, object] = {}  # noqa: RUF012 - read-only, replaced per class

    def __init__(self, *args: object, **kwargs: object) -> None:
        fields = self._fields
        cls = type(self).__name__
        if len(args) > len(fields):
            raise TypeError(f"{cls}() takes {len(fields)} positional argument(s) but "
                            f"{len(args)} were given")
        values = dict(zip(fields, args, strict=False))  # fewer args: defaults below
        for key, value in kwargs.items():
            if key not in fields:
                raise TypeError(f"{cls}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{cls}() got multiple values for argument {key!r}")
            values[key] = value
        defaults = self._defaults
        setter = object.__setattr__
        for field in fields:
            if field in values:
                setter(self, field, values[field])
            elif field in defaults:
                setter(self, field, defaults[field])
            else:
                missing = [f for f in fields if f not in values and f not in defaults]
                raise TypeError(f"{cls}() missing required argument(s): {', '.join(missing)}")

    def _assign(self, *values: object) -> None:
        """Set the fields, in ``_fields`` order (for a hand-written ``__init__``; also frozen)."""
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _RecordBase)
        return self._key() == other._key()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"


@dataclass_transform(eq_default=True)
class Record(_RecordBase):
    """A mutable record: fields from the annotations; equality and ``repr`` over them; not
    hashable."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # mutable


@dataclass_transform(eq_default=True, frozen_default=True)
class FrozenRecord(_RecordBase):
    """An immutable, hashable record (hashable when its field values are)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __hash__(self) -> int:
        return hash(self._key())
