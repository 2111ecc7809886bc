"""Agent configuration: the global and the project ``config.toml`` (SPEC A7, Part B §2.9).

Two files, read in this order, the second overriding the first key by key:

1. the global file, ``$XDG_CONFIG_HOME/agent-doc/config.toml`` (else ``~/.config/...``);
2. the project file, ``<root>/.agent-doc/config.toml``.

``default_agent`` is replaced as a whole; each ``[agents.NAME]`` table is merged key by key
(a project ``timeout`` for ``claude`` keeps the global ``command``; a project ``args`` replaces
the global ``args`` list entirely). Missing files give the defaults. Schema::

    default_agent = "claude"            # optional
    [agents.NAME]
    command = "claude"                  # program to run (claude and text protocols)
    args = ["-p", "--output-format", "json"]   # for `claude`: replaces the defaults entirely
    protocol = "claude"                 # "claude" (default) | "text" | "openai"
    base_url = "http://127.0.0.1:8080/v1"       # openai
    model = "..."                       # default model (--model and frontmatter win)
    api_key_env = "OPENAI_API_KEY"      # openai: env var holding the key
    timeout = 600                       # seconds; absent = no limit
    result_path = ".result"             # accepted and ignored (reference compatibility)
    session_path = ".session_id"        # accepted and ignored

Unknown keys inside an agent table are kept in :attr:`AgentConfig.extra`; unknown top-level
keys are ignored (a newer config stays readable).

Trust (SPEC A12, :mod:`agent_doc.trust`): the project file is untrusted input. Its keys that run
a program or pick an endpoint or an environment variable (``command``, ``args``, ``base_url``,
``api_key_env``, ``env``) are taken out of the merge unless the user trusted the project with
exactly these bytes (``agent-doc trust``); each one taken out is kept in
:attr:`AgentConfig.blocked`, and using that agent raises :class:`~agent_doc.trust.UntrustedError`
naming the file, the line and what it would run (``require_trusted``). The global file is always
trusted. :func:`project_trust` lists what a project would run, for ``trust --show`` and
``status``.

The config is loaded only by commands that need an agent (fixes C46: the reference loads it for
every command, so one typo broke ``diff`` and ``claim`` too). Every problem raises
:class:`ConfigError` naming ``file:line`` and saying how to fix it. ``tomllib`` (stdlib) gives
the line of syntax errors; for type errors it gives none, so :func:`locate` finds the line of a
key with a small scanner over the file's table headers and ``key =`` lines.
"""

from __future__ import annotations

import os
import re

from agent_doc.errors import AgentDocError
from agent_doc.record import FrozenRecord, Record

TYPE_CHECKING = False  # `import typing` costs ~5 ms of start-up
if TYPE_CHECKING:
    from typing import Any

    from agent_doc.trust import Blocked

PROTOCOLS = ("claude", "text", "openai")
#: keys of an agent table that we read; anything else goes to ``extra``
_STR_KEYS = ("command", "base_url", "model", "api_key_env")
_IGNORED_KEYS = ("result_path", "session_path")


class AgentConfig(FrozenRecord):
    """One ``[agents.NAME]`` table after the merge of the global and the project file."""

    __slots__ = _fields = (
        "name", "command", "args", "protocol", "base_url", "model", "api_key_env", "timeout",
        "extra", "source", "blocked",
    )
    name: str
    command: str | None
    args: list[str] | None
    protocol: str
    base_url: str | None
    model: str | None
    api_key_env: str | None
    timeout: float | None
    extra: dict[str, object]
    #: the last file that set a key of this table (for messages); None when built in code
    source: str | None
    #: settings of an untrusted project file that were not applied (SPEC A12, trust.py)
    blocked: tuple[Blocked, ...]

    def __init__(
        self,
        name: str,
        command: str | None = None,
        args: list[str] | None = None,
        protocol: str = "claude",
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str | None = None,
        timeout: float | None = None,
        extra: dict[str, object] | None = None,
        source: str | None = None,
        blocked: tuple[Blocked, ...] = (),
    ) -> None:
        self._assign(
            name,
            command,
            args,
            protocol,
            base_url,
            model,
            api_key_env,
            timeout,
            {} if extra is None else extra,
            source,
            blocked,
        )

    def require_trusted(self, keys: tuple[str, ...] | None = None) -> None:
        """Raise :class:`~agent_doc.trust.UntrustedError` if the project set one of ``keys``
        (all gated keys when None) in this table and the project is not trusted: its value
        was not applied, so using the table would run something other than what it says."""
        if self.blocked:
            from agent_doc.trust import raise_first

            raise_first(self.blocked, keys)


