"""The tmux side of agent-doc: claim, route, start, focus, layout, sync and resync.

The CLI modules (``agent_doc/cli/claim.py`` …) only parse arguments and print; the decisions
live here. Every tmux call goes through :class:`tmux_router.tmux.Tmux` (SPEC A8, C32), every
registry change is one :meth:`tmux_router.registry.Registry.transaction` (A4), every
frontmatter change is a surgical edit under the document lock (A4/A5).

Rules shared by all commands (SPEC A4/A8, hazards of Part B §10):

* **Liveness from one call, taken before the registry transaction** (C25): one
  ``list-panes -a`` gives every pane with its ``#{pane_pid}``; nothing spawns tmux while the
  registry lock is held.
* **Identity, not just existence** (C29): an entry is usable only if its pane exists *and*
  still runs the process it was claimed with (``identity_ok``), so after a tmux restart that
  reuses pane ids nothing is typed into an unrelated pane.
* **Safe pruning**: a liveness snapshot says nothing about panes created after it. Pruning
  therefore only removes entries that were already in the registry when it was read *before*
  the snapshot (same key, pane, pid and start time); an entry registered meanwhile by another
  process (for a pane our snapshot could not know) is never removed on stale evidence.
* **No dedup by pane** (C23, use case U6): several documents may share one pane.
* **Fail before touching state** when tmux is missing or no server runs (the liveness call is
  made before any document or registry write) — except ``route``, which, as the reference
  does, first gives the document its session UUID and, with no server, starts one.
* **Type only into a live agent** (SPEC A14): ``route`` types only while the registered
  process is alive and in its pane's foreground and the pane is not at a shell prompt;
  ``claim`` records the program in the pane's foreground, not the shell.
* **Entries outside the project** (``file`` not under the root, SPEC A13) are ignored by
  ``route``, ``sync`` and ``claim`` and removed by ``resync``.
* **Deterministic choices** (C28): ties are broken by explicit keys, never by hash order.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from agent_doc.errors import AgentDocError, FileNotFound
from agent_doc.project import Project, doc_realpath
from agent_doc.record import Record

TYPE_CHECKING = False  # `import typing` costs ~3 ms of start-up on hot commands

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

    from tmux_router.registry import Entries, Entry
    from tmux_router.tmux import Pane, Tmux


Say = Callable[[str], None]

AGENT_SESSION = "claude"
POSITIONS = ("left", "right", "top", "bottom")
SOCKET_ENV = "AGENT_DOC_TMUX_SOCKET"
NO_AUTOSTART_ENV = "AGENT_DOC_NO_AUTOSTART"


def _control_char(text: str) -> str | None:
    """The first C0/C1 control character (or U+2028/U+2029) in ``text``, if any.

    A loop, not a regular expression: this runs once per route, and importing/compiling
    ``re`` patterns is the larger cost of a hot command's start-up.
    """
    for ch in text:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029):
            return ch
    return None


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def short(session: str) -> str:
    """The first 8 characters of a session id, safe for any length (fixes C47)."""
    return session[:8]


# -- the tmux handle and its errors -------------------------------------------------------------


def open_tmux(socket: str | None = None) -> Tmux:
    """The tmux server to talk to: ``socket`` (``--socket-name``), else ``$AGENT_DOC_TMUX_SOCKET``,
    else the one tmux itself would use (``$TMUX``, else ``$TMUX_TMPDIR``). A value with a ``/``
    is a socket path (``-S``), anything else a socket name (``-L``)."""
    from tmux_router.tmux import Tmux

    value = socket or os.environ.get(SOCKET_ENV) or None
    if value and "/" in value:
        return Tmux(socket_path=value)
    return Tmux(socket_name=value)


class tmux_errors:
    """Turn tmux wrapper errors into user-facing :class:`AgentDocError` (message + hint).

    A small class rather than ``@contextlib.contextmanager``, to keep ``contextlib`` off the
    hotkey path."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            return
        from tmux_router.tmux import NoServer, TmuxError, TmuxNotInstalled

        if isinstance(exc, TmuxNotInstalled):
            raise AgentDocError(
                "tmux is not installed (no `tmux` on PATH); nothing was changed",
                hint="install tmux (e.g. `apt-get install tmux` or `brew install tmux`) and "
                "retry",
            ) from None
        if isinstance(exc, NoServer):
            raise AgentDocError(
                "no tmux server is running; nothing was changed",
                hint="start tmux first (e.g. `tmux new -s work`), or select a server with "
                f"--socket-name / ${SOCKET_ENV}",
            ) from None
        if isinstance(exc, TmuxError):
            raise AgentDocError(f"tmux failed: {exc}",
                                hint="check the tmux server and retry") from None


def panes_snapshot(tmux: Tmux) -> list[Pane]:
    """Every pane of the server from ONE ``list-panes -a`` call; raises if no server runs."""
    from tmux_router.tmux import NoServer

    panes = tmux.list_panes()
    if not panes and not tmux.server_running():
        raise NoServer()
    return panes


def live_map(panes: list[Pane]) -> dict[str, int]:
    """Live pane id → ``#{pane_pid}`` (the ``live`` argument of the registry functions)."""
    return {p.id: p.pid for p in panes if not p.dead}


# -- registry helpers ---------------------------------------------------------------------------


def _registry(project: Project) -> Any:
    from tmux_router.registry import Registry

    return Registry(project.registry_path, state_root=project.root)


def _same_entry(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("pane", "pid", "started"))


