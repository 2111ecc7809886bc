"""fastpath: every start-up trick of agent-doc and tmux-router, each with its fallback, and the
tracer (``AGENT_DOC_TRACE=1``).

Layer 1, the very bottom: imports only ``os`` and ``sys`` (and, lazily, what each function
needs). ``safefile``, ``procrun``, ``tmux_router`` and ``agent_doc`` may import it; it imports
none of them.

A hotkey command (``route``, ``claim``, ``focus``, ``prompt``, ``--version``; see
docs/ARCHITECTURE.md) must start in a few milliseconds, and several standard modules cost
milliseconds of import (``hashlib`` opens OpenSSL, ``signal`` builds enums, ``json`` pulls in
``re``, ``ctypes`` builds its type zoo). Their C cores are *private* modules whose names and
contents may change between Python versions — ``_sha256`` became ``_sha2`` in 3.12. So this
module is the one place that imports a private module, and each function here tries the fast
way first and falls back to the public module: a renamed or missing private module costs
start-up time, never correctness. What each module costs on this machine is measured, not
quoted in comments: ``bench/IMPORTS.md`` (``python bench/bench_startup.py --imports``).

The tricks:

* :func:`sha256` — ``_sha2`` (3.12+) → ``_sha256`` (3.11) → ``hashlib``;
* :func:`signal_module` — ``_signal`` → ``signal``;
* :func:`json_loads`, :func:`json_quote`, :func:`json_dumps` — the C scanner and string
  encoder of ``_json`` (and, for :func:`json_dumps`, ``json``'s indented layout written here) →
  ``json``;
* :func:`load_renameat2` — libc's ``renameat2`` through ``_ctypes`` → ``ctypes``;
* :func:`fast_exit` — ``os._exit`` once nothing can need the interpreter's shutdown, asked
  through ``atexit._ncallbacks`` → the normal shutdown.

Each ``_load_*`` function takes the module names to try, so the tests run both paths on every
interpreter (tests/test_fastpath.py).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # `import typing` costs start-up; its names are only needed by mypy
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

__all__ = [
    "TRACE",
    "describe_argv",
    "fast_exit",
    "json_dumps",
    "json_loads",
    "json_quote",
    "load_renameat2",
    "sha256",
    "signal_module",
    "trace",
    "trace_clock",
]


def _first_module(names: tuple[str, ...]) -> ModuleType | None:
    """The first of ``names`` that imports (``__import__``: ``importlib`` costs start-up)."""
    for name in names:
        try:
            __import__(name)
        except ImportError:
            continue
        return sys.modules[name]
    return None


# -- sha256 ---------------------------------------------------------------------------------

#: this interpreter's own name first: a failed import searches every ``sys.path`` folder
SHA256_MODULES = (("_sha2", "_sha256", "hashlib") if sys.version_info >= (3, 12)
                  else ("_sha256", "_sha2", "hashlib"))
_sha256_impl: Callable[..., Any] | None = None


def _load_sha256(names: tuple[str, ...] = SHA256_MODULES) -> Callable[..., Any]:
    """``sha256`` of the first module of ``names`` that has it (``hashlib`` always has)."""
    for name in names:
        module = _first_module((name,))
        if module is not None and hasattr(module, "sha256"):
            return module.sha256
    import hashlib

    return hashlib.sha256


def sha256(data: bytes = b"") -> Any:
    """A SHA-256 hash object of ``data`` (``.hexdigest()``, ``.update()``), as
    ``hashlib.sha256(data)`` returns, without importing ``hashlib`` where the builtin module
    exists."""
    global _sha256_impl
    if _sha256_impl is None:
        _sha256_impl = _load_sha256()
    return _sha256_impl(data)


# -- signal ---------------------------------------------------------------------------------

SIGNAL_MODULES = ("_signal", "signal")


def signal_module(names: tuple[str, ...] = SIGNAL_MODULES) -> Any:
    """``_signal`` (the C module ``signal`` wraps: same functions, plain ``int`` constants and
    no enums) or, without it, ``signal``."""
    module = _first_module(names)
    if module is None or not hasattr(module, "pthread_sigmask"):
        import signal

        return signal
    return module


# -- json -----------------------------------------------------------------------------------

_JSON_SPACE = " \t\n\r"
_scanner: Any = None  # None = not looked up yet; False = unavailable


def _make_scanner(names: tuple[str, ...] = ("_json",)) -> Any:
    """``_json``'s C scanner with the settings of ``json``'s default decoder, or False."""
    module = _first_module(names)
    if module is None:
        return False

    class _Context:  # the attributes json.decoder.JSONDecoder gives its scanner
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {
            "-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")
        }.__getitem__

    try:
        return module.make_scanner(_Context())
    except (AttributeError, TypeError):
        return False


def json_loads(text: str) -> object:
    """``json.loads(text)`` through the C scanner of ``_json`` directly.

    ``import json`` pulls in ``re`` (and ``enum``) for its number and whitespace patterns;
    reading the registry is the one JSON a hotkey ``route`` needs. The C scanner (what
    ``json.loads`` itself calls) is given the settings of the default decoder, and the
    whitespace around the value is checked here exactly as ``json`` does. Any failure —
    invalid JSON, an interpreter without ``_json`` — is handed to ``json.loads``, so errors and
    results are always json's own.
    """
    global _scanner
    if _scanner is None:
        _scanner = _make_scanner()
    if _scanner is not False and not text.startswith("\ufeff"):
        start = len(text) - len(text.lstrip(_JSON_SPACE))
        try:
            value, end = _scanner(text, start)
        except Exception:  # json.loads below raises json's own error for it
            pass
        else:
            if not text[end:].strip(_JSON_SPACE):
                return value
    import json

    return json.loads(text)


def _load_quote(names: tuple[str, ...] = ("_json",), ascii: bool = False) -> Callable[[str], str]:
    """``_json``'s C string encoder (``ascii``: the one escaping non-ASCII) or json's own."""
    module = _first_module(names)
    name = "encode_basestring_ascii" if ascii else "encode_basestring"
    quote = getattr(module, name, None) if module is not None else None
    if quote is None:
        from json import encoder

        return getattr(encoder, "py_" + name)
    return quote


_quote: Callable[[str], str] | None = None


def json_quote(text: str) -> str:
    """``text`` as a JSON string literal, non-ASCII kept (``json.dumps(text,
    ensure_ascii=False)``), by ``_json``'s C encoder; ``json``'s Python one without it."""
    global _quote
    if _quote is None:
        _quote = _load_quote()
    return _quote(text)


def _dumps(value: object, indent: int, quote: Callable[[str], str]) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=indent)`` for what JSON holds natively
    (dict with str keys, list, str, int, float, bool, None), written as ``json``'s own Python
    encoder does; ``TypeError`` for anything else (the caller hands that to ``json``)."""
    parts: list[str] = []
    add = parts.append

    def scalar(v: object) -> str | None:
        if isinstance(v, str):
            return quote(v)
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if type(v) is int:
            return int.__repr__(v)
        if type(v) is float:
            if v != v:
                return "NaN"
            if v in (float("inf"), float("-inf")):
                return "Infinity" if v > 0 else "-Infinity"
            return float.__repr__(v)
        return None

    def encode(v: object, level: int) -> None:
        text = scalar(v)
        if text is not None:
            add(text)
            return
        if type(v) is list:
            if not v:
                add("[]")
                return
            inner = "\n" + " " * (indent * (level + 1))
            add("[")
            for n, item in enumerate(v):
                add(inner if n == 0 else "," + inner)
                encode(item, level + 1)
            add("\n" + " " * (indent * level) + "]")
            return
        if type(v) is dict:
            if not v:
                add("{}")
                return
            inner = "\n" + " " * (indent * (level + 1))
            add("{")
            for n, (key, item) in enumerate(v.items()):
                if type(key) is not str:
                    raise TypeError("a key that is not a string")
                add((inner if n == 0 else "," + inner) + quote(key) + ": ")
                encode(item, level + 1)
            add("\n" + " " * (indent * level) + "}")
            return
        raise TypeError(f"not written here: {type(v).__name__}")

    encode(value, 0)
    return "".join(parts)


