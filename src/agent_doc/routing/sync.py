"""``sync``: mirror the editor's columns of documents in tmux (Part B §3.13, §5.6).

The reconciliation itself is :mod:`tmux_router.sync`; this module resolves documents through
their frontmatter and writes ``tmux_session`` back. Not a hotkey command.
"""

from __future__ import annotations

import os
from dataclasses import KW_ONLY, dataclass, field

from agent_doc.errors import AgentDocError
from agent_doc.project import Project
from agent_doc.routing.common import (
    Say,
    _registry,
    _stderr,
    in_project,
    live_map,
    panes_snapshot,
    prune_known,
)

TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover - typing only
    from typing import Any

    from tmux_router.tmux import Tmux


@dataclass
class SyncOutcome:
    """What ``sync`` did; ``written`` and ``warnings`` fill while it writes ``tmux_session``."""

    target_session: str | None
    target_window: str | None
    _: KW_ONLY
    pruned: int = 0
    moved: int = 0
    columns: list[list[str]] = field(default_factory=list)
    written: list[str] = field(default_factory=list, init=False)  # got `tmux_session`
    warnings: list[str] = field(default_factory=list, init=False)


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
