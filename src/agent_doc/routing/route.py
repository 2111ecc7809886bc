"""``route``: type ``/agent-doc FILE`` + Enter into the document's agent, or start one.

The hottest command (bench/bench_route.py): module-level imports are limited to what
docs/ARCHITECTURE.md allows, and the happy path is one registry read and ONE tmux process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agent_doc.errors import AgentDocError
from agent_doc.project import Project
from agent_doc.record import FrozenRecord
from agent_doc.routing.common import (
    AGENT_SESSION,
    NO_AUTOSTART_ENV,
    Say,
    _agent_command,
    _check_exists,
    _ensure_uuid,
    _new_entry,
    _registry,
    _stderr,
    in_project,
    live_map,
    prune_known,
    short,
)

TYPE_CHECKING = False  # `typing` stays off the hot path (bench/IMPORTS.md)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

    from tmux_router.tmux import Tmux


class RouteResult(FrozenRecord):
    """What ``route`` did with a document."""

    file: str
    session: str
    pane: str
    #: "sent" (typed into a live pane), "claimed" (lazy claim of --pane, then sent),
    #: "started" (a new agent pane was started; the document was not sent)
    action: str
    generated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "session_id": self.session,
            "pane": self.pane,
            "action": self.action,
        }


def _control_char(text: str) -> str | None:
    """The first C0/C1 control character (or U+2028/U+2029) in ``text``, if any.

    A loop, not a regular expression: this runs once per route, and ``re`` stays off the hot
    path (bench/IMPORTS.md).
    """
    for ch in text:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029):
            return ch
    return None


def check_file_name(doc: str) -> None:
    """Refuse names with control characters: they would be typed into the pane (SPEC A8)."""
    bad = _control_char(doc)
    if bad is not None:
        raise AgentDocError(
            f"refusing to route {doc!r}: the file name contains a control character "
            f"(U+{ord(bad):04X}) that would be typed into the agent's pane",
            hint="rename the file without control characters (newlines, tabs, escapes)",
        )


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
