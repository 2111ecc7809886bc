"""``agent-doc status [--json]``: the project at a glance (read-only, except that an answer a
stale editor save removed is put back first: ``repairs`` in the JSON, :mod:`agent_doc.repair`).

Root, the documents in the registry with their panes (alive or not, from one ``list-panes``),
pending responses, the watch daemon, the locks currently held with their holders, and whether
the project is trusted to run what its own files name (``agent-doc trust``). The
report is this command's output, so it goes to stdout (``--json``: one JSON object).
Parses and prints only; the data comes from :func:`agent_doc.routing.status.project_status`.
"""

from __future__ import annotations

import argparse
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.cli.tmuxcli import add_socket_option

    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_socket_option(parser)


def _add_streaming(project: Any, st: dict[str, Any]) -> None:
    """A pending journal of a streamed answer (issue 16) gets ``streaming``: its boundary and
    whether the agent had finished (a live stream, or one a dead run left)."""
    if not st.get("pending"):
        return
    import json

    from agent_doc.writeback import stream_info
    from safefile import read_bytes

    for item in st["pending"]:
        try:
            record = json.loads(read_bytes(item["path"], state_root=project.root))
        except (OSError, ValueError):
            continue
        info = stream_info(record) if isinstance(record, dict) else None
        if info is not None:
            item["streaming"] = {"boundary": info["boundary"], "complete": info["complete"]}


def render(st: dict[str, Any]) -> str:
    lines = [f"project: {st['root']}", f"tmux: {st['tmux']}"]
    docs = st["documents"]
    lines.append(f"documents: {len(docs)}")
    for d in docs:
        state = "alive" if d["alive"] else ("reused" if d["exists"] else "dead")
        lines.append(f"  {d['file'] or d['session_id']}  pane {d['pane']} ({state})")
    pending = st["pending"]
    lines.append(f"pending responses: {len(pending)}")
    for p in pending:
        what = p.get("file") or p["path"]
        session = f" session {p['session_id']}" if p.get("session_id") else ""
        if p.get("document_exists") is False:
            how = ("its document is gone — if you renamed it, `agent-doc recover NEWNAME` "
                   "applies it")
        else:
            how = "apply with `agent-doc recover`"
        if p.get("streaming"):
            done = "complete" if p["streaming"]["complete"] else "streaming or cut short"
            how = f"a streamed answer ({done}); {how}"
        lines.append(f"  {what}{session} (since {p.get('since', '?')}) — {how}")
    for r in st.get("repairs", []):
        if r["repaired"]:
            last = r["repaired"][-1]
            lines.append(f"answer restored: {r['file']} (answer of {r['since']}, restored "
                         f"{last.get('time_text', '?')} after a stale editor save)")
    w = st["watch"]
    if w["running"]:
        lines.append(f"watch: running (pid {w['pid'] if w['pid'] is not None else '?'})")
    elif w["pid"] is not None:
        lines.append(f"watch: not running (stale pid file: {w['pid']})")
    else:
        lines.append("watch: not running")
    locks = st["locks"]
    lines.append(f"locks held: {len(locks)}")
    for lk in locks:
        lines.append(f"  {lk['path']} — {lk['holder'] or 'unknown holder'}")
    if "trust" in st:
        lines.append(f"trust: {trust_line(st['trust'])}")
    return "\n".join(lines) + "\n"


def trust_summary(root: str) -> dict[str, Any]:
    """The project's trust state for ``status`` (SPEC A12); an unreadable config file or
    trust store is reported here, not raised: ``status`` needs neither."""
    from agent_doc.config import project_trust
    from agent_doc.errors import AgentDocError

    try:
        return project_trust(root).as_json()
    except AgentDocError as exc:
        return {"root": root, "state": "unknown", "error": exc.message, "hint": exc.hint}


def trust_line(t: dict[str, Any]) -> str:
    from agent_doc.trust import trust_command

    if t["state"] == "unknown":
        return f"unknown: {t['error']}"
    off = sum(1 for s in t["settings"] if not s["applies"])
    if t["state"] == "trusted":
        return f"trusted (since {t['trusted_at']}; {len(t['settings'])} setting(s) that run " \
            "something apply)"
    if not t["needed"]:
        return "not needed (the project's files run nothing)"
    changed = [n for n, v in t["files"].items() if v == "changed"]
    why = (
        f"{', '.join(changed)} changed since it was trusted ({t['trusted_at']})"
        if t["state"] == "changed" else "not trusted"
    )
    return (
        f"{why}: {off} setting(s) that run something are off — review them with "
        f"`{trust_command(t['root'], '--show')}`"
    )


def run(args: argparse.Namespace) -> int:
    import sys

    from agent_doc.project import Project
    from agent_doc.routing.common import open_tmux
    from agent_doc.routing.status import project_status

    project = Project.for_cwd()
    st = project_status(project, open_tmux(args.socket_name))
    st["trust"] = trust_summary(project.root)
    from agent_doc.repair import check_all

    st["repairs"] = check_all(project)  # answers put back after a stale editor save (issue 17)
    _add_streaming(project, st)
    if args.json:
        from agent_doc.cli.common import emit_json

        emit_json(st)
    else:
        sys.stdout.write(render(st))
    return 0