def prune_known(
    entries: Entries, before: Mapping[str, Entry], live: Mapping[str, int]
) -> list[tuple[str, Entry]]:
    """Remove (in place) entries that fail the identity check, but only those that were
    already present, unchanged, in ``before`` (read before the liveness snapshot ``live``).

    Returns the removed ``(key, entry)`` pairs in registry order.
    """
    from tmux_router.registry import prune_entries

    candidates = {
        k: v for k, v in entries.items() if k in before and _same_entry(before[k], v)
    }
    removed = prune_entries(candidates, live)
    for key, _ in removed:
        entries.pop(key, None)
    return removed


def _new_entry(
    old: Mapping[str, Any] | None, pane: Pane, *, pid: int, project: Project, rel: str
) -> Entry:
    """A registry entry for ``pane``; unknown fields of the entry it replaces are kept."""
    from tmux_router.registry import make_entry

    entry = make_entry(pane.id, pid=pid, cwd=str(project.root), file=rel, window=pane.window)
    if old:
        merged = {k: v for k, v in old.items() if k not in entry}
        merged.update(entry)
        return merged
    return entry


def _label(entry: Mapping[str, Any], key: str) -> str:
    f = entry.get("file")
    return f if isinstance(f, str) and f else key


def _same_document(project: Project, entry: Mapping[str, Any], real: str) -> bool:
    stored = entry.get("file")
    if not isinstance(stored, str) or not stored:
        return False
    try:
        return doc_realpath(project.resolve(stored)) == real
    except OSError:
        return False


# -- documents ----------------------------------------------------------------------------------


def _check_exists(doc: str) -> None:
    if not os.path.exists(doc):
        raise FileNotFound(doc)
    if os.path.isdir(doc):
        raise AgentDocError(f"{doc} is a folder, not a document", hint="pass a Markdown file")


def _ensure_uuid(doc: str, say: Say) -> tuple[str, bool]:
    from agent_doc.document import ensure_session_file

    sid, generated = ensure_session_file(doc)
    if generated:
        say(f"Generated session UUID: {sid}")
    return sid, generated


def _read_session(doc: str) -> str | None:
    """The document's session UUID without writing anything (focus, layout, prompt)."""
    from agent_doc.document import read_document

    return read_document(doc).session


def _agent_command(project: Project) -> str:
    """The program started in a new agent pane: ``[agents.claude] command``, else ``claude``,
    resolved on *our* PATH (the tmux server's environment may be older than ours)."""
    import shutil

    command = "claude"
    try:
        from agent_doc.config import load_config
    except ImportError:  # the config module is optional for these commands
        load_config = None  # type: ignore[assignment]
    if load_config is not None:
        agent = load_config(project.root).agents.get(AGENT_SESSION)
        if agent is not None:
            agent.require_trusted(("command",))  # never an untrusted project's program
        if agent is not None and agent.command:
            command = agent.command
    found = shutil.which(command)
    if not found:
        raise AgentDocError(
            f"cannot start the agent: `{command}` was not found on PATH",
            hint="install Claude Code, or set `command` under [agents.claude] in "
            "~/.config/agent-doc/config.toml",
        )
    return found


# -- claim --------------------------------------------------------------------------------------


class ClaimResult(Record):
    __slots__ = _fields = (
        "file",
        "generated",
        "pane",
        "rel",
        "removed",
        "session",
        "tmux_session",
        "tmux_session_changed",
        "warnings",
        "window",
    )

    def __init__(
        self,
        file: str,
        rel: str,
        session: str,
        generated: bool,
        pane: str,
        window: str,
        tmux_session: str | None,
        tmux_session_changed: bool,
        removed: list[tuple[str, dict[str, Any]]] | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.file = file  # as typed
        self.rel = rel  # the registry's `file` value (relative to the root)
        self.session = session
        self.generated = generated
        self.pane = pane
        self.window = window
        self.tmux_session = tmux_session
        self.tmux_session_changed = tmux_session_changed
        self.removed = removed if removed is not None else []
        self.warnings = warnings if warnings is not None else []

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.rel,
            "session_id": self.session,
            "pane": self.pane,
            "window": self.window,
            "tmux_session": self.tmux_session,
            "removed": [{"session_id": k, "pane": e.get("pane")} for k, e in self.removed],
        }


def pick_by_position(panes: list[Pane], position: str) -> Pane:
    """The pane at ``position`` (left/right/top/bottom); ties broken deterministically."""
    if position not in POSITIONS:
        raise AgentDocError(
            f"invalid position '{position}' — use left, right, top, or bottom",
            hint="e.g. `agent-doc claim FILE --position left`",
        )
    if len(panes) == 1:
        return panes[0]

    def num(p: Pane) -> int:
        try:
            return int(p.id.lstrip("%"))
        except ValueError:
            return 0

    keys: dict[str, Callable[[Pane], tuple[int, ...]]] = {
        "left": lambda p: (p.left, p.top, num(p)),
        "right": lambda p: (-(p.left + p.width), p.top, num(p)),
        "top": lambda p: (p.top, p.left, num(p)),
        "bottom": lambda p: (-(p.top + p.height), p.left, num(p)),
    }
    return min(panes, key=keys[position])


def _window_fallback(
    entries: Mapping[str, Entry], panes: list[Pane], live: Mapping[str, int]
) -> str | None:
    """The window of the most recently started live entry of this project.

    ``started`` has one-second resolution; ties go to the entry written later in the file (new
    keys are appended), so the choice never depends on hash order (C28). The window is the
    pane's *actual* window from the snapshot, not the possibly stale stored one (C26).

    A deliberate departure from the reference, which falls back to tmux's current window once
    the recorded windows are stale: seen from outside tmux (an editor plugin) the "current
    window" is that of whichever session tmux used last, often another project's, while the
    project's own most recently registered live agent pane is where its documents live. Only
    when no entry of the project has a live pane does ``claim`` use tmux's current window.
    """
    from tmux_router.registry import identity_ok

    by_id = {p.id: p for p in panes}
    best: tuple[str, int, str] | None = None
    for position, entry in enumerate(entries.values()):
        if not identity_ok(entry, live):
            continue
        pane = by_id.get(str(entry.get("pane")))
        if pane is None:
            continue
        cand = (str(entry.get("started") or ""), position, pane.window)
        if best is None or cand[:2] > best[:2]:
            best = cand
    return best[2] if best else None