class Config(FrozenRecord):
    """The merged configuration."""

    __slots__ = _fields = ("default_agent", "agents", "sources", "searched")
    default_agent: str | None
    agents: dict[str, AgentConfig]
    #: files that existed and were read, global first
    sources: list[str]
    #: every file that was looked for (global, then project), existing or not: for hints
    searched: list[str]

    def __init__(
        self,
        default_agent: str | None,
        agents: dict[str, AgentConfig],
        sources: list[str],
        searched: list[str] | None = None,
    ) -> None:
        self._assign(default_agent, agents, sources, [] if searched is None else searched)

    def where_to_configure(self) -> str:
        """A human hint naming the config files, e.g. for "add [agents.NAME] in ..."."""
        paths = self.searched or [global_config_path()]
        if len(paths) == 1:
            return str(paths[0])
        return f"{paths[0]} (all projects) or {paths[1]} (this project)"


class ConfigError(AgentDocError):
    """An invalid config file: the message names ``file:line``, the hint says what to do."""


def global_config_path() -> str:
    """``$XDG_CONFIG_HOME/agent-doc/config.toml``, else ``~/.config/agent-doc/config.toml``."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):  # the XDG spec says relative values are ignored
        base = xdg
    else:
        base = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "agent-doc", "config.toml")


def project_config_path(project_root: str | os.PathLike[str]) -> str:
    from agent_doc.project import Project

    return Project(project_root).config_toml


def load_config(project_root: str | os.PathLike[str] | None) -> Config:
    """Read the global config, then the project config over it (see the module docstring)."""
    searched = [global_config_path()]
    if project_root is not None:
        searched.append(project_config_path(project_root))
    sources: list[str] = []
    default_agent: str | None = None
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    blocked: dict[str, list[Blocked]] = {}
    for index, path in enumerate(searched):
        data, raw = read_toml(path)
        if data is None:
            continue
        sources.append(path)
        layer_default, layer_agents = _validate(path, data)
        if layer_default is not None:
            default_agent = layer_default
        if index > 0 and project_root is not None:  # the project's own file (SPEC A12)
            _gate(project_root, path, raw, data, layer_agents, blocked)
        for name, table in layer_agents.items():
            merged.setdefault(name, {}).update(table)
            origin[name] = path
    agents = {
        name: _build_agent(name, table, origin[name], tuple(blocked.get(name, ())))
        for name, table in merged.items()
    }
    return Config(default_agent=default_agent, agents=agents, sources=sources, searched=searched)


def _gate(
    root: str | os.PathLike[str],
    path: str,
    raw: bytes | None,
    data: dict[str, Any],
    tables: dict[str, dict[str, Any]],
    blocked: dict[str, list[Blocked]],
) -> None:
    """Take the gated keys out of the project's agent ``tables`` unless the project is trusted
    with exactly these bytes; each one taken out is recorded in ``blocked`` (by agent)."""
    from agent_doc import trust

    gated = trust.gated_settings("config", data)
    if not gated:
        return  # nothing here runs anything: no trust needed, not even a look at the store
    verdict = trust.check(root, "config.toml", trust.digest(raw or b""))
    if verdict.trusted:
        return
    for dotted, value in gated:
        _agents, name, key = dotted
        tables[name].pop(key, None)
        blocked.setdefault(name, []).append(trust.Blocked(
            trust.canonical_root(root), path, locate(path, dotted),
            f"[agents.{trust.printable(_show_key(name))}] {key}",
            trust.action("config", name, key, value),
            verdict,
        ))


class TrustReport(Record):
    """What a project's own files would run, and whether it may (``trust --show``, ``status``).

    ``state`` is ``"trusted"`` (recorded, and every file as it was), ``"changed"`` (recorded,
    but a file differs: its settings are off) or ``"untrusted"``; ``settings`` lists every
    gated setting of the two files in file order, each a dict with ``file``, ``line``,
    ``setting``, ``action`` and ``applies``; ``digests`` are the SHA-256 of the bytes that
    were read (what ``trust`` records).
    """

    __slots__ = _fields = ("root", "state", "trusted_at", "files", "settings", "digests")
    root: str
    state: str
    trusted_at: str | None
    files: dict[str, str]
    settings: list[dict[str, Any]]
    digests: dict[str, str | None]

    def __init__(self, root: str, state: str, trusted_at: str | None, files: dict[str, str],
                 settings: list[dict[str, Any]], digests: dict[str, str | None]) -> None:
        self._assign(root, state, trusted_at, files, settings, digests)

    @property
    def needed(self) -> bool:
        """Whether the project's files set anything that needs trust."""
        return bool(self.settings)

    def as_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "state": self.state,
            "needed": self.needed,
            "trusted_at": self.trusted_at,
            "files": self.files,
            "settings": self.settings,
        }


