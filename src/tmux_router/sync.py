"""Declarative layout reconciliation: make one tmux window show exactly the given columns.

``sync(tmux, registry, [["a.md", "b.md"], ["c.md"]], resolve)`` gathers the panes bound to
those files (through the registry) into one window, as columns left to right, stacked top to
bottom inside a column. Part B §5.6 of the SPEC describes the reference algorithm; this one keeps
its phases (resolve → donors → target → ATTACH → SELECT → DETACH → REORDER → VERIFY → REGISTRY
→ sizes) and fixes its hazards:

* **one tmux snapshot** (``list-panes -a``: ids, pids, windows, sessions, geometry) drives the
  decisions; liveness is checked with pid identity (a pane id reused after a tmux restart is
  not "alive", C29);
* **deterministic** (C28): targets, windows and ties follow column order, then pane id — never
  set or dict iteration order of something unordered;
* **fast path**: when the target window already has exactly the desired panes in the desired
  *geometry* (every column full height, rows contiguous — not only the order of the panes), no
  tmux state is changed at all (sizes included); the focus is selected only if it is not already;
* ATTACH and REORDER are built from two moves only — ``join-pane -d -v`` below the previous row
  of the same column, and ``join-pane -d -h -f`` (full window height, at the right edge) for a
  new column — which yields the column tree whatever the start; each phase runs as ONE tmux
  process (commands joined with ``;``), falling back to one process per move if tmux refuses one;
* the focus is selected **before** evictions, evicted panes go to the session's ``stash`` window
  (exact name, ``=session:`` targeting) and stay alive;
* registry ``window`` fields are updated in ONE registry transaction at the end (C25/C26), and
  only when something differs.

Deviations from the reference (on purpose): sizes are equalized per column (each column gets
1/N of the window width, each row 1/k of its column, computed in cells) instead of
``select-layout even-horizontal`` for more than 2 columns, which flattened stacked columns; sizes
are not touched on the fast path; the reported ``target_session`` is the session of the window
the panes end up in; stash windows are never chosen as the target window (a pane in the stash
that is wanted gets a window of its own first).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tmux_router.errors import TmuxRouterError
from tmux_router.registry import Registry, identity_ok
from tmux_router.tmux import STASH_WINDOW, Pane, Tmux, TmuxError, TmuxNotInstalled

__all__ = [
    "Resolved",
    "SyncError",
    "SyncLogEntry",
    "SyncResult",
    "Unresolvable",
    "all_files",
    "parse_columns",
    "structure_of",
    "sync",
]

# phases that change where panes are (counted in SyncResult.moved)
MUTATING_PHASES = frozenset({"ATTACH", "DETACH", "REORDER"})


class SyncError(TmuxRouterError):
    """Bad input or nothing to arrange."""


class Unresolvable(TmuxRouterError):
    """Raised by a resolver for a file it cannot read (the message says why)."""


@dataclass(frozen=True)
class Resolved:
    """A managed file: its registry key and the tmux session its frontmatter names (if any)."""

    key: str
    tmux_session: str | None = None


@dataclass(frozen=True)
class SyncLogEntry:
    """One line of the sync log: its phase, what happened, whether it went wrong."""

    phase: str
    message: str
    ok: bool = True
    warning: bool = False

    def __str__(self) -> str:
        tag = "" if self.ok and not self.warning else (" error:" if not self.ok else " warning:")
        return f"[sync:{self.phase}]{tag} {self.message}"


@dataclass(frozen=True)
class SyncResult:
    """What :func:`sync` did: where the panes ended up, its log, what it moved."""

    target_session: str
    target_window: str
    log: list[SyncLogEntry]
    moved: int
    #: the columns of pane ids that were arranged (after dedup); [] on an early exit
    panes: list[list[str]] = field(default_factory=list)
    #: file -> pane, for files whose own registry entry has a live pane
    resolved: dict[str, str] = field(default_factory=dict)
    #: file -> pane lent by the first file of the same column that has one (this run only)
    borrowed: dict[str, str] = field(default_factory=dict)
    focus_pane: str | None = None
    fast_path: bool = False

    @property
    def errors(self) -> list[SyncLogEntry]:
        return [e for e in self.log if not e.ok]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors:
            return "Sync completed with errors: " + "; ".join(e.message for e in self.errors)
        n = sum(len(c) for c in self.panes)
        return f"Sync: {n} panes in {len(self.panes)} columns"


# -- input ------------------------------------------------------------------------------------
def parse_columns(args: Sequence[str]) -> list[list[str]]:
    """``["a.md, b.md", "c.md"]`` → ``[["a.md", "b.md"], ["c.md"]]`` (items trimmed)."""
    if not args:
        raise SyncError("at least one --col required")
    columns: list[list[str]] = []
    for arg in args:
        items = [item.strip() for item in arg.split(",")]
        items = [item for item in items if item]
        if not items:
            raise SyncError(f"empty --col argument: {arg!r}")
        columns.append(items)
    return columns


def all_files(columns: Sequence[Sequence[str]]) -> list[str]:
    """The files in column-major order, first occurrence kept."""
    seen: dict[str, None] = {}
    for col in columns:
        for f in col:
            seen.setdefault(f, None)
    return list(seen)


def structure_of(panes: Sequence[Pane]) -> list[list[str]] | None:
    """The columns of a window's panes, or None if its layout is not a clean column layout.

    Clean means: columns side by side covering the window width, each the full window height,
    its rows stacked one under the other with the column's width.
    """
    if not panes:
        return []
    width = max(p.left + p.width for p in panes)
    height = max(p.top + p.height for p in panes)
    by_left: dict[int, list[Pane]] = {}
    for p in panes:
        by_left.setdefault(p.left, []).append(p)
    columns: list[list[str]] = []
    expect_left = 0
    for left in sorted(by_left):
        col = sorted(by_left[left], key=lambda p: p.top)
        if left != expect_left or len({p.width for p in col}) != 1:
            return None
        expect_top = 0
        for p in col:
            if p.top != expect_top:
                return None
            expect_top = p.top + p.height + 1
        if expect_top - 1 != height:
            return None
        expect_left = left + col[0].width + 1
        columns.append([p.id for p in col])
    if expect_left - 1 != width:
        return None
    return columns


def _split_evenly(total: int, n: int) -> list[int]:
    """``n`` sizes (cells) filling ``total`` with n-1 one-cell separators (none for n < 1)."""
    if n < 1:
        return []
    usable = max(total - (n - 1), n)
    base, extra = divmod(usable, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


# -- the algorithm ----------------------------------------------------------------------------
class _Sync:
    def __init__(
        self,
        tmux: Tmux,
        registry: Registry,
        on_log: Callable[[SyncLogEntry], None] | None,
        accept: Callable[[dict], bool] | None = None,
    ) -> None:
        self.tmux = tmux
        self.registry = registry
        self.accept = accept
        self.on_log = on_log
        self.log: list[SyncLogEntry] = []
        self.moved = 0

    # logging
    def note(self, phase: str, message: str, *, ok: bool = True, warning: bool = False) -> None:
        entry = SyncLogEntry(phase, message, ok, warning)
        self.log.append(entry)
        if self.on_log is not None:
            self.on_log(entry)

    # tmux helpers
    def snapshot(self) -> list[Pane]:
        """All panes of the server (one call). No server → NoServer propagates."""
        return self.tmux.list_panes(strict=True)

    def window_panes(self, window: str) -> list[Pane]:
        try:
            return self.tmux.window_panes(window)
        except TmuxNotInstalled:
            raise
        except TmuxError:
            return []

    def select(self, pane: str | None, panes: Sequence[Pane], phase: str = "SELECT") -> None:
        """Select ``pane`` unless it already is the active pane of its session's window."""
        if not pane:
            return
        for p in panes:
            if p.id == pane and p.active and p.window_active:
                return
        try:
            self.tmux.select_pane(pane)
            self.note(phase, f"selected {pane}")
        except TmuxNotInstalled:
            raise
        except TmuxError as exc:
            self.note(phase, f"could not select {pane}: {exc.stderr or exc}", warning=True)

    def apply(self, phase: str, moves: list[tuple[list[str], str]]) -> int:
        """Run ``moves`` (tmux argv, description) in one tmux process; per move on failure."""
        if not moves:
            return 0
        mutating = phase in MUTATING_PHASES
        try:
            self.tmux.run_many([argv for argv, _ in moves])
            for _, what in moves:
                self.note(phase, what)
            done = len(moves)
        except TmuxNotInstalled:
            raise
        except TmuxError as exc:
            self.note(
                phase,
                f"batched moves failed ({exc.stderr or exc}); retrying one by one",
                warning=True,
            )
            done = 0
            for argv, what in moves:
                try:
                    self.tmux.run(*argv)
                    self.note(phase, what)
                    done += 1
                except TmuxNotInstalled:
                    raise
                except TmuxError as err:
                    reason = err.stderr or str(err)
                    if "can't find" in reason:
                        reason += " (dead?)"
                    self.note(phase, f"{what}: failed: {reason}", ok=False)
        if mutating:
            self.moved += done
        return done

    # the registry
    def update_registry_windows(self, panes: Sequence[Pane]) -> None:
        """Set each entry's ``window`` to where its pane is now: ONE transaction, if needed."""
        live = {p.id: p.pid for p in panes if not p.dead}
        where = {p.id: p.window for p in panes if not p.dead}

        def stale(entries: dict) -> list[str]:
            keys = []
            for key, entry in entries.items():
                pane = entry.get("pane")
                if (
                    isinstance(pane, str)
                    and pane in where
                    and entry.get("window") != where[pane]
                    and identity_ok(entry, live)
                ):
                    keys.append(key)
            return keys

        if not stale(self.registry.load()):  # lock-free read: no lock taken when all is fine
            return
        with self.registry.transaction() as entries:
            keys = stale(entries)
            for key in keys:
                entries[key]["window"] = where[entries[key]["pane"]]
        if keys:
            self.note(
                "REGISTRY",
                f"updated the window of {len(keys)} registry entr"
                f"{'y' if len(keys) == 1 else 'ies'}",
            )

    # the run
    def run(
        self,
        columns: list[list[str]],
        resolve: Callable[[str], Resolved | None],
        window: str | None,
        focus: str | None,
    ) -> SyncResult:
        if not columns or any(not c for c in columns):
            raise SyncError("at least one --col required" if not columns else "empty column")
        snap = self.snapshot()
        by_id = {p.id: p for p in snap}
        live = {p.id: p.pid for p in snap if not p.dead}
        sessions = {p.session for p in snap}
        entries = self.registry.load()
        if self.accept is not None:  # e.g. agent-doc ignores entries outside its project
            entries = {k: v for k, v in entries.items() if self.accept(v)}

        # -- phase 1: resolve (column-major) ---------------------------------------------------
        cache: dict[str, Resolved | Unresolvable | None] = {}

        def resolve_once(f: str) -> Resolved | Unresolvable | None:
            if f not in cache:
                try:
                    cache[f] = resolve(f)
                except Unresolvable as exc:
                    cache[f] = exc
            return cache[f]

        unmanaged: set[str] = set()
        own: dict[str, str] = {}  # file -> live pane of its own entry
        doc_session: str | None = None
        files = all_files(columns)
        for f in files:
            r = resolve_once(f)
            if isinstance(r, Unresolvable):
                self.note("RESOLVE", f"{f}: skipped: {r}", warning=True)
                continue
            if r is None:
                unmanaged.add(f)
                continue
            if doc_session is None and r.tmux_session:
                doc_session = r.tmux_session
            entry = entries.get(r.key)
            if entry is None:
                self.note("RESOLVE", f"{f}: no pane registered for {r.key}", warning=True)
                continue
            pane = entry.get("pane")
            if identity_ok(entry, live):
                own[f] = str(pane)
            elif isinstance(pane, str) and pane in live:
                self.note(
                    "RESOLVE",
                    f"{f}: pane {pane} now runs another process "
                    f"(pid {live[pane]}, registered {entry.get('pid')}); ignored",
                    warning=True,
                )
            else:
                self.note("RESOLVE", f"{f}: pane {pane} is dead or missing", warning=True)

        # -- phase 1.5: same-column donors ------------------------------------------------------
        borrowed: dict[str, str] = {}
        for col in columns:
            donor = next((own[f] for f in col if f in own), None)
            for f in col:
                if f in own or f in unmanaged or donor is None:
                    continue
                if isinstance(cache.get(f), Resolved):
                    borrowed[f] = donor
                    self.note("RESOLVE", f"{f}: shares pane {donor} of its column")
        for f in files:
            r = cache.get(f)
            if isinstance(r, Resolved) and f not in own and f not in borrowed:
                # an error if it had a pane (now dead); a never-claimed file only warns
                had_pane = r.key in entries
                self.note(
                    "RESOLVE",
                    f"{f}: has no live pane and no pane in its column to share; left out",
                    ok=not had_pane,
                    warning=not had_pane,
                )
        file_pane = {**own, **borrowed}

        # focus
        focus_pane: str | None
        if focus is None:
            focus_pane = None  # the anchor, decided below
        elif focus in file_pane:
            focus_pane = file_pane[focus]
        else:
            r = resolve_once(focus)
            # a focus that cannot be read (a new unsaved editor tab, bad frontmatter) selects
            # the first pane of its column, as the reference does; an unmanaged file (no
            # session) leaves the selection alone
            donor = None
            if isinstance(r, Unresolvable):
                col = next((c for c in columns if focus in c), [])
                donor = next((file_pane[f] for f in col if f in file_pane), None)
            focus_pane = donor
            if donor is not None:
                self.note("SELECT", f"focus {focus} cannot be read ({r}); selecting {donor}, "
                          f"the first pane of its column", warning=True)
            elif r is not None:
                self.note(
                    "SELECT",
                    f"focus {focus} has no pane in this layout; selection left alone",
                    warning=True,
                )

        def early(pane: str | None) -> SyncResult:
            if pane:
                self.select(pane, snap)
            first = next((file_pane[f] for f in files if f in file_pane), None)
            win = by_id[first].window if first and first in by_id else ""
            return SyncResult(
                target_session=doc_session or (by_id[first].session if first in by_id else ""),
                target_window=win,
                log=self.log,
                moved=self.moved,
                resolved=own,
                borrowed=borrowed,
                focus_pane=pane,
            )

        # -- early exits -------------------------------------------------------------------------
        if len(files) == 1 and window is None:
            return early(file_pane.get(files[0]))
        if len(file_pane) < 2:
            if focus is None:
                first = next((file_pane[f] for f in files if f in file_pane), None)
                return early(first)
            return early(focus_pane)

        # -- phase 3: columns of panes ------------------------------------------------------------
        seen: set[str] = set()
        pane_cols: list[list[str]] = []
        for col in columns:
            pc = []
            for f in col:
                p = file_pane.get(f)
                if p and p not in seen:
                    seen.add(p)
                    pc.append(p)
            if pc:
                pane_cols.append(pc)
        desired = [p for c in pane_cols for p in c]
        if not desired:
            raise SyncError("no resolved panes to arrange")
        if focus is None:
            focus_pane = desired[0]
        if len(desired) == 1:
            return early(desired[0])
        wanted = set(desired)
        anchor = desired[0]

        # -- phase 4: target session and window ----------------------------------------------------
        win_id: str | None = None
        if window is not None:
            if any(p.window == window for p in snap):
                win_id = window
            elif window in by_id:
                win_id = by_id[window].window
            else:
                found = self.window_panes(window)
                win_id = found[0].window if found else None
            if win_id is None:
                self.note(
                    "TARGET", f"window {window} is dead; choosing the best window", warning=True
                )
        target_session: str
        if doc_session and doc_session in sessions:
            target_session = doc_session
        else:
            if doc_session:
                self.note("TARGET", f"session {doc_session} is not running", warning=True)
            if win_id is not None:
                target_session = next(p.session for p in snap if p.window == win_id)
            else:
                target_session = by_id[anchor].session
        if win_id is None:
            win_id = self.best_window(desired, snap, target_session)
        stash_names = {p.window for p in snap if p.window_name == STASH_WINDOW}
        if win_id in stash_names:
            # never lay out inside a stash: give the anchor a window of its own
            try:
                win_id = self.tmux.break_pane(anchor)
                self.note("TARGET", f"{anchor} left the stash for window {win_id}")
                self.moved += 1
            except TmuxError as exc:
                self.note("TARGET", f"could not take {anchor} out of the stash: {exc}", ok=False)
        w_session = next((p.session for p in snap if p.window == win_id), target_session)
        if w_session != target_session:
            self.note(
                "TARGET",
                f"window {win_id} is in session {w_session}, not {target_session}",
                warning=True,
            )
            target_session = w_session

        # -- phase 5: reconcile -----------------------------------------------------------------
        # the first snapshot still describes the window unless we moved a pane out of the stash
        known = snap if self.moved == 0 else None
        fast = self.reconcile(win_id, pane_cols, wanted, target_session, focus_pane, known)

        # -- verify and registry -------------------------------------------------------------------
        final = snap if fast else self.snapshot()  # the fast path changed nothing
        in_w = sorted((p for p in final if p.window == win_id), key=lambda p: (p.left, p.top))
        got = structure_of(in_w)
        if got == pane_cols:
            self.note("VERIFY", f"window {win_id} shows {pane_cols}")
        else:
            shown = got if got is not None else [p.id for p in in_w]
            self.note("VERIFY", f"window {win_id} shows {shown}, expected {pane_cols}", ok=False)
        if not fast:
            self.select(focus_pane, final, phase="FOCUS")
        self.update_registry_windows(final)
        return SyncResult(
            target_session=target_session,
            target_window=win_id,
            log=self.log,
            moved=self.moved,
            panes=pane_cols,
            resolved=own,
            borrowed=borrowed,
            focus_pane=focus_pane,
            fast_path=fast,
        )

    def best_window(self, desired: list[str], snap: Sequence[Pane], session: str) -> str:
        """The window holding most wanted panes (ties: most panes, then column order)."""
        by_id = {p.id: p for p in snap}
        stash = {p.window for p in snap if p.window_name == STASH_WINDOW}
        total: dict[str, int] = {}
        for p in snap:
            total[p.window] = total.get(p.window, 0) + 1
        candidates = [p for p in desired if by_id[p].session == session] or desired
        count: dict[str, int] = {}
        order: list[str] = []
        for pane_id in candidates:
            w = by_id[pane_id].window
            if w not in count:
                order.append(w)
            count[w] = count.get(w, 0) + 1
        # max() keeps the first of equal keys: column order breaks the remaining ties
        return max(order, key=lambda w: (w not in stash, count[w], total[w]))

    def reconcile(
        self,
        win: str,
        cols: list[list[str]],
        wanted: set[str],
        session: str,
        focus: str | None,
        snap: Sequence[Pane] | None = None,
    ) -> bool:
        """Make ``win`` show ``cols``. Returns True for the fast path (nothing changed).

        ``snap`` is a current snapshot of all panes, if the caller has one (saves a call).
        """
        if snap is not None:
            current = sorted((p for p in snap if p.window == win), key=lambda p: (p.left, p.top))
        else:
            current = self.window_panes(win)
        self.note("SNAPSHOT", f"window {win}: {[p.id for p in current]}")
        if structure_of(current) == cols:
            self.note("FAST", "layout already matches; nothing to do")
            self.select(focus, current)
            return True

        anchor = cols[0][0]
        position = {p: (c, r) for c, col in enumerate(cols) for r, p in enumerate(col)}

        present: set[str] = set()  # desired panes already placed, in move order

        def join_move(p: str) -> tuple[list[str], str]:
            c, r = position[p]
            if r > 0 and cols[c][r - 1] in present:
                prev = cols[c][r - 1]
                return (
                    ["join-pane", "-d", "-v", "-s", p, "-t", prev],
                    f"{p} below {prev} (column {c + 1})",
                )
            return (
                ["join-pane", "-d", "-h", "-f", "-s", p, "-t", anchor],
                f"{p} as column {c + 1}",
            )

        # ATTACH: desired panes that are elsewhere come into the window
        in_w = {p.id for p in current}
        moves: list[tuple[list[str], str]] = []
        if anchor not in in_w:
            if current:
                first = current[0].id
                moves.append(
                    (
                        ["join-pane", "-d", "-b", "-h", "-s", anchor, "-t", first],
                        f"{anchor} joined window {win}",
                    )
                )
            else:
                self.note("ATTACH", f"window {win} has no panes", ok=False)
                return False
        present.update(p for p in in_w if p in wanted)
        present.add(anchor)
        for p in (p for col in cols for p in col):
            if p != anchor and p not in in_w:
                moves.append(join_move(p))
                present.add(p)
        self.apply("ATTACH", moves)

        current = self.window_panes(win)
        in_w = {p.id for p in current}
        if anchor not in in_w:
            self.note("ATTACH", f"{anchor} is not in window {win}; layout left as is", ok=False)
            return False

        # SELECT before evicting, so tmux does not move the selection around
        unwanted = [p.id for p in current if p.id not in wanted]
        if unwanted:
            self.select(focus, current)
            # DETACH: everything else goes to the stash, alive
            for p in unwanted:
                try:
                    where = self.tmux.stash_pane(p, session)
                    self.note("DETACH", f"{p} stashed (window {where})")
                    self.moved += 1
                except TmuxNotInstalled:
                    raise
                except TmuxError as exc:
                    self.note("DETACH", f"could not stash {p}: {exc.stderr or exc}", ok=False)
            current = self.window_panes(win)

        # REORDER: rebuild the column tree inside the window (anchor stays, others move)
        if structure_of(current) != cols:
            in_w = {p.id for p in current}
            present.clear()
            present.add(anchor)
            reorder = []
            for p in (p for col in cols for p in col):
                if p != anchor and p in in_w:
                    reorder.append(join_move(p))
                    present.add(p)
            self.apply("REORDER", reorder)
            current = self.window_panes(win)

        # sizes: every column 1/N of the width, every row 1/k of its column (in cells)
        if current:
            width = max(p.left + p.width for p in current)
            height = max(p.top + p.height for p in current)
            in_w = {p.id for p in current}
            shown = [[p for p in col if p in in_w] for col in cols]
            shown = [c for c in shown if c]  # empty if the panes died meanwhile
            resizes: list[tuple[list[str], str]] = []
            widths = _split_evenly(width, len(shown))
            for i, col in enumerate(shown[:-1]):
                resizes.append(
                    (
                        ["resize-pane", "-t", col[0], "-x", str(widths[i])],
                        f"column {i + 1} width {widths[i]}",
                    )
                )
            for i, col in enumerate(shown):
                heights = _split_evenly(height, len(col))
                for j, p in enumerate(col[:-1]):
                    resizes.append(
                        (
                            ["resize-pane", "-t", p, "-y", str(heights[j])],
                            f"column {i + 1} row {j + 1} height {heights[j]}",
                        )
                    )
            self.apply("SIZE", resizes)
        return False