def claim_document(
    doc: str,
    *,
    pane: str | None = None,
    position: str | None = None,
    window: str | None = None,
    tmux: Tmux,
    say: Say = _stderr,
) -> ClaimResult:
    """Bind ``doc`` to a tmux pane (Part B §5.8 with the fixes of SPEC A4/A8)."""
    from safefile import append_line
    from tmux_router.procs import agent_of_pane
    from tmux_router.tmux import TmuxError

    _check_exists(doc)
    if position is not None and position not in POSITIONS:
        pick_by_position([], position)  # raises the usage message
    project = Project.for_document(doc)
    registry = _registry(project)
    before = registry.load()
    panes = panes_snapshot(tmux)  # the ONE liveness call, before any write
    live = live_map(panes)
    by_id = {p.id: p for p in panes if not p.dead}
    warnings: list[str] = []

    # effective window
    eff_window: str | None = None
    if window:
        if any(p.window == window for p in by_id.values()):
            eff_window = window
        else:
            say(f"warning: window {window} is dead, searching for alive window")
            eff_window = _window_fallback(
                {k: v for k, v in before.items() if in_project(project, v)}, panes, live
            )
            if eff_window:
                say(f"found alive window {eff_window} from registry")

    # the pane
    if pane:
        chosen = by_id.get(pane)
        if chosen is None:
            raise AgentDocError(
                f"pane {pane} is not alive (no such pane in tmux); {doc} was not claimed",
                hint="list the panes with `tmux list-panes -a -F '#{pane_id} #{pane_title}'`",
            )
    elif position:
        target_window = eff_window
        if target_window is None:
            current = tmux.current_pane()
            cur = by_id.get(current or "")
            target_window = cur.window if cur else None
        candidates = [p for p in by_id.values() if p.window == target_window]
        if not candidates:
            raise AgentDocError(
                f"no panes found in window {target_window or '(current)'} to claim {doc}",
                hint="pass --window @N or --pane %N",
            )
        chosen = pick_by_position(candidates, position)
    else:
        current = tmux.current_pane()
        chosen = by_id.get(current or "")
        if chosen is None:
            raise AgentDocError(
                f"cannot tell which pane to claim {doc} for (not inside tmux)",
                hint="run it inside the agent's pane, or pass --pane %N or --position left",
            )

    from agent_doc.document import ensure_session_fields

    sid, generated, changed = ensure_session_fields(doc, tmux_session=chosen.session or None)
    if generated:
        say(f"Generated session UUID: {sid}")
    if changed:
        say(f"set tmux_session={chosen.session} in {doc}")
    rel = project.rel(doc)
    # the pid that proves the agent is still there: the program in the pane's foreground (the
    # agent started in the pane's shell), not the shell, which outlives the agent (SPEC A14)
    agent = agent_of_pane(chosen.pid, own_pgrp=os.getpgrp())

    real = doc_realpath(doc)
    os.makedirs(project.state_dir, exist_ok=True)
    with registry.lock():
        with registry.transaction() as entries:
            removed = prune_known(entries, before, live)
            for _key, entry in removed:
                if _same_document(project, entry, real):
                    say(
                        f"stale claim: {doc} was bound to dead pane {entry.get('pane')}, "
                        f"replacing"
                    )
            entries[sid] = _new_entry(entries.get(sid), chosen, pid=agent, project=project, rel=rel)
        append_line(project.claims_log, f"Claimed {rel} for pane {chosen.id}\n",
                    state_root=project.root)
    if removed:
        say(f"resync: pruned {len(removed)} stale session(s)")

    # select the pane and show a notification: ONE tmux process (select-window, select-pane,
    # display-message; '#' doubled so the message is literal, as Tmux.display_message does)
    note = f"Claimed {rel} (pane {chosen.id})".replace("#", "##")
    try:
        tmux.run_many(
            [
                ["select-window", "-t", chosen.id],
                ["select-pane", "-t", chosen.id],
                ["display-message", "-t", chosen.id, "-d", "3000", note],
            ]
        )
    except TmuxError as exc:  # reported, not swallowed: the claim itself is done
        msg = f"warning: could not select/notify pane {chosen.id}: {exc}"
        warnings.append(msg)
        say(msg)
    say(f"Claimed {doc} for pane {chosen.id} (session {short(sid)})")
    return ClaimResult(
        file=doc,
        rel=rel,
        session=sid,
        generated=generated,
        pane=chosen.id,
        window=chosen.window,
        tmux_session=chosen.session or None,
        tmux_session_changed=changed,
        removed=removed,
        warnings=warnings,
    )


# -- route --------------------------------------------------------------------------------------


class RouteResult(Record):
    __slots__ = _fields = ("action", "file", "generated", "pane", "session")

    def __init__(
        self, file: str, session: str, pane: str, action: str, generated: bool = False
    ) -> None:
        self.file = file
        self.session = session
        self.pane = pane
        #: "sent" (typed into a live pane), "claimed" (lazy claim of --pane, then sent),
        #: "started" (a new agent pane was started; the document was not sent)
        self.action = action
        self.generated = generated

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "session_id": self.session,
            "pane": self.pane,
            "action": self.action,
        }


