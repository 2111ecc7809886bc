"""Components: named regions of a document that scripts update with ``agent-doc patch``.

A component is the text between ``<!-- agent:NAME -->`` and ``<!-- /agent:NAME -->`` (Part B
§7). This module holds the marker grammar, the three patch modes and the per-component
configuration read from ``<root>/.agent-doc/components.toml``.

**Grammar** (§7.1). Scan for ``<!--`` and the first ``-->`` after it; the trimmed inner text
``agent:NAME`` opens, ``/agent:NAME`` closes; any other comment is ignored. NAME must match
:data:`agent_doc.comments.VALID_NAME` (``[A-Za-z0-9][A-Za-z0-9-]*``; the name regex lives in
``comments`` and is imported here). Errors (invalid name, close without open, mismatched close,
unclosed open) raise :class:`ComponentError` naming the file and the line. Components nest;
duplicates are allowed and ``patch`` acts on the first. The open marker's end and the close
marker's end include one following line ending (``\\n`` or ``\\r\\n``). Departure from 0.9.6, as
the reference did in 0.9.10: markers inside fenced code blocks and inline code spans
(:class:`agent_doc.markdown.CodeIndex`) are text, so a document can *show* the syntax.

**Modes** (§7.2). ``replace`` (default), ``append``, ``prepend``; ``timestamp = true`` prefixes
the entry with ``[<UTC ISO-8601>] ``; ``max_entries`` trims append/prepend results to that many
non-empty lines (§7.3) — keeping the **last** lines in append mode and the **first** (newest)
lines in prepend mode (the reference keeps the last lines in both, dropping the entry it has
just prepended; §7.3 Rec.). Departures, all so that the close marker stays on its own line:

* append/prepend entries are lines: an entry without a final line ending gets one, and an
  append to content that does not end with a line ending starts on a new line (the reference
  glues ``line1`` + ``line2`` into ``line1line2<!-- /agent:x -->``);
* in replace mode, a *block* component (open marker ending its line, close marker starting
  one) keeps its close marker on its own line: a final line ending is added to a non-empty
  replacement that lacks one. Inline components (``a <!-- agent:x -->v<!-- /agent:x --> b``)
  are replaced byte for byte.

**Config** (§2.8 plus ours): per component table ``mode``, ``timestamp``, ``max_entries``,
``pre_patch``, ``post_patch``, and two keys of ours: ``trigger`` (bool, default false: with
true, ``patch`` leaves the snapshot alone so the watch daemon sends the change to the agent,
SPEC A10) and ``hook_timeout`` (seconds, default 30). Departure from the reference, which
silently ignores a broken file and treats an unknown mode as ``replace``: an unreadable or
invalid ``components.toml``, a wrong type or an unknown mode is an error naming the file and
the line (a silently ignored ``max_entries`` would let a log grow without bound). Unknown keys
are kept compatible: a warning, not an error. The hooks run programs, so they apply only once
the user has trusted the project (``agent-doc trust``, SPEC A12, :mod:`agent_doc.trust`).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_doc.comments import VALID_NAME
from agent_doc.errors import AgentDocError

if TYPE_CHECKING:
    from agent_doc.trust import Blocked

MODES = ("replace", "append", "prepend")
DEFAULT_HOOK_TIMEOUT = 30.0

_NAME_HINT = (
    "component names are ASCII letters, digits and '-', starting with a letter or digit "
    "(e.g. <!-- agent:status -->); a comment that is a note, not a marker, must not start "
    "with 'agent:'"
)


class ComponentError(AgentDocError):
    """A malformed marker, a missing component or a bad ``components.toml``."""


@dataclass(frozen=True)
class Component:
    """One component. Offsets index the text it was parsed from; ``content`` is
    ``text[open_end:close_start]``."""

    name: str
    open_start: int
    open_end: int
    close_start: int
    close_end: int
    content: str
    #: 1-based line numbers of the open and the close marker
    line: int
    close_line: int

    #: the open marker ends its line / the close marker starts one
    content_starts_line: bool = False
    close_starts_line: bool = False

    @property
    def is_block(self) -> bool:
        """Open marker ends its line and close marker starts one (content is whole lines)."""
        return self.content_starts_line and self.close_starts_line


def _where(path: str | os.PathLike[str] | None, line: int) -> str:
    return f"{os.fspath(path) if path is not None else '<document>'}:{line}"


def _eol_len(text: str, i: int) -> int:
    if text.startswith("\n", i):
        return 1
    if text.startswith("\r\n", i):
        return 2
    return 0


def _line_of(text: str, i: int) -> int:
    return text.count("\n", 0, i) + 1


def parse_components(
    text: str, path: str | os.PathLike[str] | None = None
) -> list[Component]:
    """All components of ``text``, sorted by open-marker position (outer before inner)."""
    i = text.find("<!--")
    if i == -1:
        return []
    from agent_doc.markdown import CodeIndex

    code = CodeIndex(text)
    stack: list[tuple[str, int, int, int]] = []  # name, open_start, open_end, line
    found: list[Component] = []
    while i != -1:
        code_end = code.end_of_code_at(i)
        if code_end >= 0:
            i = text.find("<!--", max(code_end, i + 1))
            continue
        close = text.find("-->", i + 4)
        if close == -1:
            break  # unterminated comment: no later "<!--" can be closed either
        end = close + 3
        inner = text[i + 4 : close].strip()
        if inner.startswith("/agent:") or inner.startswith("agent:"):
            closing = inner.startswith("/")
            name = inner[7:] if closing else inner[6:]
            line = _line_of(text, i)
            if VALID_NAME.match(name) is None:
                raise ComponentError(
                    f"{_where(path, line)}: invalid component name: '{name}'", hint=_NAME_HINT
                )
            if not closing:
                stack.append((name, i, end + _eol_len(text, end), line))
            else:
                if not stack:
                    raise ComponentError(
                        f"{_where(path, line)}: closing marker <!-- /agent:{name} --> without "
                        f"matching open",
                        hint=f"add <!-- agent:{name} --> before it, or delete the marker",
                    )
                open_name, o_start, o_end, o_line = stack.pop()
                if open_name != name:
                    raise ComponentError(
                        f"{_where(path, line)}: mismatched component: opened '{open_name}' "
                        f"(line {o_line}) but closed '{name}'",
                        hint=f"close <!-- agent:{open_name} --> with "
                        f"<!-- /agent:{open_name} --> before closing '{name}'",
                    )
                found.append(
                    Component(
                        name=name,
                        open_start=o_start,
                        open_end=o_end,
                        close_start=i,
                        close_end=end + _eol_len(text, end),
                        content=text[o_end:i],
                        line=o_line,
                        close_line=line,
                        content_starts_line=o_end > 0 and text[o_end - 1] == "\n",
                        close_starts_line=i == o_end or text[i - 1] == "\n",
                    )
                )
        i = text.find("<!--", end)
    if stack:
        name, _s, _e, line = stack[-1]
        raise ComponentError(
            f"{_where(path, line)}: unclosed component: <!-- agent:{name} --> without matching "
            f"close",
            hint=f"add <!-- /agent:{name} --> where the component ends",
        )
    found.sort(key=lambda c: c.open_start)
    return found


def find_component(
    text: str, name: str, path: str | os.PathLike[str] | None = None
) -> Component:
    """The first component called ``name``; :class:`ComponentError` if there is none."""
    comps = parse_components(text, path)
    for comp in comps:
        if comp.name == name:
            return comp
    where = os.fspath(path) if path is not None else "the document"
    names = sorted({c.name for c in comps})
    have = f"; it has: {', '.join(names)}" if names else "; it has no components"
    raise ComponentError(
        f"component '{name}' not found in {where}{have}",
        hint=f"add <!-- agent:{name} --> and <!-- /agent:{name} --> around the region to patch",
    )


def utc_stamp() -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (what the reference gets from ``date -u``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def trim_entries(content: str, max_entries: int, *, keep: str = "last") -> str:
    """Keep ``max_entries`` non-empty lines (§7.3): the ``last`` or the ``first`` ones.

    Under the limit the content is returned unchanged (blank lines included); over it, blank
    lines are dropped and a final ``\\n`` is kept only if the input had one.
    """
    if max_entries <= 0:
        return content
    lines = [ln for ln in content.split("\n") if ln != ""]
    if len(lines) <= max_entries:
        return content
    kept = lines[-max_entries:] if keep == "last" else lines[:max_entries]
    out = "\n".join(kept)
    return out + "\n" if content.endswith("\n") else out


def _as_line(entry: str, nl: str) -> str:
    return entry if entry == "" or entry.endswith("\n") else entry + nl


def new_content(
    comp: Component, entry: str, mode: str, *, max_entries: int = 0, nl: str = "\n"
) -> str:
    """The component's content after patching ``entry`` in with ``mode``."""
    if mode == "replace":
        if comp.is_block:
            return _as_line(entry, nl)
        return entry
    existing = comp.content
    line = _as_line(entry, nl)
    if mode == "append":
        sep = nl if existing and not existing.endswith("\n") else ""
        combined = existing + sep + line
        return trim_entries(combined, max_entries, keep="last")
    if mode == "prepend":
        combined = line + existing
        return trim_entries(combined, max_entries, keep="first")
    raise ComponentError(
        f"unknown patch mode '{mode}' for component '{comp.name}'",
        hint=f"use one of: {', '.join(MODES)}",
    )


