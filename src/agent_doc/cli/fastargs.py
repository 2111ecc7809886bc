"""A tiny argument parser for the hotkey path, with argparse as the fallback.

Why: ``argparse`` costs start-up time (``bench/IMPORTS.md``; it imports ``gettext``,
``locale`` and — for its help formatter — ``shutil`` with ``bz2``/``lzma``), a quarter of what a
hotkey command like ``route`` may spend in total. A command's ``configure(parser)`` is first run
against :class:`RecordingParser`, which records the arguments; when the command line uses only
the simple forms below it is parsed here. Anything else — ``--help``, an unknown option, a
missing argument, ``--``, ``nargs``, groups — raises :class:`Unsupported` and the caller uses the
real argparse, so behaviour and error messages stay argparse's.

Supported: positional arguments (one value each), options taking one value (``--pane P``,
``--pane=P``, ``-p P``), ``store_true`` / ``store_false`` / ``append`` actions, an optional
positional (``nargs="?"``), mutually exclusive groups, ``default``, ``type``, ``choices``,
``dest``.
"""

from __future__ import annotations

from types import SimpleNamespace

TYPE_CHECKING = False  # `import typing` costs start-up time (bench/IMPORTS.md)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any


class Unsupported(Exception):
    """This command line (or parser) needs the real argparse."""


class _Arg:
    __slots__ = ("choices", "default", "dest", "flags", "group", "kind", "optional", "type")
    default: Any  # False/True, None, [] or what the parser declared

    def __init__(self, names: tuple[str, ...], kwargs: dict[str, Any], group: int = 0) -> None:
        allowed = {
            "help", "metavar", "default", "type", "choices", "dest", "action", "required", "nargs",
        }
        if set(kwargs) - allowed:
            raise Unsupported(f"argument options {sorted(set(kwargs) - allowed)}")
        action = kwargs.get("action", "store")
        if action not in ("store", "store_true", "store_false", "append"):
            raise Unsupported(f"action {action}")
        nargs = kwargs.get("nargs")
        self.group = group
        self.optional = False
        if nargs is not None:
            if nargs != "?" or (names and names[0].startswith("-")):
                raise Unsupported(f"nargs {nargs}")
            self.optional = True
        self.type = kwargs.get("type")
        self.choices = kwargs.get("choices")
        if names and names[0].startswith("-"):
            if kwargs.get("required"):
                raise Unsupported("required option")
            self.flags = names
            long = next((n for n in names if n.startswith("--")), names[0])
            self.dest = kwargs.get("dest") or long.lstrip("-").replace("-", "_")
            self.kind = action
            if action == "append":
                default = kwargs.get("default")
                if default not in (None, []):
                    raise Unsupported("append with a non-empty default")
                self.default = None if default is None else []
            elif action == "store_true":
                self.default = kwargs.get("default", False)
            elif action == "store_false":
                self.default = kwargs.get("default", True)
            else:
                self.default = kwargs.get("default")
        else:
            if len(names) != 1 or action != "store":
                raise Unsupported("positional form")
            if "default" in kwargs and not self.optional:
                raise Unsupported("positional default")
            self.flags = ()
            self.dest = kwargs.get("dest") or names[0]
            self.kind = "positional"
            self.default = kwargs.get("default")

    def convert(self, raw: str) -> Any:
        value = self.type(raw) if self.type is not None else raw
        if self.choices is not None and value not in self.choices:
            raise Unsupported("invalid choice")
        return value


class _Group:
    def __init__(self, parser: RecordingParser, number: int) -> None:
        self.parser, self.number = parser, number

    def add_argument(self, *names: str, **kwargs: Any) -> None:
        self.parser.args.append(_Arg(names, kwargs, self.number))


class RecordingParser:
    """Stands in for ``argparse.ArgumentParser`` inside ``configure``; records arguments."""

    def __init__(self) -> None:
        self.args: list[_Arg] = []
        self.groups = 0

    def add_argument(self, *names: str, **kwargs: Any) -> None:
        self.args.append(_Arg(names, kwargs))

    def add_mutually_exclusive_group(self, *, required: bool = False) -> _Group:
        if required:
            raise Unsupported("required group")
        self.groups += 1
        return _Group(self, self.groups)

    def __getattr__(self, name: str) -> Any:  # groups, subparsers, set_defaults, ...
        raise Unsupported(f"parser.{name}")

    def parse(self, argv: list[str]) -> SimpleNamespace:
        ns = SimpleNamespace(**{a.dest: a.default for a in self.args})
        options = {flag: a for a in self.args for flag in a.flags}
        positionals = [a for a in self.args if a.kind == "positional"]
        seen_groups: dict[int, str] = {}
        i = 0
        while i < len(argv):
            tok = argv[i]
            if tok.startswith("-") and tok != "-":
                name, eq, inline = tok.partition("=")
                arg = options.get(name)
                if arg is None:
                    raise Unsupported(f"option {tok}")
                if arg.group:
                    if seen_groups.get(arg.group, arg.dest) != arg.dest:
                        raise Unsupported("mutually exclusive options")  # argparse reports it
                    seen_groups[arg.group] = arg.dest
                if arg.kind == "store_true" or arg.kind == "store_false":
                    if eq:
                        raise Unsupported("value given to a flag")
                    setattr(ns, arg.dest, arg.kind == "store_true")
                else:
                    if eq:
                        value = inline
                    else:
                        i += 1
                        if i >= len(argv) or argv[i].startswith("-"):
                            raise Unsupported("option without value")
                        value = argv[i]
                    if arg.kind == "append":
                        current = getattr(ns, arg.dest)
                        setattr(ns, arg.dest, [*(current or []), arg.convert(value)])
                    else:
                        setattr(ns, arg.dest, arg.convert(value))
            else:
                if not positionals:
                    raise Unsupported("extra positional")
                arg = positionals.pop(0)
                setattr(ns, arg.dest, arg.convert(tok))
            i += 1
        if any(not a.optional for a in positionals):
            raise Unsupported("missing positional")
        return ns


def try_fast_parse(configure: Any, argv: list[str]) -> SimpleNamespace | None:
    """Parse ``argv`` for a command without argparse, or None when argparse is needed."""
    if any(a in ("-h", "--help", "--") for a in argv):
        return None
    parser = RecordingParser()
    try:
        configure(parser)
        return parser.parse(argv)
    except (Unsupported, ValueError, TypeError):
        return None