def check_file_name(doc: str) -> None:
    """Refuse names with control characters: they would be typed into the pane (SPEC A8)."""
    bad = _control_char(doc)
    if bad is not None:
        raise AgentDocError(
            f"refusing to route {doc!r}: the file name contains a control character "
            f"(U+{ord(bad):04X}) that would be typed into the agent's pane",
            hint="rename the file without control characters (newlines, tabs, escapes)",
        )


def _live_entry(
    entries: Mapping[str, Entry], sid: str, live: Mapping[str, int]
) -> tuple[Entry | None, bool]:
    from tmux_router.registry import identity_ok

    entry = entries.get(sid)
    return entry, entry is not None and identity_ok(entry, live)


def in_project(project: Project, entry: Mapping[str, Any]) -> bool:
    """False if the entry's ``file`` lies outside the project root (SPEC A13): such an entry is
    ignored by ``route``, ``sync``, ``claim`` and ``watch`` and removed by ``resync``.

    The test is on the path as written (relative to the root, or absolute), normalised
    lexically: ``../x.md`` and ``/etc/x.md`` are outside; a document inside the root that is
    itself a symlink to elsewhere stays usable (agent-doc writes through document symlinks,
    SPEC A5). An entry without ``file`` (legacy) is not outside.
    """
    stored = entry.get("file")
    if not isinstance(stored, str) or not stored:
        return True
    path = os.path.normpath(os.path.join(project.root, stored))
    root = project.root.rstrip("/")
    return path == root or path.startswith(root + "/")


def _agent_check(entry: Mapping[str, Any]) -> list[int] | None:
    """The pane pids to check inside tmux before typing for ``entry`` — the registered pid and
    its ancestors (the pane's ``#{pane_pid}`` must be one of them) — or None when the
    registered process is not a live agent in the foreground of its terminal (SPEC A14). A
    pid of 0 never passes."""
    from tmux_router.procs import foreground_check
    from tmux_router.registry import identity_pids

    pids = identity_pids(entry)
    if not pids or not foreground_check(pids[0])[0]:
        return None
    return pids


def _send_to_agent(tmux: Tmux, entry: Mapping[str, Any], text: str, project: Project) -> bool:
    """Type ``text`` + Enter into ``entry``'s pane only if its agent is there, in front: the
    /proc check here, then — inside ONE tmux process, with the keys — the pane's identity and
    that its foreground is not a default shell at its prompt (which also covers an agent
    exiting between the /proc check and the keys)."""
    pane = entry.get("pane")
    pids = _agent_check(entry)
    if pids is None or not isinstance(pane, str):
        return False
    delay = enter_delay()
    if delay <= 0:
        return tmux.send_text_if_running(pane, text, pids=pids, not_at_shell_prompt=True)
    from safefile import FileLock

    # the text and its Enter, `delay` seconds later, are one unit: another route's keys must
    # not land between them (C30)
    with FileLock(project.pane_lock_path(pane), what=f"pane {pane}", state_root=project.root):
        return tmux.send_text_if_running(pane, text, pids=pids, not_at_shell_prompt=True,
                                         enter_delay=delay)


#: seconds between typing `/agent-doc FILE` and pressing Enter (AGENT_DOC_ENTER_DELAY; 0 types
#: both at once): the agent's TUI must see the Enter as a key of its own, not as part of a
#: paste (Claude Code 2.1.332 drops an Enter that comes in one burst with a line over ~60
#: characters; 0.05 s was enough in tests/test_real_claude_tui.py, 0.1 leaves a margin)
DEFAULT_ENTER_DELAY = 0.1


def enter_delay() -> float:
    raw = os.environ.get("AGENT_DOC_ENTER_DELAY")
    if raw:
        try:
            return max(0.0, min(float(raw), 5.0))
        except ValueError:
            pass
    return DEFAULT_ENTER_DELAY


def _attach_hint(tmux: Tmux) -> str:
    sock = ""
    if tmux.socket_path:
        sock = f" -S {tmux.socket_path}"
    elif tmux.socket_name:
        sock = f" -L {tmux.socket_name}"
    return f"tmux{sock} attach -t {AGENT_SESSION}"


def route_document(
    doc: str, *, pane: str | None = None, tmux: Tmux, say: Say = _stderr
) -> RouteResult:
    """Type ``/agent-doc DOC`` + Enter into the document's agent, or start an agent pane.

    The document's session UUID is ensured first, under the document lock, before any tmux
    work (the reference's order: a route that cannot reach tmux has still given the document
    its identity). Happy path: one registry read, ONE tmux process that checks the registered
    pane's identity (alive, same ``pane_pid`` lineage, not a shell prompt) and types the keys,
    after a /proc check that the registered agent is in the pane's foreground. Otherwise (no
    entry, pane gone or reused, agent exited, entry outside the project): one ``list-panes``
    for the facts, then with ``pane`` (lazy claim) the document is registered to that pane;
    else the auto-start cascade runs under the project's route lock, so two concurrent routes
    of one document start ONE pane. With no tmux server at all, the cascade starts one (a
    detached session ``claude``), as the reference does.
    """
    from tmux_router.tmux import TmuxNotInstalled

    check_file_name(doc)
    _check_exists(doc)
    project = Project.for_document(doc)
    sid, generated = _ensure_uuid(doc, say)
    try:
        return _route(doc, sid, generated, project, pane=pane, tmux=tmux, say=say)
    except TmuxNotInstalled:
        if not generated:
            raise
        raise AgentDocError(
            f"tmux is not installed (no `tmux` on PATH); {doc} got its session id "
            f"{short(sid)} but was not routed",
            hint="install tmux (e.g. `apt-get install tmux`) and run route again",
        ) from None


