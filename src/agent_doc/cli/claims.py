"""``agent-doc claims [--json]``: print and empty ``.agent-doc/claims.log`` (Part B §2.6).

``claim`` appends one line per claim (``Claimed FILE for pane P``); the Claude Code skill shows
them at the start of each cycle. In the reference the skill reads the file and then truncates
it by hand, so a line appended between the read and the truncate is lost (C33). Here the read
and the truncate happen under the registry lock, and ``claim`` appends under the same lock, so
no line can fall in between. The project is found from the working directory (a project
command, SPEC A2): the nearest ancestor holding ``.agent-doc/``, so a drifted working directory
in a subfolder still finds the log.

Output: the lines on stdout (nothing when there are none, with a note on stderr); ``--json``
prints ``{"claims": [...], "log": PATH}``.
"""

from __future__ import annotations

import argparse
import os

from agent_doc.cli.common import emit_json, say

DESCRIPTION = "Print the claims recorded in .agent-doc/claims.log and empty the log."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON object on stdout")


def take_claims(
    log: os.PathLike[str] | str, registry_lock: os.PathLike[str] | str,
    state_root: str | None = None,
) -> list[str]:
    """Read and empty ``log`` under the registry lock; return its lines. Both are state files:
    never opened through a link (a ``claims.log`` linked to another file must not truncate
    it), nor below a linked folder under ``state_root``."""
    from safefile import FileLock, open_state

    with FileLock(registry_lock, what="registry", state_root=state_root):
        try:
            fd = open_state(os.fspath(log), os.O_RDWR, state_root=state_root)
        except FileNotFoundError:
            return []
        try:
            chunks: list[bytes] = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
            if chunks:
                os.ftruncate(fd, 0)
                os.fsync(fd)
        finally:
            os.close(fd)
    text = b"".join(chunks).decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]


def run(args: argparse.Namespace) -> int:
    from agent_doc.project import Project
    from tmux_router.registry import Registry

    project = Project.for_cwd()
    lines = take_claims(
        project.claims_log, Registry(project.registry_path).lock_path, state_root=project.root
    )
    if args.json:
        emit_json({"claims": lines, "log": os.fspath(project.claims_log)})
        return 0
    for line in lines:
        print(line)
    if not lines:
        say("No new claims.")
    return 0