def apply_patch(
    text: str,
    name: str,
    entry: str,
    mode: str,
    *,
    timestamp: bool,
    max_entries: int,
    path: str | os.PathLike[str] | None = None,
    stamp: str | None = None,
) -> str:
    """Return ``text`` with component ``name`` patched (markers kept byte-identical).

    ``stamp`` fixes the timestamp (so a document and its snapshot get the same entry); the
    current UTC time is used otherwise.
    """
    comp = find_component(text, name, path)
    if timestamp:
        entry = f"[{stamp or utc_stamp()}] {entry}"
    nl = "\r\n" if text[comp.open_end - 2 : comp.open_end] == "\r\n" else "\n"
    body = new_content(comp, entry, mode, max_entries=max_entries, nl=nl)
    return text[: comp.open_end] + body + text[comp.close_start :]


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentConfig:
    """The ``[NAME]`` table of ``components.toml`` (defaults when absent)."""

    mode: str = "replace"
    timestamp: bool = False
    max_entries: int = 0
    pre_patch: str | None = None
    post_patch: str | None = None
    trigger: bool = False
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    #: hooks of an untrusted project that were taken out (SPEC A12; see :func:`component_config`)
    blocked: tuple[Blocked, ...] = ()


_KNOWN_KEYS = {
    "mode",
    "timestamp",
    "max_entries",
    "pre_patch",
    "post_patch",
    "trigger",
    "hook_timeout",
}