def _route(
    doc: str,
    sid: str,
    generated: bool,
    project: Project,
    *,
    pane: str | None,
    tmux: Tmux,
    say: Say,
) -> RouteResult:
    from tmux_router.procs import agent_of_pane
    from tmux_router.registry import identity_ok
    from tmux_router.tmux import NoServer, TmuxError

    registry = _registry(project)
    before = registry.load()  # the one registry read of the happy path
    text = f"/agent-doc {doc}"
    entry = before.get(sid)
    outside = entry is not None and not in_project(project, entry)
    if outside:
        entry = None
    server = True
    try:
        if entry is not None and isinstance(entry.get("pane"), str):
            target = entry["pane"]
            if _send_to_agent(tmux, entry, text, project):
                say(f"Sent /agent-doc {doc} → pane {target}")
                return RouteResult(doc, sid, target, "sent", generated)
        panes = tmux.list_panes(strict=True)
    except NoServer:
        server, panes = False, []
    live = live_map(panes)

    then = f"claiming pane {pane}" if pane is not None else "auto-starting"
    if outside and before.get(sid) is not None:
        say(
            f"The registry entry of session {short(sid)} names a file outside the project "
            f"({before[sid].get('file')!r}); ignoring it, {then}..."
        )
    if not server:
        say(f"No tmux server is running, {then}...")
    elif entry is None:
        if not outside:
            say(f"No pane registered for session {short(sid)}, {then}...")
    elif identity_ok(entry, live):
        # the pane still holds the registered process's lineage, but not the agent in front
        # (it exited and left its shell, or the entry names the shell itself at its prompt)
        cmd = next((p.command for p in panes if p.id == entry.get("pane")), "?")
        say(
            f"Pane {entry.get('pane')} does not run the agent it was claimed with (its "
            f"foreground program is {cmd!r}); not typing into it, {then}..."
        )
    elif entry.get("pane") in live:
        from tmux_router.procs import proc_stat
        from tmux_router.registry import identity_pids

        pids = identity_pids(entry)
        if not pids:
            why = "its registry entry has no pid to check it by (pid 0)"
        elif proc_stat(pids[0]) is None:
            why = f"the agent it was claimed with (pid {pids[0]}) has exited"
        else:  # the id exists but runs another process (C29)
            why = "it now runs another program (tmux restarted?)"
        say(f"Pane {entry.get('pane')}: {why}; not typing into it, {then}...")
    else:
        say(f"Pane {entry.get('pane')} is dead, {then}...")

    if pane is None and os.environ.get(NO_AUTOSTART_ENV) is not None:
        raise AgentDocError(
            f"auto-start skipped ({NO_AUTOSTART_ENV} set)",
            hint=f"claim a pane first (`agent-doc claim {doc} --pane %N`) or unset "
            f"{NO_AUTOSTART_ENV}",
        )

    from safefile import FileLock

    os.makedirs(project.state_dir, exist_ok=True)
    with FileLock(project.route_lock_path, what="route", state_root=project.root):
        # re-read and re-check: a concurrent route may have started the pane (or the server)
        before = registry.load()
        try:
            panes = tmux.list_panes(strict=True)
            server = True
        except NoServer:
            server, panes = False, []
        live = live_map(panes)
        entry = before.get(sid)
        if (
            entry is not None
            and in_project(project, entry)
            and identity_ok(entry, live)
            and _send_to_agent(tmux, entry, text, project)
        ):
            say(f"Sent /agent-doc {doc} → pane {entry['pane']}")
            return RouteResult(doc, sid, str(entry["pane"]), "sent", generated)
        rel = project.rel(doc)
        if pane is not None:  # lazy claim
            chosen = next((p for p in panes if p.id == pane and not p.dead), None)
            if chosen is None:
                raise AgentDocError(
                    f"pane {pane} is not alive (no such pane in tmux); {doc} was not routed",
                    hint="pass the id of a live pane (`tmux list-panes -a`)",
                )
            agent = agent_of_pane(chosen.pid, own_pgrp=os.getpgrp())
            with registry.transaction() as entries:
                prune_known(entries, before, live)
                entries[sid] = new_entry = _new_entry(
                    entries.get(sid), chosen, pid=agent, project=project, rel=rel
                )
            if _send_to_agent(tmux, new_entry, text, project):
                say(f"Claimed {doc} for pane {chosen.id}; sent /agent-doc {doc}")
            else:
                say(
                    f"Claimed {doc} for pane {chosen.id}; not typing into it: no agent runs "
                    f"in its foreground ({chosen.command!r}). Start the agent there, then "
                    f"route again."
                )
            return RouteResult(doc, sid, chosen.id, "claimed", generated)

        command = _agent_command(project)
        cwd = str(project.root)
        if server and tmux.has_session(AGENT_SESSION):
            new = tmux.new_window(AGENT_SESSION, cwd, [command], detached=False)
        else:
            try:
                new = tmux.new_session(AGENT_SESSION, cwd, [command])  # starts the server
            except TmuxError:
                if not tmux.has_session(AGENT_SESSION):  # created by someone else meanwhile?
                    raise
                new = tmux.new_window(AGENT_SESSION, cwd, [command], detached=False)
        live = dict(live)
        live[new.id] = new.pid
        with registry.transaction() as entries:
            prune_known(entries, before, live)
            # the agent is the pane's own process
            entries[sid] = _new_entry(entries.get(sid), new, pid=new.pid, project=project, rel=rel)
    say(f"Started Claude for {doc} in pane {new.id} (session {short(sid)})")
    if not server:
        say(f"Started a tmux server for it (session `{AGENT_SESSION}`); attach with "
            f"`{_attach_hint(tmux)}`")
    say(f"Run `agent-doc route {doc}` again once Claude is up to send the document.")
    return RouteResult(doc, sid, new.id, "started", generated)


# -- start --------------------------------------------------------------------------------------


