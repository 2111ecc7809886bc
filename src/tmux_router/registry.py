"""The registry: a JSON map from a key (agent-doc: the session UUID) to pane information.

Format (Part B §2.4, kept for compatibility): a JSON object, pretty-printed with 2-space indent
and no trailing newline; each entry has ``pane``, ``pid``, ``cwd``, ``started``, ``file``,
``window``. Unknown fields and keys are preserved on rewrite; keys keep their order in the
file (new keys are appended, so output is deterministic), and each entry's fields are written
in the reference's order with unknown fields after them.

Concurrency (SPEC A4/A5):

* every read-modify-write is one :meth:`Registry.transaction` under the registry lock
  ``<registry>.lock`` (``sessions.json.lock`` — the reference's name, so both tools exclude
  each other), taken with the shared :class:`safefile.FileLock` (re-entrant per thread);
* writes go through :func:`safefile.atomic_write`, so unlocked readers never see a torn file;
* the file and its lock are state (:mod:`safefile.state`): never read or written through a
  link, nor through a linked folder below ``state_root`` (agent-doc: the project root), and
  the file is never more readable than ``state_root`` itself;
* an unparsable file is moved aside to ``<name>.corrupt-<UTC timestamp>`` with a warning and
  the registry starts empty — corrupt state is never silently destroyed;
* pruning is a pure function over one bulk liveness snapshot taken *before* the transaction; it
  removes entries whose pane is gone or whose pane no longer runs the process it was claimed
  with (``pid``). There is no dedup: several keys may share one pane.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping

from fastpath import json_loads as _json_loads  # without `json` and `re`
from fastpath import json_quote
from safefile import FileLock, atomic_write, read_bytes
from tmux_router.errors import TmuxRouterError

TYPE_CHECKING = False  # `typing` stays off the hot path (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any, TypeVar

    T = TypeVar("T")


Entry = dict[str, "Any"]
Entries = dict[str, Entry]

FIELD_ORDER = ("pane", "pid", "cwd", "started", "file", "window")


class RegistryError(TmuxRouterError):
    """The registry cannot be used (a corrupt file that could not be moved aside)."""


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def make_entry(
    pane: str, *, pid: int = 0, cwd: str = "", file: str = "", window: str = "", **extra: Any
) -> Entry:
    entry: Entry = {
        "pane": pane,
        "pid": int(pid),
        "cwd": cwd,
        "started": utc_now(),
        "file": file,
        "window": window,
    }
    entry.update(extra)
    return entry


def _ordered(entry: Entry) -> Entry:
    out: Entry = {k: entry[k] for k in FIELD_ORDER if k in entry}
    for k, v in entry.items():
        if k not in out:
            out[k] = v
    return out


def dumps(entries: Entries) -> str:
    """The registry text: pretty JSON, 2-space indent, fields in :data:`FIELD_ORDER` (unknown
    fields after them), no trailing newline — exactly ``json.dumps(..., indent=2,
    ensure_ascii=False)``.

    Entries of plain fields (strings, integers, booleans, null: every field we write) are
    rendered here with ``_json``'s C string encoder, the one ``json`` itself uses; anything
    else goes to ``json.dumps``. ``import json`` pulls in ``re`` and ``enum``, the largest part
    of a ``claim`` after the interpreter (bench/IMPORTS.md); property tests compare the two
    outputs.
    """
    ordered = {k: _ordered(v) for k, v in entries.items()}
    try:
        return _dumps_plain(ordered)
    except _NotPlain:
        import json

        return json.dumps(ordered, indent=2, ensure_ascii=False)


class _NotPlain(Exception):
    """A registry value :func:`_dumps_plain` leaves to ``json.dumps``."""


def _dumps_plain(entries: Entries) -> str:
    quote = json_quote  # the C string encoder of ``_json`` (see fastpath)
    if not entries:
        return "{}"
    blocks = []
    for key, entry in entries.items():
        if type(key) is not str or type(entry) is not dict:
            raise _NotPlain
        if not entry:
            blocks.append(f"  {quote(key)}: {{}}")
            continue
        fields = []
        for name, value in entry.items():
            if type(name) is not str:
                raise _NotPlain
            if type(value) is str:
                text = quote(value)
            elif value is None:
                text = "null"
            elif value is True:
                text = "true"
            elif value is False:
                text = "false"
            elif type(value) is int:
                text = int.__repr__(value)
            else:
                raise _NotPlain
            fields.append(f"    {quote(name)}: {text}")
        blocks.append(f"  {quote(key)}: {{\n" + ",\n".join(fields) + "\n  }")
    return "{\n" + ",\n".join(blocks) + "\n}"


def _fingerprint(entries: Entries) -> str:
    """An exact image of ``entries`` (keys, order and value types included) to detect
    changes: ``repr`` of JSON data (C speed, no ``json`` import); it runs twice per
    transaction while the registry lock is held."""
    return repr(entries)


def _pid_ancestors(pid: int, limit: int = 64) -> Iterator[int]:
    """``pid`` and its ancestors, read from /proc (Linux)."""
    seen = 0
    while pid > 1 and seen < limit:
        yield pid
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            return
        # the command name is in parentheses and may contain spaces
        rest = stat[stat.rfind(b")") + 2 :].split()
        try:
            pid = int(rest[1])
        except (IndexError, ValueError):
            return
        seen += 1


def identity_ok(entry: Mapping[str, Any], live: Mapping[str, int]) -> bool:
    """True if ``entry``'s pane is alive and still runs what it was claimed with.

    ``live`` maps each live pane id to its ``#{pane_pid}`` (one ``list-panes -a`` call). The
    entry's ``pid`` must be that pane pid, or a live process started inside the pane (``claim``
    records the agent in the pane's foreground; the reference's ``start`` stores the agent's
    own pid). A ``pid`` of 0, missing or not a number cannot be verified and never matches:
    such an entry would let anything that later gets the pane id receive keys.
    """
    pane = entry.get("pane")
    if not isinstance(pane, str) or pane not in live:
        return False
    pid = _entry_pid(entry)
    if pid <= 0:
        return False
    pane_pid = live[pane]
    if pid == pane_pid:
        return True
    return pane_pid in _pid_ancestors(pid)


def identity_pids(entry: Mapping[str, Any]) -> list[int]:
    """The pane pids that satisfy :func:`identity_ok` for ``entry`` — its ``pid`` and that
    process's ancestors — for a check made inside tmux; empty (nothing matches) when ``pid``
    is 0, missing or not a number."""
    pid = _entry_pid(entry)
    if pid <= 0:
        return []
    return [pid, *_pid_ancestors(pid)]


def _entry_pid(entry: Mapping[str, Any]) -> int:
    """The entry's ``pid`` as an int; 0 when it is missing or not a number."""
    try:
        return int(entry.get("pid") or 0)
    except (TypeError, ValueError):
        return 0


