"""Trust: a project's own files may run programs only once the user has trusted it (SPEC A12).

A cloned repository is untrusted input. Its ``.agent-doc/config.toml`` and
``.agent-doc/components.toml`` may name programs to run, an HTTP endpoint to send documents to,
an environment variable whose value is sent as an API key, or environment variables to set.
Those settings — the *gated* ones, listed in :data:`AGENT_KEYS` and :data:`COMPONENT_KEYS` —
are inert until the user runs ``agent-doc trust [DIR]``, which records in the user's own state
folder the project root's real path and the SHA-256 of each of the two files (as
``direnv allow`` / ``mise trust`` do). A file that changes afterwards is untrusted again until
the next ``trust``. Every other setting (model names, timeouts, patch modes, …) runs nothing
and applies as before. The user's global config is always trusted.

The trust store is ``$XDG_STATE_HOME/agent-doc/trust.json`` (else
``~/.local/state/agent-doc/trust.json``)::

    {"version": 1,
     "projects": {"/real/path/of/root": {
         "trusted_at": "2026-01-01T12:00:00Z",
         "files": {"config.toml": "<sha256 hex>", "components.toml": null}}}}

``null`` records a file that did not exist when the project was trusted (a file created later
is untrusted). Several processes may run ``trust`` at once: every change is one
read-modify-write under ``trust.json.lock`` (:class:`safefile.FileLock`) written with
:func:`safefile.atomic_write`; readers take no lock (a reader sees the old or the new file).

This module is the model (layer 2): the store, the digests, which keys are gated and how to
say what they would do. The gates themselves sit where a setting is used: ``config.load_config``
and ``agents._from_config`` (agents), ``components.component_config`` (hooks), and
``routing._agent_command`` (the auto-started agent pane). It imports no heavy module at import
time (``json``, ``shlex`` and ``time`` only when used).
"""

from __future__ import annotations

import os

from agent_doc.errors import AgentDocError
from agent_doc.record import FrozenRecord
from fastpath import sha256 as _sha256  # the builtin module, not `hashlib` (bench/IMPORTS.md)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: the project files whose gated settings need trust, by their name under ``.agent-doc/``
FILES = ("config.toml", "components.toml")
#: keys of an ``[agents.NAME]`` table that run a program, pick an endpoint or an environment
#: variable, or set a process environment
AGENT_KEYS = ("command", "args", "base_url", "api_key_env", "env")
#: keys of a ``components.toml`` table that run a program (``sh -c``)
COMPONENT_KEYS = ("pre_patch", "post_patch")

STORE_VERSION = 1


class UntrustedError(AgentDocError):
    """A command needs a setting of a project the user has not trusted (or that changed)."""


class TrustStoreError(AgentDocError):
    """The user's trust store cannot be read or written."""


# -- where, and digests ----------------------------------------------------------------------


def state_dir() -> str:
    """``$XDG_STATE_HOME/agent-doc``, else ``~/.local/state/agent-doc`` (relative values of
    ``XDG_STATE_HOME`` are ignored, as the XDG spec says)."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        base = xdg
    else:
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "agent-doc")


def store_path() -> str:
    return os.path.join(state_dir(), "trust.json")


def digest(raw: bytes) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return _sha256(raw).hexdigest()


def canonical_root(root: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(root))


def project_file(root: str | os.PathLike[str], name: str) -> str:
    """``<root>/.agent-doc/<name>``."""
    return os.path.join(os.fspath(root), ".agent-doc", name)


def read_file(path: str) -> bytes | None:
    """The bytes of a project file; None when it does not exist (other errors propagate)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def trust_command(root: str | os.PathLike[str], *flags: str) -> str:
    """The exact command line that trusts (or, with flags, shows/revokes) ``root``."""
    import shlex

    return shlex.join(["agent-doc", "trust", *flags, os.fspath(root)])


# -- the store -------------------------------------------------------------------------------