def start_document(doc: str, *, tmux: Tmux | None = None, say: Say = _stderr) -> None:
    """Register the current pane for ``doc`` and exec the agent in it (Part B §3.8).

    The session UUID is written *before* the tmux check (the reference's order). The entry's
    ``pid`` is this process's pid, which becomes the agent's after ``exec``: the identity check
    accepts it while the agent runs (its ancestor is the pane's process) and rejects the pane
    once the agent has exited, so route never types into the bare shell left behind.
    """
    _check_exists(doc)
    sid, _generated = _ensure_uuid(doc, say)
    if not os.environ.get("TMUX"):
        raise AgentDocError(
            "not running inside tmux — start a tmux session first",
            hint=f"run `agent-doc start {doc}` in a tmux pane",
        )
    handle = tmux if tmux is not None else open_tmux()
    project = Project.for_document(doc)
    registry = _registry(project)
    before = registry.load()
    panes = panes_snapshot(handle)
    live = live_map(panes)
    current = handle.current_pane()
    me = next((p for p in panes if p.id == current and not p.dead), None)
    if me is None:
        raise AgentDocError(
            f"cannot find this tmux pane ({current or 'unknown'}) on the tmux server",
            hint="run `agent-doc start FILE` directly in a tmux pane",
        )
    command = _agent_command(project)
    rel = project.rel(doc)
    with registry.transaction() as entries:
        prune_known(entries, before, live)
        entries[sid] = _new_entry(entries.get(sid), me, pid=os.getpid(), project=project, rel=rel)
    say(f"Registered session {short(sid)} → pane {me.id}")
    say(f"Starting {os.path.basename(command)}...")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(command, [command])
    except OSError as exc:
        raise AgentDocError(
            f"failed to exec {command}: {exc.strerror or exc}",
            hint="check that the agent command is installed and executable",
        ) from None


# -- focus --------------------------------------------------------------------------------------


def focus_document(
    doc: str, *, pane: str | None = None, tmux: Tmux, say: Say = _stderr
) -> str:
    """Select the document's pane (Part B §3.11). Returns the pane id. Writes nothing."""
    from tmux_router.registry import identity_ok

    _check_exists(doc)
    panes = panes_snapshot(tmux)
    live = live_map(panes)
    if pane:
        if pane not in live:
            raise AgentDocError(
                f"pane {pane} is dead for {doc}", hint="claim a live pane with `agent-doc claim`"
            )
        tmux.select_pane(pane)
        say(f"Focused pane {pane} ({doc})")
        return pane
    sid = _read_session(doc)
    if sid is None:
        raise AgentDocError(
            f"no session UUID in {doc} (use Claim to register)",
            hint=f"run `agent-doc claim {doc}` in the agent's pane",
        )
    project = Project.for_document(doc)
    entry = _registry(project).load().get(sid)
    if entry is None:
        raise AgentDocError(
            f"no pane registered for {doc} (session {short(sid)})",
            hint=f"run `agent-doc claim {doc}` in the agent's pane",
        )
    if not identity_ok(entry, live):
        raise AgentDocError(
            f"pane {entry.get('pane')} is dead for {doc}",
            hint=f"claim a live pane with `agent-doc claim {doc}`, or `agent-doc route {doc}`",
        )
    target = str(entry["pane"])
    tmux.select_pane(target)
    say(f"Focused pane {target} ({doc})")
    return target


# -- layout -------------------------------------------------------------------------------------


class LayoutResult(Record):
    __slots__ = _fields = ("broken_out", "moved", "panes", "window")

    def __init__(
        self,
        panes: list[str],
        window: str | None,
        moved: list[str] | None = None,
        broken_out: list[str] | None = None,
    ) -> None:
        self.panes = panes
        self.window = window
        self.moved = moved if moved is not None else []
        self.broken_out = broken_out if broken_out is not None else []