def project_trust(root: str | os.PathLike[str]) -> TrustReport:
    """Read both project files once; list their gated settings and the trust verdict.

    An unreadable or invalid file raises :class:`ConfigError` naming it (``trust`` refuses to
    record a file it cannot read; ``status`` shows the error).
    """
    from agent_doc import trust

    real = trust.canonical_root(root)
    entry = trust.lookup(real)
    recorded = entry["files"] if entry is not None else {}
    files: dict[str, str] = {}
    digests: dict[str, str | None] = {}
    settings: list[dict[str, Any]] = []
    changed = False
    for name in trust.FILES:
        path = trust.project_file(real, name)
        kind = "config" if name == "config.toml" else "components"
        what = "the config file" if kind == "config" else "the component config"
        data, raw = read_toml(path, what=what)
        digests[name] = None if raw is None else trust.digest(raw)
        if raw is None:
            files[name] = "absent"  # a deleted file runs nothing
        elif entry is None:
            files[name] = "untrusted"
        elif recorded.get(name) == digests[name]:
            files[name] = "trusted"
        else:
            files[name] = "changed"
            changed = True
        for dotted, value in trust.gated_settings(kind, data or {}):
            table, key = dotted[-2], dotted[-1]
            shown = trust.printable(
                f"[agents.{_show_key(table)}]" if kind == "config" else f"[{_show_key(table)}]"
            )
            settings.append({
                "file": path,
                "line": locate(path, dotted),
                "setting": f"{shown} {key}",
                "action": trust.action(kind, table, key, value),
                "applies": files[name] == "trusted",
            })
    state = "untrusted" if entry is None else ("changed" if changed else "trusted")
    at = entry.get("trusted_at") if entry is not None else None
    return TrustReport(real, state, at if isinstance(at, str) else None, files, settings, digests)


# -- reading and validation ------------------------------------------------------------------


_TOML_HINT = (
    "fix that line (TOML syntax: https://toml.io), or move the file aside to use the "
    "defaults; only commands that call an agent read this file"
)


def read_toml_file(
    path: str | os.PathLike[str],
    *,
    error: type[AgentDocError] | None = None,
    what: str = "the config file",
    read_hint: str = "fix its permissions, or move it aside to use the defaults",
    toml_hint: str = _TOML_HINT,
) -> dict[str, Any] | None:
    """Parse a TOML file of ours (config, components); None when it does not exist.

    Every failure is ``error`` (default :class:`ConfigError`) naming the file and, where
    known, the line: unreadable, a folder, invalid UTF-8, invalid TOML.
    """
    return read_toml(path, error=error, what=what, read_hint=read_hint, toml_hint=toml_hint)[0]