def _corrupt(path: str, what: str) -> TrustStoreError:
    return TrustStoreError(
        f"{path}: the trust store is not valid ({what}); no project counts as trusted",
        hint=f"move it aside (`mv {path} {path}.bad`) and trust your projects again with "
        "`agent-doc trust DIR`",
    )


def load_store(path: str | None = None) -> dict[str, Any]:
    """The whole store; an empty one when the file does not exist."""
    path = path or store_path()
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return {"version": STORE_VERSION, "projects": {}}
    except IsADirectoryError:
        raise _corrupt(path, "it is a folder") from None
    except OSError as exc:
        raise TrustStoreError(
            f"{path}: cannot read the trust store: {exc.strerror or exc}",
            hint=f"check that {os.path.dirname(path)} is a folder you can read and write "
            "($XDG_STATE_HOME/agent-doc, else ~/.local/state/agent-doc); until then no project "
            "counts as trusted",
        ) from None
    import json

    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _corrupt(path, f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("projects"), dict):
        raise _corrupt(path, 'expected {"version": 1, "projects": {...}}')
    return data


def _entry(store: dict[str, Any], root: str) -> dict[str, Any] | None:
    entry = store["projects"].get(root)
    if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
        return None  # absent or malformed: not trusted
    return entry


def lookup(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record of ``root`` (``trusted_at``, ``files``), or None when it is not trusted."""
    return _entry(load_store(), canonical_root(root))


def _update(change: Any) -> Any:
    """Apply ``change(store) -> result`` to the store in one locked read-modify-write."""
    from safefile import FileLock, atomic_write

    path = store_path()
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise TrustStoreError(
            f"{folder}: cannot create the folder of the trust store: {exc.strerror or exc}",
            hint="check that your state folder ($XDG_STATE_HOME, else ~/.local/state) is "
            "writable",
        ) from None
    import json

    with FileLock(path + ".lock", what="trust store"):
        store = load_store(path)
        result = change(store)
        text = json.dumps(store, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            atomic_write(path, text, mode=0o600)
        except OSError as exc:
            raise TrustStoreError(
                f"{path}: cannot write the trust store: {exc.strerror or exc}",
                hint="free some space or fix the permissions of the folder, then run the "
                "command again (nothing was changed)",
            ) from None
    return result


def grant(root: str | os.PathLike[str], digests: dict[str, str | None]) -> dict[str, Any]:
    """Record ``root`` as trusted with these file digests (``FILES`` name → hex or None)."""
    import time

    key = canonical_root(root)
    entry = {
        "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {name: digests.get(name) for name in FILES},
    }

    def change(store: dict[str, Any]) -> None:
        store["version"] = STORE_VERSION
        store["projects"][key] = entry

    _update(change)
    return entry


def revoke(root: str | os.PathLike[str]) -> bool:
    """Forget ``root``; whether it was trusted."""
    key = canonical_root(root)

    def change(store: dict[str, Any]) -> bool:
        return store["projects"].pop(key, None) is not None

    if not os.path.exists(store_path()):
        return False
    return bool(_update(change))


# -- verdicts --------------------------------------------------------------------------------


class Verdict(FrozenRecord):
    """Whether the gated settings of one project file apply."""

    #: "trusted" | "untrusted" (never trusted, or revoked) | "changed" (since it was trusted)
    state: str
    trusted_at: str | None = None

    @property
    def trusted(self) -> bool:
        return self.state == "trusted"

    def reason(self, name: str) -> str:
        if self.state == "changed":
            return f"{name} changed since you trusted this project ({self.trusted_at})"
        return "this project is not trusted"


def check(root: str | os.PathLike[str], name: str, file_digest: str | None) -> Verdict:
    """The verdict for project file ``name`` of ``root`` whose bytes hash to ``file_digest``."""
    entry = lookup(root)
    if entry is None:
        return Verdict("untrusted")
    at = entry.get("trusted_at") if isinstance(entry.get("trusted_at"), str) else None
    if entry["files"].get(name) == file_digest:
        return Verdict("trusted", at)
    return Verdict("changed", at)


# -- gated settings and what they do ---------------------------------------------------------


def printable(text: str) -> str:
    """``text`` with control and bidirectional-override characters escaped, so a hostile
    value cannot hide itself (or rewrite the line) when it is printed in a terminal."""
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o < 0xA0 or 0x200B <= o <= 0x200F or 0x202A <= o <= 0x202E \
                or 0x2066 <= o <= 0x2069 or o == 0xFEFF:
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _show(value: object) -> str:
    import shlex

    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return printable(shlex.join(str(v) for v in value))
    if isinstance(value, dict):
        return printable(", ".join(f"{k}={v}" for k, v in value.items()))
    return printable(repr(value))


def action(kind: str, table: str, key: str, value: object) -> str:
    """What a gated setting would do, in words: ``"would run ..."`` (``trust --show``, errors)."""
    import shlex

    v = _show(value)
    if kind == "components":
        when = "before" if key == "pre_patch" else "after"
        cmd = printable(shlex.join(["sh", "-c", value if isinstance(value, str) else str(value)]))
        return f"would run `{cmd}` {when} each `patch` of component '{printable(table)}'"
    if key == "command":
        return f"would run the program `{v}` as agent '{printable(table)}'"
    if key == "args":
        return f"would run agent '{printable(table)}' with the arguments `{v}`"
    if key == "base_url":
        return f"would send your documents to {v}"
    if key == "api_key_env":
        return f"would send the value of your environment variable ${v} to the agent's endpoint"
    if key == "env":
        names = ", ".join(printable(str(k)) for k in value) if isinstance(value, dict) else v
        return f"would set the environment variable(s) {names} of agent '{printable(table)}'"
    return f"would set {key} = {v}"


def gated_settings(kind: str, data: dict[str, Any]) -> list[tuple[tuple[str, ...], object]]:
    """The gated settings present in a parsed file, as ``(dotted key, value)``, in file order.

    ``kind`` is ``"config"`` or ``"components"``. Tables of the wrong type are skipped (the
    file's own validation reports them).
    """
    found: list[tuple[tuple[str, ...], object]] = []
    if kind == "config":
        agents = data.get("agents")
        if isinstance(agents, dict):
            for name, table in agents.items():
                if isinstance(table, dict):
                    found += [(("agents", name, k), table[k]) for k in AGENT_KEYS if k in table]
    else:
        for name, table in data.items():
            if isinstance(table, dict):
                found += [((name, k), table[k]) for k in COMPONENT_KEYS if k in table]
    return found


class Blocked(FrozenRecord):
    """One gated setting that was not applied, and why (raised as :class:`UntrustedError`)."""

    root: str
    path: str
    line: int | None
    setting: str
    action: str
    verdict: Verdict

    def error(self, more: int = 0) -> UntrustedError:
        where = f"{self.path}:{self.line}" if self.line else self.path
        name = os.path.basename(self.path)
        also = f" (and {more} more in the same table)" if more else ""
        return UntrustedError(
            f"{where}: {self.setting} is not applied: {self.verdict.reason(name)}; "
            f"it {self.action}{also}",
            hint=f"see everything this project would run with "
            f"`{trust_command(self.root, '--show')}`; if you trust it, run "
            f"`{trust_command(self.root)}` (or remove the setting)",
        )


def raise_first(blocked: tuple[Blocked, ...] | list[Blocked], keys: tuple[str, ...] | None = None
                ) -> None:
    """Raise :class:`UntrustedError` for the first of ``blocked`` whose key is in ``keys``
    (all when None); do nothing when none is."""
    hits = [b for b in blocked if keys is None or b.setting.rsplit(" ", 1)[-1] in keys]
    if hits:
        raise hits[0].error(len(hits) - 1)