def _config_error(path: Path, dotted: tuple[str, ...], problem: str, hint: str) -> ComponentError:
    from agent_doc.config import locate

    line = locate(path, dotted)
    where = f"{path}:{line}" if line else str(path)
    return ComponentError(f"{where}: {problem}", hint=hint)


def _read_components_toml(path: Path) -> tuple[dict[str, Any], bytes | None]:
    from agent_doc.config import read_toml

    data, raw = read_toml(
        path,
        error=ComponentError,
        what="the component config",
        read_hint="fix its permissions, or move it aside to patch with the defaults",
        toml_hint="fix that line (TOML syntax: https://toml.io); the document was not changed",
    )
    return ({} if data is None else data), raw


def _gate_hooks(path: Path, raw: bytes | None, data: dict[str, Any]) -> dict[str, list[Blocked]]:
    """The hooks of ``data`` that must not run, by component: all of them unless the project
    is trusted with exactly these bytes (SPEC A12). ``path`` is
    ``<root>/.agent-doc/components.toml``."""
    from agent_doc import trust

    gated = trust.gated_settings("components", data)
    if not gated:
        return {}
    root = trust.canonical_root(os.path.dirname(os.path.dirname(os.path.abspath(path))))
    verdict = trust.check(root, "components.toml", trust.digest(raw or b""))
    if verdict.trusted:
        return {}
    from agent_doc.config import locate

    blocked: dict[str, list[Blocked]] = {}
    for (name, key), value in gated:
        blocked.setdefault(name, []).append(trust.Blocked(
            root, str(path), locate(path, (name, key)), f"[{trust.printable(name)}] {key}",
            trust.action("components", name, key, value), verdict,
        ))
    return blocked