def read_toml(
    path: str | os.PathLike[str],
    *,
    error: type[AgentDocError] | None = None,
    what: str = "the config file",
    read_hint: str = "fix its permissions, or move it aside to use the defaults",
    toml_hint: str = _TOML_HINT,
) -> tuple[dict[str, Any] | None, bytes | None]:
    """:func:`read_toml_file` that also returns the bytes it parsed (``(None, None)`` when the
    file does not exist): the trust check hashes exactly what was parsed."""
    err = error or ConfigError
    path = os.fspath(path)
    from safefile import read_bytes

    try:
        raw = read_bytes(path)  # a FIFO there is refused, never blocked on
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        raise err(
            f"{path}: is a folder, expected {what}", hint=f"remove or rename the folder {path}"
        ) from None
    except OSError as exc:
        raise err(f"{path}: cannot read {what}: {exc.strerror or exc}", hint=read_hint) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise err(
            f"{path}:{line}: {what} is not valid UTF-8 (byte {exc.start})",
            hint="save the file as UTF-8",
        ) from None
    import tomllib  # deferred: ~8 ms, only when the file exists

    try:
        return tomllib.loads(text), raw
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{path}:{m.group(1)}" if m else path
        detail = msg[: m.start()].rstrip() if m else msg
        col = f" (column {m.group(2)})" if m else ""
        raise err(f"{where}: invalid TOML: {detail}{col}", hint=toml_hint) from None


def _fail(path: str, dotted: tuple[str, ...], problem: str, hint: str) -> ConfigError:
    line = locate(path, dotted)
    where = f"{path}:{line}" if line else str(path)
    return ConfigError(f"{where}: {'.'.join(_show_key(k) for k in dotted)} {problem}", hint=hint)


def _show_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _validate(path: str, data: dict[str, Any]) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """Check the types of one file; return its ``default_agent`` and agent tables."""
    default = data.get("default_agent")
    if default is not None and (not isinstance(default, str) or not default.strip()):
        raise _fail(
            path, ("default_agent",), f"must be a non-empty string, not {_type_name(default)}",
            'write e.g. default_agent = "claude"',
        )
    agents = data.get("agents", {})
    if not isinstance(agents, dict):
        raise _fail(
            path, ("agents",), f"must be a table of agent tables, not {_type_name(agents)}",
            'write each agent as a table: [agents.NAME] followed by command = "..."',
        )
    out: dict[str, dict[str, Any]] = {}
    for name, table in agents.items():
        key = ("agents", name)
        if not isinstance(table, dict):
            raise _fail(
                path, key, f"must be a table, not {_type_name(table)}",
                f'write it as [agents.{_show_key(name)}] followed by command = "..."',
            )
        if name == "offline":
            raise _fail(
                path, key, "cannot be configured: `offline` is the built-in offline agent",
                "give your agent another name, e.g. [agents.my-agent]",
            )
        for k, v in table.items():
            _check_agent_key(path, (*key, k), k, v)
        out[name] = dict(table)
    return (default.strip() if isinstance(default, str) else None), out


def _check_agent_key(path: str, dotted: tuple[str, ...], key: str, value: object) -> None:
    if key in _STR_KEYS or key in _IGNORED_KEYS:
        if not isinstance(value, str) or (key != "model" and key in _STR_KEYS and not value):
            raise _fail(
                path, dotted, f"must be a non-empty string, not {_type_name(value)}",
                f'write it as {key} = "..."',
            )
    elif key == "args":
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise _fail(
                path, dotted, "must be an array of strings",
                'write it as args = ["-p", "--output-format", "json"]',
            )
    elif key == "protocol":
        if value not in PROTOCOLS:
            raise _fail(
                path, dotted, f"must be one of {', '.join(repr(p) for p in PROTOCOLS)}, "
                f"not {value!r}",
                'use protocol = "claude" (JSON like the claude CLI), "text" (stdout is the '
                'answer) or "openai" (chat completions over HTTP)',
            )
    elif key == "timeout" and (
        isinstance(value, bool) or not isinstance(value, int | float) or not value > 0
    ):
        raise _fail(
            path, dotted, f"must be a positive number of seconds, not {value!r}",
            "write e.g. timeout = 600, or remove the line for no limit",
        )


def _build_agent(
    name: str, table: dict[str, Any], source: str, blocked: tuple[Blocked, ...] = ()
) -> AgentConfig:
    extra = {
        k: v
        for k, v in table.items()
        if k not in (*_STR_KEYS, *_IGNORED_KEYS, "args", "protocol", "timeout")
    }
    timeout = table.get("timeout")
    return AgentConfig(
        name=name,
        command=table.get("command"),
        args=list(table["args"]) if "args" in table else None,
        protocol=table.get("protocol", "claude"),
        base_url=table.get("base_url"),
        model=table.get("model") or None,
        api_key_env=table.get("api_key_env"),
        # an infinite timeout is no limit
        timeout=float(timeout) if timeout is not None and timeout != float("inf") else None,
        extra=extra,
        source=source,
        blocked=blocked,
    )