def _load_compact(names: tuple[str, ...] = ("_json",), ascii: bool = False) -> Any:
    """``value -> JSON`` by ``_json``'s C encoder with the settings ``json.dumps`` gives it
    without ``indent`` (separators ``", "`` and ``": "``, NaN allowed, cycles detected), or
    None without it."""
    module = _first_module(names)
    make = getattr(module, "make_encoder", None) if module is not None else None
    if make is None:
        return None
    quote = _load_quote(names, ascii)

    def default(value: object) -> object:  # what json.JSONEncoder.default raises
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")

    def compact(value: object) -> str:
        if isinstance(value, str):
            return quote(value)
        encode = make({}, default, quote, None, ": ", ", ", False, False, True)
        return "".join(encode(value, 0))

    return compact


_compact: dict[bool, Any] = {}


def json_dumps(value: object, indent: int | None = 1, ensure_ascii: bool = False) -> str:
    """``json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)`` (other arguments at
    their defaults), byte for byte, without importing ``json`` (it pulls in ``re``;
    bench/IMPORTS.md): without ``indent`` by ``_json``'s C encoder as ``json.dumps`` itself
    does; with it, strings by ``_json``'s C encoder (:func:`json_quote`) and the rest as
    ``json``'s Python encoder writes it (which is what ``json.dumps`` runs whenever ``indent``
    is given). A value holding anything but dicts with string keys, lists, strings, numbers,
    booleans and None, a cycle, or an interpreter without ``_json``: ``json.dumps`` itself, so
    results and errors are always json's."""
    try:
        if indent is None:
            if ensure_ascii not in _compact:
                _compact[ensure_ascii] = _load_compact(ascii=ensure_ascii)
            compact = _compact[ensure_ascii]
            if compact is not None:
                return compact(value)
        else:
            global _quote
            if ensure_ascii:
                return _dumps(value, indent, _load_quote(ascii=True))
            if _quote is None:
                _quote = _load_quote()
            return _dumps(value, indent, _quote)
    except (TypeError, ValueError, RecursionError):
        pass
    import json

    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)