def prune_entries(entries: Entries, live: Mapping[str, int]) -> list[tuple[str, Entry]]:
    """Remove (in place) entries that fail :func:`identity_ok`; return what was removed."""
    removed = [(k, v) for k, v in entries.items() if not identity_ok(v, live)]
    for k, _ in removed:
        del entries[k]
    return removed




class Registry:
    """The registry file at ``path`` (agent-doc: ``<root>/.agent-doc/sessions.json``)."""

    def __init__(
        self, path: str | os.PathLike[str], *, lock_timeout: float | None = None,
        state_root: str | os.PathLike[str] | None = None,
    ):
        # plain str paths: `pathlib` stays off the hot path (bench/IMPORTS.md)
        self.path = os.fspath(path)
        self.lock_path = self.path + ".lock"
        self.lock_timeout = lock_timeout
        #: the trusted folder: nothing below it is followed (default: the registry's folder)
        self.state_root = (
            os.path.dirname(os.path.abspath(self.path)) if state_root is None
            else os.fspath(state_root)
        )

    def lock(self) -> FileLock:
        return FileLock(
            self.lock_path, timeout=self.lock_timeout, what="registry", state_root=self.state_root
        )

    def _read_raw(self) -> bytes:
        return read_bytes(self.path, state_root=self.state_root)

    # -- reading ------------------------------------------------------------------------------
    def _parse(self, raw: bytes) -> Entries:
        if not raw.strip():
            return {}
        data = _json_loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError("expected a JSON object of entry objects")
        return data

    def load(self) -> Entries:
        """Read the registry. No lock is needed to read: writes are atomic renames."""
        try:
            raw = self._read_raw()
        except FileNotFoundError:
            return {}
        try:
            return self._parse(raw)
        except (ValueError, UnicodeDecodeError):
            return self._recover_corrupt()

    def _recover_corrupt(self) -> Entries:
        with self.lock():
            try:
                raw = self._read_raw()
            except FileNotFoundError:
                return {}
            try:
                return self._parse(raw)  # repaired meanwhile by another process
            except (ValueError, UnicodeDecodeError) as exc:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                aside = f"{self.path}.corrupt-{stamp}"
                n = 1
                while os.path.exists(aside):
                    n += 1
                    aside = f"{self.path}.corrupt-{stamp}-{n}"
                try:
                    os.replace(self.path, aside)
                except OSError as err:
                    raise RegistryError(
                        f"registry {self.path} is not valid JSON ({exc}) and could not be moved "
                        f"aside to {aside} ({err.strerror}); move or delete it by hand"
                    ) from None
                print(
                    f"warning: registry {self.path} was not valid JSON ({exc}); moved it to "
                    f"{aside} and started with an empty registry — re-claim your documents",
                    file=sys.stderr,
                )
                return {}

    def get(self, key: str) -> Entry | None:
        return self.load().get(key)

    # -- writing ------------------------------------------------------------------------------
    def save(self, entries: Entries) -> None:
        """Write ``entries`` atomically. Call only inside :meth:`transaction`."""
        atomic_write(self.path, dumps(entries), make_parents=True, state_root=self.state_root)

    def transaction(self) -> _Transaction:
        """``with reg.transaction() as entries:`` — lock, load, give the mutable map, save if
        it changed. An exception saves nothing."""
        return _Transaction(self)

    def with_registry(self, fn: Callable[[Entries], T]) -> T:
        with self.transaction() as entries:
            return fn(entries)

    def prune(self, live: Mapping[str, int]) -> list[tuple[str, Entry]]:
        """Drop dead/reused panes in one transaction; ``live`` comes from one tmux call."""
        with self.transaction() as entries:
            return prune_entries(entries, live)


class _Transaction:
    """The context manager of :meth:`Registry.transaction` (a small class rather than
    ``@contextlib.contextmanager``, to keep ``contextlib`` off the hotkey path)."""

    __slots__ = ("_before", "_entries", "_lock", "_registry")

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock: FileLock | None = None
        self._entries: Entries = {}
        self._before = ""

    def __enter__(self) -> Entries:
        lock = self._registry.lock()
        lock.acquire()
        try:
            self._entries = self._registry.load()
            self._before = _fingerprint(self._entries)
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        return self._entries

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        lock, self._lock = self._lock, None
        try:
            if exc_type is None and _fingerprint(self._entries) != self._before:
                self._registry.save(self._entries)
        finally:
            if lock is not None:
                lock.release()