# -- finding the line of a key ---------------------------------------------------------------

_PATTERN_TEXT = {
    "header": r"^\s*\[(?!\[)\s*(.+?)\s*\]\s*(?:#.*)?$",
    "array_header": r"^\s*\[\[",
    "keyval": (r"^\s*((?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')"
               r"(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*'))*)\s*="),
    "keypart": r"[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*'",
}
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _rx(name: str) -> re.Pattern[str]:
    """Compiled on first use: only error messages need them (each compile costs ~0.4 ms of
    every `run`'s start-up)."""
    pat = _PATTERNS.get(name)
    if pat is None:
        pat = _PATTERNS[name] = re.compile(_PATTERN_TEXT[name])
    return pat


def _split_key(text: str) -> tuple[str, ...]:
    parts = []
    for m in _rx("keypart").finditer(text):
        p = m.group(0)
        if p.startswith('"'):
            import json

            try:
                p = json.loads(p)
            except ValueError:
                p = p[1:-1]
        elif p.startswith("'"):
            p = p[1:-1]
        parts.append(p)
    return tuple(parts)


def locate(path: str | os.PathLike[str], dotted: tuple[str, ...]) -> int | None:
    """Line number (1-based) where the key ``dotted`` is set in ``path``, best effort.

    Tracks ``[table]`` headers and dotted ``a.b = ...`` keys. Falls back to the line of the
    closest enclosing table header, then to None (e.g. for inline tables).
    """
    from safefile import read_bytes

    try:
        lines = read_bytes(path).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    table: tuple[str, ...] = ()
    best: tuple[int, int] | None = None  # (matched length, line)
    for no, line in enumerate(lines, 1):
        if _rx("array_header").match(line):
            table = ("\0",)  # arrays of tables: nothing of ours lives there
            continue
        m = _rx("header").match(line)
        if m:
            table = _split_key(m.group(1))
            if table == dotted:
                return no
            if dotted[: len(table)] == table and (best is None or len(table) > best[0]):
                best = (len(table), no)
            continue
        m = _rx("keyval").match(line)
        if m:
            full = table + _split_key(m.group(1))
            if full == dotted:
                return no
            if dotted[: len(full)] == full and (best is None or len(full) > best[0]):
                best = (len(full), no)
    return best[1] if best else None


# -- [stream] (issue 16) ----------------------------------------------------------------------

#: ``[stream] interval`` bounds (seconds between two flushes of a streaming answer)
STREAM_INTERVAL_RANGE = (0.05, 5.0)


def stream_settings(project_root: str | os.PathLike[str] | None) -> tuple[bool, float]:
    """``(enabled, interval)`` from the ``[stream]`` table of the global, then the project
    config (key by key; not trust-gated: they run nothing). Defaults: on, 0.25 s."""
    from agent_doc.stream import DEFAULT_INTERVAL

    enabled, interval = True, DEFAULT_INTERVAL
    paths = [global_config_path()]
    if project_root is not None:
        paths.append(project_config_path(project_root))
    low, high = STREAM_INTERVAL_RANGE
    for path in paths:
        data, _raw = read_toml(path)
        if data is None or "stream" not in data:
            continue
        table = data["stream"]
        if not isinstance(table, dict):
            raise _fail(path, ("stream",), f"must be a table, not {_type_name(table)}",
                        "write [stream] on its own line, then enabled = true and interval = 0.25")
        if "enabled" in table:
            value = table["enabled"]
            if not isinstance(value, bool):
                raise _fail(path, ("stream", "enabled"),
                            f"must be true or false, not {_type_name(value)}",
                            "write enabled = true or enabled = false (no quotes)")
            enabled = value
        if "interval" in table:
            value = table["interval"]
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    low <= value <= high):
                shown = _type_name(value) if isinstance(value, bool) or not isinstance(
                    value, int | float) else str(value)
                raise _fail(path, ("stream", "interval"),
                            f"must be a number of seconds from {low} to {high}, not {shown}",
                            "write e.g. interval = 0.25")
            interval = float(value)
    return enabled, interval