def layout_documents(
    files: list[str],
    *,
    split: str = "h",
    pane: str | None = None,
    window: str | None = None,
    tmux: Tmux,
    say: Say = _stderr,
) -> LayoutResult:
    """Arrange the panes of ``files`` side by side (``h``) or stacked (``v``) (Part B §5.5).

    Deterministic: the target window is the one holding most wanted panes, then most panes,
    then the earliest file. The registry's ``window`` fields of moved panes are updated in one
    transaction (fixes C26).
    """
    from tmux_router.registry import identity_ok

    if not files:
        raise AgentDocError("at least one file required", hint="agent-doc layout A.md B.md")
    if len(files) == 1:
        target = focus_document(files[0], pane=pane, tmux=tmux, say=say)
        return LayoutResult([target], None)
    for f in files:
        if not os.path.exists(f):
            raise AgentDocError(f"file not found: {f}", hint="check the path")
    stacked = split in ("v", "vertical")
    panes = panes_snapshot(tmux)
    live = live_map(panes)
    by_id = {p.id: p for p in panes if not p.dead}
    registries: dict[str, Entries] = {}
    kept: list[tuple[str, str]] = []  # (pane, file)
    for f in files:
        sid = _read_session(f)
        if sid is None:
            say(f"warning: {f} has no session UUID (claim it first); skipped")
            continue
        project = Project.for_document(f)
        if project.root not in registries:
            registries[project.root] = _registry(project).load()
        entry = registries[project.root].get(sid)
        if entry is None or not identity_ok(entry, live):
            state = "dead" if entry is not None else "not registered"
            say(f"warning: pane for {f} is {state}; skipped")
            continue
        kept.append((str(entry["pane"]), f))
    if window:
        inside = [(p, f) for p, f in kept if by_id[p].window == window]
        if len(inside) != len(kept):
            say(f"Filtered {len(kept) - len(inside)} panes outside window {window}")
        kept = inside
    if len(kept) < 2:
        if kept and kept[0][1] == files[0]:
            tmux.select_pane(kept[0][0])
        return LayoutResult([p for p, _ in kept], None)
    seen: set[str] = set()
    ordered: list[str] = []
    for p, _f in kept:
        if p not in seen:
            seen.add(p)
            ordered.append(p)
    if len(ordered) < 2:
        raise AgentDocError(
            "all files share the same pane — nothing to arrange",
            hint="claim the documents to different panes first",
        )
    # target window: most wanted panes, then most panes; the earliest file wins further ties
    counts: dict[str, tuple[int, int]] = {}
    for p in ordered:
        w = by_id[p].window
        if w not in counts:
            wanted = sum(1 for q in ordered if by_id[q].window == w)
            total = sum(1 for q in by_id.values() if q.window == w)
            counts[w] = (wanted, total)
    target = max(counts, key=lambda w: counts[w])  # max keeps the first of equal keys
    registered = {
        str(e.get("pane")) for entries in registries.values() for e in entries.values()
    }
    in_target = [q for q in by_id.values() if q.window == target]
    broken: list[str] = []
    if len(in_target) > 1:
        for q in sorted(in_target, key=lambda q: (q.left, q.top)):
            if q.id not in seen and q.id in registered:
                tmux.break_pane(q.id)
                broken.append(q.id)
    flag = "-v" if stacked else "-h"
    moved: list[str] = []
    prev: str | None = None
    for p in ordered:
        if by_id[p].window != target:
            if prev is not None:  # right of (below) the previous document's pane
                tmux.join_pane(p, prev, "-d", flag)
            else:  # the first document goes before (above) the first wanted pane there
                first_in = next(q for q in ordered if by_id[q].window == target)
                tmux.join_pane(p, first_in, "-d", "-b", flag)
            moved.append(p)
        prev = p
    tmux.select_pane(ordered[0])
    if moved or broken:
        _update_windows(tmux, registries, moved + broken)
    say(f"Layout: {len(ordered)} panes arranged {'stacked' if stacked else 'side-by-side'}")
    return LayoutResult(ordered, target, moved, broken)


def _update_windows(tmux: Tmux, registries: Mapping[str, Entries], moved: list[str]) -> None:
    """Set ``window`` of registry entries whose pane moved (one list-panes, one transaction
    per registry)."""
    now = {p.id: p.window for p in tmux.list_panes()}
    for root, snapshot in registries.items():
        if not any(str(e.get("pane")) in moved for e in snapshot.values()):
            continue
        with _registry(Project(root)).transaction() as entries:
            for e in entries.values():
                pid = str(e.get("pane"))
                if pid in moved and pid in now and e.get("window") != now[pid]:
                    e["window"] = now[pid]


# -- sync ---------------------------------------------------------------------------------------


class SyncOutcome(Record):
    __slots__ = _fields = (
        "columns",
        "moved",
        "pruned",
        "target_session",
        "target_window",
        "warnings",
        "written"
    )

    def __init__(
        self,
        target_session: str | None,
        target_window: str | None,
        *,
        pruned: int = 0,
        moved: int = 0,
        columns: list[list[str]] | None = None,
    ) -> None:
        self.target_session = target_session
        self.target_window = target_window
        self.written: list[str] = []  # documents that got `tmux_session`
        self.warnings: list[str] = []
        self.pruned = pruned
        self.moved = moved
        self.columns = columns if columns is not None else []


def sync_documents(
    col_args: list[str],
    *,
    window: str | None = None,
    focus: str | None = None,
    tmux: Tmux,
    say: Say = _stderr,
) -> SyncOutcome:
    """Mirror the editor's columns of documents in tmux (Part B §3.13, §5.6).

    Prunes first (safely), calls :func:`tmux_router.sync.sync` with a resolver that reads the
    frontmatter, then writes ``tmux_session`` surgically (under the document lock) into the
    resolved documents that lack it. Write-back failures are reported as warnings.
    """
    from tmux_router import sync as tsync

    try:
        columns = tsync.parse_columns(col_args)
    except tsync.SyncError as exc:
        raise AgentDocError(
            str(exc), hint="e.g. `agent-doc sync --col a.md,b.md --col c.md`"
        ) from None
    files = [f for col in columns for f in col]
    anchor_doc = next((f for f in files if os.path.isfile(f)), None)
    project = Project.for_document(anchor_doc) if anchor_doc else Project.for_cwd()
    registry = _registry(project)
    before = registry.load()
    panes = panes_snapshot(tmux)
    live = live_map(panes)
    with registry.transaction() as entries:
        removed = prune_known(entries, before, live)
    if removed:
        say(f"resync: pruned {len(removed)} stale session(s)")

    lacking: list[str] = []

    def resolve(path: str) -> Any:
        from agent_doc.document import read_document

        if not os.path.isfile(path):
            raise tsync.Unresolvable(f"file not found: {path}")
        try:
            parsed = read_document(path)
        except AgentDocError as exc:
            raise tsync.Unresolvable(exc.message) from None
        sid = parsed.session
        if sid is None:
            return None
        if parsed.tmux_session is None:
            lacking.append(path)
        return tsync.Resolved(key=sid, tmux_session=parsed.tmux_session)

    try:
        result = tsync.sync(
            tmux,
            registry,
            columns,
            resolve,
            window=window,
            focus=focus,
            on_log=lambda entry: say(str(entry)),
            accept=lambda entry: in_project(project, entry),
        )
    except tsync.SyncError as exc:
        raise AgentDocError(
            f"sync: {exc}", hint="claim the documents to panes first (`agent-doc claim FILE`)"
        ) from None
    say(result.summary())
    outcome = SyncOutcome(
        result.target_session or None,
        result.target_window or None,
        pruned=len(removed),
        moved=result.moved,
        columns=result.panes,
    )
    if result.target_session:
        for path in dict.fromkeys(lacking):
            try:
                from agent_doc.document import edit_document, parse, set_field

                def change(text: str, path: str = path) -> str:
                    if parse(text, path).tmux_session is not None:
                        return text  # set meanwhile: leave it
                    return set_field(text, "tmux_session", str(result.target_session), path)

                old, new = edit_document(path, change)
                if old != new:
                    outcome.written.append(path)
            except (AgentDocError, OSError, TimeoutError) as exc:
                msg = f"warning: could not write tmux_session into {path}: {exc}"
                outcome.warnings.append(msg)
                say(msg)
    return outcome