def sync(
    tmux: Tmux,
    registry: Registry,
    columns: list[list[str]],
    resolve: Callable[[str], Resolved | None],
    *,
    window: str | None = None,
    focus: str | None = None,
    on_log: Callable[[SyncLogEntry], None] | None = None,
    accept: Callable[[dict], bool] | None = None,
) -> SyncResult:
    """Arrange the panes of ``columns`` (files, column-major) in one window.

    ``resolve(file)`` returns :class:`Resolved` for a managed file, None for an unmanaged one,
    and raises :class:`Unresolvable` for one it cannot read. ``window`` names the target window
    (used if alive); ``focus`` the file whose pane ends selected (an unmanaged focus leaves the
    selection alone; one that cannot be read selects the first pane of its column).
    ``on_log`` sees each log entry as it happens; ``accept(entry)``, when given, says which
    registry entries may be used at all (the others are ignored). Raises :class:`SyncError`
    when there is nothing to arrange, :class:`~tmux_router.tmux.NoServer` /
    :class:`~tmux_router.tmux.TmuxNotInstalled` when tmux cannot be reached.
    """
    return _Sync(tmux, registry, on_log, accept).run(columns, resolve, window, focus)


def print_log(entry: SyncLogEntry) -> None:
    """An ``on_log`` that echoes entries to stderr as ``[sync:PHASE] message``."""
    print(entry, file=sys.stderr)
