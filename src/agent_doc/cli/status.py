"""``agent-doc status [--json]``: the project at a glance (read-only, except that an answer a
stale editor save removed is put back first: ``repairs`` in the JSON, :mod:`agent_doc.repair`).

Root, the documents in the registry with their panes (alive or not, from one ``list-panes``),
pending responses, the watch daemon and the locks currently held with their holders. The
report is this command's output, so it goes to stdout (``--json``: one JSON object).
Parses and prints only; the data comes from :func:`agent_doc.routing.project_status`.
"""

from __future__ import annotations

import argparse
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    from agent_doc.routing import add_socket_option

    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_socket_option(parser)


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
        lines.append(f"  {what} (since {p.get('since', '?')}) — apply with `agent-doc recover`")
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
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    import sys

    from agent_doc.project import Project
    from agent_doc.routing import open_tmux, project_status

    project = Project.for_cwd()
    st = project_status(project, open_tmux(args.socket_name))
    from agent_doc.repair import check_all

    st["repairs"] = check_all(project)  # answers put back after a stale editor save (issue 17)
    if args.json:
        from agent_doc.cli.common import emit_json

        emit_json(st)
    else:
        sys.stdout.write(render(st))
    return 0