# -- resync -------------------------------------------------------------------------------------


def resync(project: Project, tmux: Tmux, *, say: Say = _stderr) -> list[tuple[str, Entry]]:
    """Remove entries whose pane is gone or reused (identity check); return them (§3.14)."""
    registry = _registry(project)
    before = registry.load()
    panes = panes_snapshot(tmux)
    live = live_map(panes)
    if not before:
        say("All 0 session(s) have live panes.")
        return []
    with registry.transaction() as entries:
        removed = prune_known(entries, before, live)
        # entries naming a file outside the project are never used: drop them (SPEC A13)
        outside = [(k, entries.pop(k)) for k, v in list(entries.items())
                   if not in_project(project, v)]
        remaining = dict(entries)
    removed += outside
    if removed:
        say(f"Removed {len(removed)} stale session(s):")
        for key, entry in removed:
            why = "file outside the project" if (key, entry) in outside else "removed"
            say(f"  {_label(entry, key)} (pane {entry.get('pane')} {why})")
    else:
        say(f"All {len(remaining)} session(s) have live panes.")
    if remaining:
        say("Active sessions:")
        for key, entry in remaining.items():
            say(f"  {_label(entry, key)} → pane {entry.get('pane')}")
    return removed


# -- shared CLI option ----------------------------------------------------------------------------


def add_socket_option(parser: Any) -> None:
    """``--socket-name NAME`` on an argparse parser (see :func:`open_tmux`)."""
    parser.add_argument(
        "--socket-name",
        "-L",
        metavar="NAME",
        default=None,
        help=f"tmux server socket name (or path); default: ${SOCKET_ENV}, else tmux's own choice",
    )


# -- status -------------------------------------------------------------------------------------


def project_status(project: Project, tmux: Tmux | None) -> dict[str, Any]:
    """The project at a glance (SPEC A1 ``status``); reads only, writes nothing.

    Unlike the other commands it does not fail without tmux: it reports ``tmux`` as
    ``"not installed"`` or ``"no server"`` and every pane as not alive, because the rest of
    the report (pending responses, watch daemon, locks) matters without tmux too.
    """
    import json
    import time

    from safefile import held_locks
    from safefile.lock import is_locked_elsewhere
    from tmux_router.registry import identity_ok
    from tmux_router.tmux import TmuxError, TmuxNotInstalled

    tmux_state = "running"
    live: dict[str, int] = {}
    if tmux is None:
        tmux_state = "not used"
    else:
        try:
            panes = tmux.list_panes()
            if not panes and not tmux.server_running():
                tmux_state = "no server"
            live = live_map(panes)
        except TmuxNotInstalled:
            tmux_state = "not installed"
        except TmuxError as exc:
            tmux_state = f"error: {exc}"
    entries = _registry(project).load() if os.path.exists(project.registry_path) else {}
    documents = []
    for key, entry in entries.items():
        pane_id = entry.get("pane")
        documents.append(
            {
                "session_id": key,
                "file": entry.get("file", ""),
                "pane": pane_id,
                "window": entry.get("window", ""),
                "alive": identity_ok(entry, live),
                "exists": pane_id in live,
            }
        )
    pending = []
    if os.path.isdir(project.pending_dir):
        names = sorted(n for n in os.listdir(project.pending_dir) if n.endswith(".json"))
        for name in names:
            p = os.path.join(project.pending_dir, name)
            item: dict[str, Any] = {"path": p}
            try:
                from safefile import read_bytes

                data = json.loads(read_bytes(p, state_root=project.root).decode("utf-8"))
                if isinstance(data, dict):
                    for k in ("file", "document", "path", "doc"):
                        if isinstance(data.get(k), str):
                            item["file"] = data[k]
                            break
                    # by session id: a document renamed while its agent answered is found
                    if isinstance(data.get("agent_doc_session"), str):
                        item["session_id"] = data["agent_doc_session"]
                    doc = data.get("document")
                    if isinstance(doc, str):
                        item["document_exists"] = os.path.exists(doc)
            except (OSError, ValueError):  # a link or FIFO there too: never followed
                item["unreadable"] = True
            try:
                item["since"] = time.strftime(
                    "%Y-%m-%dT%H:%M:%S", time.localtime(os.stat(p).st_mtime)
                )
            except OSError:
                pass
            pending.append(item)
    watch_pid: int | None = None
    try:
        from safefile import read_bytes

        watch_pid = int(read_bytes(project.watch_pid_path, state_root=project.root).strip())
    except (OSError, ValueError):
        watch_pid = None
    watch_running = is_locked_elsewhere(project.watch_lock_path)
    locks = []
    if os.path.isdir(project.state_dir):
        for path, holder in held_locks(project.state_dir):
            locks.append({"path": path, "holder": holder})
    return {
        "root": str(project.root),
        "tmux": tmux_state,
        "documents": documents,
        "pending": pending,
        "watch": {"running": watch_running, "pid": watch_pid},
        "locks": locks,
    }