# -- renameat2 ------------------------------------------------------------------------------


def load_renameat2(
    names: tuple[str, ...] = ("_ctypes",),
) -> tuple[Callable[..., int], Callable[[], int]] | None:
    """libc's ``renameat2`` as a callable ``(olddirfd, old, newdirfd, new, flags) -> int`` and
    the function reading its ``errno``; None where it does not exist (not Linux, old libc).

    Through the C module ``_ctypes`` rather than ``ctypes``: ``import ctypes`` builds its type
    zoo, ``struct`` and endianness helpers. All we need is one C function taking ints and byte
    strings and returning an ``int`` (the default result type of a ``CFuncPtr``), and its
    ``errno``. On an interpreter whose ``_ctypes`` lacks these, ``ctypes`` is used.
    """
    if not sys.platform.startswith("linux"):
        return None
    c: Any = _first_module(names)  # untyped on purpose: `_ctypes` has no stubs
    if c is not None:
        try:

            class _CFunction(c.CFuncPtr):
                _flags_ = c.FUNCFLAG_CDECL | c.FUNCFLAG_USE_ERRNO

            class _Libc:
                _handle = c.dlopen(None, os.RTLD_LOCAL)

            return _CFunction(("renameat2", _Libc())), c.get_errno
        except AttributeError as exc:  # renameat2 missing from libc (old glibc): unsupported
            if "renameat2" in str(exc):
                return None
        except (TypeError, OSError):
            pass
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).renameat2
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        fn.restype = ctypes.c_int
        return fn, ctypes.get_errno
    except (ImportError, OSError, AttributeError):
        return None


# -- fast exit ------------------------------------------------------------------------------


def _atexit_callbacks() -> int:
    """How many ``atexit`` callbacks are registered; 1 (= "some") when Python cannot say."""
    import atexit

    count = getattr(atexit, "_ncallbacks", None)  # private, but the only way to ask
    return 1 if count is None else int(count())


def fast_exit(rc: int) -> int:
    """End the process now with ``rc`` (``os._exit``) when nothing can still need the
    interpreter; otherwise return ``rc`` for the caller to exit normally.

    Python's own shutdown (tearing down the ~100 modules a command has imported) is paid by
    every hotkey command after its work is done. "Nothing can still need it" means: no other
    thread runs and no ``atexit`` callback is registered; otherwise (and when a flush fails, so
    that Python reports it) the normal shutdown runs. Files we write are closed (and fsynced)
    by the code that writes them, never left to the shutdown.
    """
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return rc
    if _atexit_callbacks():
        return rc
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return rc
    if TRACE:
        trace("exit", f"rc {rc}")
    os._exit(rc)


# -- tracing --------------------------------------------------------------------------------

#: ``AGENT_DOC_TRACE`` set to anything but "" or "0": every tmux command, agent run, git call
#: and lock wait is logged to stderr with its duration (what a bug report needs). Read once,
#: when this module is first imported; off, a trace point costs one attribute test.
TRACE: bool = os.environ.get("AGENT_DOC_TRACE", "") not in ("", "0")


def trace_clock() -> float:
    """The clock of :func:`trace` (``time.monotonic``)."""
    import time

    return time.monotonic()


def trace(kind: str, what: str, started: float | None = None, result: str = "") -> None:
    """Write one trace line to stderr::

        agent-doc trace 14:03:07.412 [pid 4242] tmux: tmux list-panes -a … -> rc 0 (2.3 ms)

    ``kind`` says what happened (``tmux``, ``agent``, ``git``, ``exec``, ``lock``, ``command``,
    ``exit``), ``what`` the details, ``started`` the :func:`trace_clock` reading when it began
    (the line then shows the duration), ``result`` how it ended. Never raises: a trace must
    not change what the traced code does.
    """
    import time

    now = time.time()
    line = (f"agent-doc trace {time.strftime('%H:%M:%S', time.localtime(now))}"
            f".{int(now * 1000) % 1000:03d} [pid {os.getpid()}] {kind}: {what}")
    if result:
        line += f" -> {result}"
    if started is not None:
        line += f" ({(time.monotonic() - started) * 1000:.1f} ms)"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def describe_argv(argv: list[str] | tuple[str, ...], limit: int = 300) -> str:
    """``argv`` as a readable command line for a trace (long arguments shortened)."""
    parts = []
    for arg in argv:
        if len(arg) > 80:
            arg = arg[:60] + f"…({len(arg)} chars)"
        parts.append(arg if arg and not any(c in arg for c in " \t\n'\"") else repr(arg))
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