def _build_config(path: Path, name: str, table: dict[str, Any]) -> ComponentConfig:
    def bad(key: str, problem: str, hint: str) -> ComponentError:
        return _config_error(path, (name, key), f"[{name}] {key} {problem}", hint)

    for key in table:
        if key not in _KNOWN_KEYS:
            from agent_doc.config import locate

            line = locate(path, (name, key))
            where = f"{path}:{line}" if line else str(path)
            print(
                f"agent-doc: warning: {where}: unknown key '{key}' in [{name}] is ignored "
                f"(known: {', '.join(sorted(_KNOWN_KEYS))})",
                file=sys.stderr,
            )
    mode = table.get("mode", "replace")
    if not isinstance(mode, str) or mode not in MODES:
        raise bad("mode", f"must be one of {', '.join(MODES)} (got {mode!r})",
                  'write e.g. mode = "append"')
    flags: dict[str, bool] = {}
    for key in ("timestamp", "trigger"):
        v = table.get(key, False)
        if not isinstance(v, bool):
            raise bad(key, f"must be true or false (got {v!r})", f"write {key} = true")
        flags[key] = v
    max_entries = table.get("max_entries", 0)
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 0:
        raise bad("max_entries", f"must be a whole number >= 0 (got {max_entries!r})",
                  "write e.g. max_entries = 100 (0 = unlimited)")
    hooks: dict[str, str | None] = {}
    for key in ("pre_patch", "post_patch"):
        v = table.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise bad(key, f"must be a non-empty shell command string (got {v!r})",
                      f'write e.g. {key} = "tr a-z A-Z"')
        hooks[key] = v
    timeout = table.get("hook_timeout", DEFAULT_HOOK_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise bad("hook_timeout", f"must be a number of seconds > 0 (got {timeout!r})",
                  "write e.g. hook_timeout = 30")
    return ComponentConfig(
        mode=mode,
        timestamp=flags["timestamp"],
        max_entries=max_entries,
        pre_patch=hooks["pre_patch"],
        post_patch=hooks["post_patch"],
        trigger=flags["trigger"],
        hook_timeout=float(timeout),
    )


def load_component_configs(path: str | os.PathLike[str]) -> dict[str, ComponentConfig]:
    """Every table of ``components.toml`` at ``path`` (an empty map when it does not exist)."""
    p = Path(path)
    data, raw = _read_components_toml(p)
    for name, table in data.items():
        if not isinstance(table, dict):
            raise _config_error(
                p, (name,), f"'{name}' must be a table of settings, got {table!r}",
                f'write it as a table:\n  [{name}]\n  mode = "append"',
            )
    out = {name: _build_config(p, name, table) for name, table in data.items()}
    for name, blocked in _gate_hooks(p, raw, data).items():  # validated first, then gated
        from dataclasses import replace

        keys = {b.setting.rsplit(" ", 1)[-1] for b in blocked}
        off: dict[str, Any] = dict.fromkeys(keys)  # the gated hooks: None = not run
        out[name] = replace(out[name], blocked=tuple(blocked), **off)
    return out


def component_config(components_toml: str | os.PathLike[str], name: str) -> ComponentConfig:
    """The configuration of component ``name`` (defaults when it has no table).

    A ``pre_patch``/``post_patch`` hook of an untrusted project (or one changed since it was
    trusted) raises :class:`~agent_doc.trust.UntrustedError` naming the file, the line and the
    command, before anything is changed: the patch would not be what the project asks for
    (SPEC A12). Hooks of other components do not matter.
    """
    cfg = load_component_configs(components_toml).get(name, ComponentConfig())
    if cfg.blocked:
        from agent_doc.trust import raise_first

        raise_first(cfg.blocked)
    return cfg
