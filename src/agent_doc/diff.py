"""The line diff between the snapshot and the document (Part B §4.2), comments stripped (§4.1).

Public functions:

* :func:`compute` — a unified diff (``--- snapshot`` / ``+++ document``, ``@@`` hunks, 3 lines
  of context, ``\\ No newline at end of file`` like git) of the comment-stripped texts, or None
  when the stripped texts are equal (whitespace-only changes count, comment-only changes don't);
* :func:`compute_full` — the reference's full listing (§4.2 step 7): every line prefixed ``-``,
  ``+`` or a space, deletions before insertions in a replaced block. **Deviation:** a last line
  without a newline gets one, so two prefixes never share an output line;
* :func:`has_changes`, :func:`stat`, and :func:`line_opcodes` (the matcher itself, on any two
  sequences of hashable items; used by the tests' property check).

Why not :mod:`difflib` (measured on 100k-line documents, 2-core machine, LIBRARIES.md): one
small edit 0.35 s, 1 % of the lines edited 22.6 s, 10 % 69 s; its "autojunk" heuristic also
turns a one-line edit in repetitive text into a 10,006-line diff. ``git diff --no-index`` is
fast (0.05–0.1 s) but costs a subprocess and temporary files, and the reference's Myers is
Rust. This matcher is pure Python; ``python bench/bench_diff.py`` prints the figures. Each
region of the two line lists goes through:

1. trim the common prefix and suffix (galloping slice comparisons: memcmp speed);
2. a large region is anchored on lines that occur exactly once on each side (the *patience*
   idea, with a longest increasing subsequence when lines moved). Above SAMPLE_MIN lines the
   anchors are looked for among a content-defined sample of one line in SAMPLE_EVERY, since
   hashing every line of a big document is the most expensive step; runs of anchors on one
   diagonal are checked with one slice compare, and the gaps between anchors (usually a few
   lines around one edit) are trimmed and matched in place;
3. tiny regions get an exact LCS table; the others Myers' O(ND) algorithm in its
   linear-space, bidirectional form ("middle snake"), after a cheap "nothing in common" test.
   Myers is minimal; past MAX_COST rounds in one split it takes the furthest-reaching point
   (xdiff's heuristic), and a large region without anchors that hits that bound is matched
   in CHUNK-line pieces along its diagonal; WORK_BUDGET caps the total. Time stays bounded on
   any input (random two-line alphabets, shuffles, 10 % of 100k identical lines edited: all
   well under a second), and diffs are minimal whenever the edit distance is moderate.

Correctness is checked by property tests (the opcodes rebuild the new side; matches equal
the LCS length on small inputs) in ``tests/test_diff.py``. The module imports only
``bisect``, ``itertools``, ``operator`` and :mod:`agent_doc.comments` (``diff`` is a hotkey
command).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Sequence
from itertools import compress, islice, repeat
from operator import add, and_, eq, lt, ne, not_, sub

from agent_doc.comments import strip_comments

Opcode = tuple[str, int, int, int, int]
#: (i, j, n): a[i:i+n] == b[j:j+n]
Run = tuple[int, int, int]

HEADER = "--- snapshot\n+++ document\n"
CONTEXT = 3
NO_NEWLINE = "\\ No newline at end of file\n"

#: regions with more lines than this (both sides together) are anchored on unique lines first
#: (smaller ones go to Myers or the LCS table, which are minimal)
PATIENCE_MIN = 32
#: Myers: past this many rounds (edit cost) in one split, take the furthest-reaching point
MAX_COST = 64
#: regions with more lines than this are anchored on a sample of their lines ...
SAMPLE_MIN = 4096
#: ... of about one line in this many (a power of two)
SAMPLE_EVERY = 8
#: regions with at most this many cells (lines x lines) use a plain LCS table
SMALL_LCS = 64
#: nesting limit for anchoring inside the gaps between anchors (then Myers alone)
MAX_DEPTH = 50
#: lines per side of the chunks a large region without anchors is cut into (see region())
CHUNK = 32
#: Myers: total work (diagonals visited + snake steps; ~1M per second) before the remaining
#: regions are reported as replaced
WORK_BUDGET = 4_000_000

_SPLIT_CHARS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` split on ``\\n`` only, each keeping its ``\\n`` (the last may lack it)."""
    if not any(c in text for c in _SPLIT_CHARS):
        return text.splitlines(True)  # same result, at C speed
    parts = text.split("\n")
    last = parts.pop()
    lines = [p + "\n" for p in parts]
    if last:
        lines.append(last)
    return lines


# -- the matcher ----------------------------------------------------------------------------------


def _common_prefix(a: Sequence[Hashable], alo: int, ahi: int,
                   b: Sequence[Hashable], blo: int, bhi: int) -> int:
    """Length of the common prefix of a[alo:ahi] and b[blo:bhi]."""
    n = min(ahi - alo, bhi - blo)
    k = 0
    step = 16
    while k < n:  # gallop with slice comparisons (C speed), then refine item by item
        s = min(step, n - k)
        if a[alo + k : alo + k + s] == b[blo + k : blo + k + s]:
            k += s
            step *= 2
        elif s <= 16:
            while k < n and a[alo + k] == b[blo + k]:
                k += 1
            return k
        else:
            step = 16
    return k


def _common_suffix(a: Sequence[Hashable], alo: int, ahi: int,
                   b: Sequence[Hashable], blo: int, bhi: int) -> int:
    """Length of the common suffix of a[alo:ahi] and b[blo:bhi]."""
    n = min(ahi - alo, bhi - blo)
    k = 0
    step = 16
    while k < n:
        s = min(step, n - k)
        if a[ahi - k - s : ahi - k] == b[bhi - k - s : bhi - k]:
            k += s
            step *= 2
        elif s <= 16:
            while k < n and a[ahi - k - 1] == b[bhi - k - 1]:
                k += 1
            return k
        else:
            step = 16
    return k


def _intern(a: Sequence[Hashable], b: Sequence[Hashable]) -> tuple[list[int], list[int]]:
    """Replace items by ints: an item of ``b`` by its last position in ``b``; an item of ``a``
    by the same number, or -1 if ``b`` does not have it (so -1 never matches)."""
    ids = dict(zip(b, range(len(b)), strict=True))
    return list(map(ids.get, a, repeat(-1))), list(map(ids.__getitem__, b))


def _unique_anchors(a: list[int], b: list[int]) -> tuple[list[int], list[int]] | None:
    """Positions ``(idx, js)`` of the items unique in both ``a`` and ``b``, increasing in both
    (the longest such chain if some moved), or None if there is none.

    Works on interned sequences (:func:`_intern`). Everything here runs in C loops (map,
    compress, Counter): a Python loop over 100k lines is several times slower per pass
    (bench/bench_diff.py measures it).
    """
    na, nb = len(a), len(b)
    # An id is the last position of its item in b, so the ids found at any other position
    # are exactly the items b has more than once.
    bad = set(compress(b, map(ne, b, range(nb))))
    bad.add(-1)  # not in b at all
    mask = list(map(not_, map(bad.__contains__, a)))
    js = list(compress(a, mask))
    if not js:
        return None
    if all(map(lt, js, islice(js, 1, None))):
        # strictly increasing: no item of a repeats either, and nothing moved
        return list(compress(range(na), mask)), js
    from collections import Counter  # already loaded by argparse/re in the CLI

    ca = Counter(a)
    mask = list(map(and_, mask, map(eq, map(ca.__getitem__, a), repeat(1))))
    idx = list(compress(range(na), mask))
    if not idx:
        return None
    js = list(compress(a, mask))
    if all(map(lt, js, islice(js, 1, None))):
        return idx, js
    # longest increasing subsequence (patience sorting with back-pointers)
    tails: list[int] = []
    tails_at: list[int] = []
    back = [-1] * len(js)
    for k, j in enumerate(js):
        p = bisect_left(tails, j)
        if p == len(tails):
            tails.append(j)
            tails_at.append(k)
        else:
            tails[p] = j
            tails_at[p] = k
        back[k] = tails_at[p - 1] if p else -1
    keep: list[int] = []
    k = tails_at[-1]
    while k >= 0:
        keep.append(k)
        k = back[k]
    keep.reverse()
    return [idx[k] for k in keep], [js[k] for k in keep]


class _Myers:
    """Split points for Myers' linear-space algorithm on one pair of sequences."""

    def __init__(self, a: Sequence[Hashable], b: Sequence[Hashable]) -> None:
        self.a = a
        self.b = b
        size = len(a) + len(b) + 3
        self.base = len(b) + 1  # index of diagonal 0 (diagonal d = i - j)
        self.fwd = [0] * size
        self.bwd = [0] * size
        self.work = 0
        self.exact = True  # whether the last split was on a shortest path

    def split(self, off1: int, lim1: int, off2: int, lim2: int) -> tuple[int, int]:
        """A point (i, j) on a shortest (or, past MAX_COST, a good) edit path.

        Preconditions: both ranges non-empty, no common prefix or suffix. The point is never
        (off1, off2) nor (lim1, lim2), so both halves are strictly smaller problems.
        """
        a, b, fwd, bwd, base = self.a, self.b, self.fwd, self.bwd, self.base
        self.exact = True
        dmin, dmax = off1 - lim2, lim1 - off2
        fmid, bmid = off1 - off2, lim1 - lim2
        odd = (fmid - bmid) & 1
        fmin = fmax = fmid
        bmin = bmax = bmid
        fwd[fmid + base] = off1
        bwd[bmid + base] = lim1
        big = lim1 + 1
        ec = 0
        work = 0
        while True:
            ec += 1
            # forward: extend the reachable diagonal range by one on each side if possible
            if fmin > dmin:
                fmin -= 1
                fwd[fmin - 1 + base] = -1
            else:
                fmin += 1
            if fmax < dmax:
                fmax += 1
                fwd[fmax + 1 + base] = -1
            else:
                fmax -= 1
            for d in range(fmax, fmin - 1, -2):
                lo, hi = fwd[d - 1 + base], fwd[d + 1 + base]
                i1 = lo + 1 if lo >= hi else hi
                i2 = i1 - d
                start = i1
                while i1 < lim1 and i2 < lim2 and a[i1] == b[i2]:
                    i1 += 1
                    i2 += 1
                work += i1 - start + 1
                fwd[d + base] = i1
                if odd and bmin <= d <= bmax and bwd[d + base] <= i1:
                    self.work += work
                    return i1, i2
            # backward
            if bmin > dmin:
                bmin -= 1
                bwd[bmin - 1 + base] = big
            else:
                bmin += 1
            if bmax < dmax:
                bmax += 1
                bwd[bmax + 1 + base] = big
            else:
                bmax -= 1
            for d in range(bmax, bmin - 1, -2):
                lo, hi = bwd[d - 1 + base], bwd[d + 1 + base]
                i1 = lo if lo < hi else hi - 1
                i2 = i1 - d
                start = i1
                while i1 > off1 and i2 > off2 and a[i1 - 1] == b[i2 - 1]:
                    i1 -= 1
                    i2 -= 1
                work += start - i1 + 1
                bwd[d + base] = i1
                if not odd and fmin <= d <= fmax and i1 <= fwd[d + base]:
                    self.work += work
                    return i1, i2
            if ec >= MAX_COST:
                self.work += work
                self.exact = False
                return self._best_point(off1, lim1, off2, lim2, fmin, fmax, bmin, bmax)

    def _best_point(self, off1: int, lim1: int, off2: int, lim2: int,
                    fmin: int, fmax: int, bmin: int, bmax: int) -> tuple[int, int]:
        """The furthest-reaching point of either search (the cost bound was reached)."""
        fwd, bwd, base = self.fwd, self.bwd, self.base
        fbest, fbest1 = -1, off1
        for d in range(fmax, fmin - 1, -2):
            i1 = min(fwd[d + base], lim1)
            i2 = i1 - d
            if i2 > lim2:
                i1, i2 = lim2 + d, lim2
            if i1 + i2 > fbest:
                fbest, fbest1 = i1 + i2, i1
        bbest, bbest1 = lim1 + lim2 + 1, lim1
        for d in range(bmax, bmin - 1, -2):
            i1 = max(off1, bwd[d + base])
            i2 = i1 - d
            if i2 < off2:
                i1, i2 = off2 + d, off2
            if i1 + i2 < bbest:
                bbest, bbest1 = i1 + i2, i1
        if (lim1 + lim2) - bbest < fbest - (off1 + off2):
            return fbest1, fbest - fbest1
        return bbest1, bbest - bbest1


def matching_runs(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Run]:
    """Maximal runs ``(i, j, n)`` with ``a[i:i+n] == b[j:j+n]``, increasing in i and j."""
    if not isinstance(a, list):
        a = list(a)  # slices of one type compare (a tuple never equals a list)
    if not isinstance(b, list):
        b = list(b)
    la, lb = len(a), len(b)
    head = _common_prefix(a, 0, la, b, 0, lb)
    tail = _common_suffix(a, head, la, b, head, lb)
    runs: list[Run] = [(0, 0, head)] if head else []
    if head < la and head < lb and tail < la - head and tail < lb - head:
        _Matcher(a, b, runs).region(head, la - tail, head, lb - tail, 0)
    if tail:
        _add_run(runs, (la - tail, lb - tail, tail))
    return runs


def _add_run(runs: list[Run], run: Run) -> None:
    if runs:
        i, j, n = runs[-1]
        if i + n == run[0] and j + n == run[1]:
            runs[-1] = (i, j, n + run[2])
            return
    runs.append(run)


def _sample(seq: Sequence[Hashable], lo: int, hi: int) -> list[int]:
    """Positions in [lo, hi) of about one item in SAMPLE_EVERY, chosen by content.

    The choice depends on the item alone, so every copy of an item is in or out together: an
    item unique among the sampled ones is unique in the whole range. Lines are chosen by
    their length, which costs nothing; hashing them all would cost as much as interning them
    (computing a string's hash the first time is the bulk of any dict work on new lines).
    """
    part = seq[lo:hi]
    key = len if part and isinstance(part[0], str) else hash
    mask = map(not_, map(and_, map(key, part), repeat(SAMPLE_EVERY - 1)))  # type: ignore[arg-type]
    return list(compress(range(lo, hi), mask))


class _Matcher:
    """Appends the matching runs of regions of ``a`` and ``b`` to ``runs``, left to right."""

    def __init__(self, a: Sequence[Hashable], b: Sequence[Hashable], runs: list[Run]) -> None:
        self.a = a
        self.b = b
        self.runs = runs
        self.myers: _Myers | None = None

    def add(self, i: int, j: int, n: int) -> None:
        runs = self.runs
        if runs:
            pi, pj, pn = runs[-1]
            if pi + pn == i and pj + pn == j:
                runs[-1] = (pi, pj, pn + n)
                return
        runs.append((i, j, n))

    def region(self, alo: int, ahi: int, blo: int, bhi: int, depth: int) -> None:
        """Match a[alo:ahi] against b[blo:bhi]. Regions are processed leftmost first (an
        explicit stack holds the regions and runs still to come), so runs arrive in order."""
        a, b = self.a, self.b
        stack: list[tuple[int, ...]] = [(alo, ahi, blo, bhi)]
        while stack:
            item = stack.pop()
            if len(item) == 3:
                self.add(*item)
                continue
            alo, ahi, blo, bhi = item
            if alo == ahi or blo == bhi:
                continue
            if a[alo] == b[blo]:
                k = _common_prefix(a, alo, ahi, b, blo, bhi)
                self.add(alo, blo, k)
                alo += k
                blo += k
                if alo == ahi or blo == bhi:
                    continue
            if a[ahi - 1] == b[bhi - 1]:
                k = _common_suffix(a, alo, ahi, b, blo, bhi)
                stack.append((ahi - k, bhi - k, k))
                ahi -= k
                bhi -= k
                if alo == ahi or blo == bhi:
                    continue
            if ahi - alo == 1 or bhi - blo == 1:
                self._single_line(alo, ahi, blo, bhi)
                continue
            if (ahi - alo) * (bhi - blo) <= SMALL_LCS:
                self._small(alo, ahi, blo, bhi)
                continue
            if (ahi - alo) + (bhi - blo) > PATIENCE_MIN and depth < MAX_DEPTH:
                anchors = self._anchors(alo, ahi, blo, bhi)
                if anchors is not None:
                    self._anchored(anchors[0], anchors[1], alo, ahi, blo, bhi, depth)
                    continue
            if set(a[alo:ahi]).isdisjoint(b[blo:bhi]):
                continue  # nothing in common (cheap to see; Myers would search a long time)
            myers = self.myers
            if myers is None:
                myers = self.myers = _Myers(a, b)
            if myers.work > WORK_BUDGET:
                continue  # bounded time: report the rest of this region as replaced
            i, j = myers.split(alo, ahi, blo, bhi)
            n, m = ahi - alo, bhi - blo
            if not myers.exact and n + m > 4 * CHUNK:
                # A large region without anchors and with many differences (repetitive text,
                # e.g. 10 % of 100k identical lines replaced): Myers would take seconds here.
                # Match it piecewise along its main diagonal instead, in chunks of CHUNK
                # lines: exact when the edits keep lines in place, bounded time in any case.
                count = -(-max(n, m) // CHUNK)
                for c in range(count - 1, -1, -1):
                    stack.append((alo + n * c // count, alo + n * (c + 1) // count,
                                  blo + m * c // count, blo + m * (c + 1) // count))
                continue
            stack.append((i, ahi, j, bhi))
            stack.append((alo, i, blo, j))

    def _single_line(self, alo: int, ahi: int, blo: int, bhi: int) -> None:
        """One line against several (trimmed, so not at either end): it matches at most once."""
        a, b = self.a, self.b
        if ahi - alo == 1:
            x = a[alo]
            for j in range(blo, bhi):
                if b[j] == x:
                    self.add(alo, j, 1)
                    return
            return
        x = b[blo]
        for i in range(alo, ahi):
            if a[i] == x:
                self.add(i, blo, 1)
                return

    def _small(self, alo: int, ahi: int, blo: int, bhi: int) -> None:
        """A longest common subsequence by dynamic programming, for tiny regions (the
        typical edited gap), where setting up Myers' search costs more than filling the
        table. Only the lines present on both sides take part. Minimal, like Myers."""
        sa = self.a[alo:ahi]
        sb = self.b[blo:bhi]
        common = set(sa).intersection(sb)
        if not common:
            return  # the usual case: the edited lines have nothing in common
        pa = [i for i, x in enumerate(sa, alo) if x in common]
        pb = [j for j, x in enumerate(sb, blo) if x in common]
        fa = [self.a[i] for i in pa]
        fb = [self.b[j] for j in pb]
        n, m = len(fa), len(fb)
        # rows[k][c]: LCS length of fa[k:] and fb[c:]
        rows = [[0] * (m + 1) for _ in range(n + 1)]
        for k in range(n - 1, -1, -1):
            x = fa[k]
            row, below = rows[k], rows[k + 1]
            for c in range(m - 1, -1, -1):
                if fb[c] == x:
                    row[c] = below[c + 1] + 1
                else:
                    r, d = row[c + 1], below[c]
                    row[c] = r if r > d else d
        k = c = 0
        while k < n and c < m:
            if fa[k] == fb[c]:
                self.add(pa[k], pb[c], 1)
                k += 1
                c += 1
            elif rows[k + 1][c] >= rows[k][c + 1]:
                k += 1
            else:
                c += 1

    def _anchors(self, alo: int, ahi: int, blo: int, bhi: int
                 ) -> tuple[list[int], list[int]] | None:
        """Anchor positions (lines unique on both sides) for a large region, or None.

        Regions of SAMPLE_MIN lines or more are anchored on a content-defined sample of about
        one line in SAMPLE_EVERY (:func:`_sample`): on a 100k-line document, hashing and
        locating every line costs more than everything else together, while the lines
        between anchors are compared by slices (memcmp) anyway. A sample much smaller than
        expected (line lengths that cluster) or without anchors falls back to all lines.
        """
        a, b = self.a, self.b
        size = (ahi - alo) + (bhi - blo)
        if size >= SAMPLE_MIN:
            pa, pb = _sample(a, alo, ahi), _sample(b, blo, bhi)
            if (len(pa) + len(pb)) * SAMPLE_EVERY * 4 >= size:
                found = _unique_anchors(*_intern(list(map(a.__getitem__, pa)),
                                                 list(map(b.__getitem__, pb))))
                if found is not None:
                    return list(map(pa.__getitem__, found[0])), list(map(pb.__getitem__, found[1]))
        found = _unique_anchors(*_intern(a[alo:ahi], b[blo:bhi]))
        if found is None:
            return None
        return list(map(add, found[0], repeat(alo))), list(map(add, found[1], repeat(blo)))

    def _anchored(self, idx: list[int], js: list[int],
                  alo: int, ahi: int, blo: int, bhi: int, depth: int) -> None:
        """Runs along the anchors; the gaps between them are matched by :meth:`_gap`.

        Anchors that follow each other on both sides form *units*; units on one diagonal
        (same i - j) form a *group*, usually equal from its first to its last line: one slice
        compare then covers the whole group. Otherwise the group is walked unit by unit.
        """
        a, b = self.a, self.b
        add_run = self.add
        m = len(idx)
        both = list(map(add, idx, js))
        starts = [0, *compress(range(1, m), map(ne, map(sub, both[1:], both), repeat(2)))]
        ends = [*starts[1:], m]
        ui = list(map(idx.__getitem__, starts))
        uj = list(map(js.__getitem__, starts))
        un = list(map(sub, ends, starts))
        nu = len(ui)
        diag = list(map(sub, ui, uj))
        gstarts = [0, *compress(range(1, nu), map(ne, diag[1:], diag))]
        gends = [*gstarts[1:], nu]
        depth += 1
        pi, pj = alo, blo  # end of the part already matched
        for gs, ge in zip(gstarts, gends, strict=True):
            i0, j0 = ui[gs], uj[gs]
            if i0 != pi and j0 != pj:
                self._gap(pi, i0, pj, j0, depth)
            last = ge - 1
            i1, j1 = ui[last] + un[last], uj[last] + un[last]
            if ge - gs == 1 or a[i0:i1] == b[j0:j1]:
                add_run(i0, j0, i1 - i0)
                pi, pj = i1, j1
                continue
            ri, rj = i0, j0  # start of the run being built
            pi, pj = i0 + un[gs], j0 + un[gs]
            for u in range(gs + 1, ge):
                i, j = ui[u], uj[u]
                # a gap, as long on both sides (same diagonal); if equal, the run goes on
                if i != pi and a[pi:i] != b[pj:j]:
                    add_run(ri, rj, pi - ri)
                    if i - pi > 1:  # one line on each side: known to differ
                        self._gap(pi, i, pj, j, depth)
                    ri, rj = i, j
                pi, pj = i + un[u], j + un[u]
            add_run(ri, rj, pi - ri)
        if pi != ahi and pj != bhi:
            self._gap(pi, ahi, pj, bhi, depth)

    def _gap(self, alo: int, ahi: int, blo: int, bhi: int, depth: int) -> None:
        """A gap between anchors: usually a few lines with one edit. Trimmed inline and
        matched by the LCS table when tiny; larger ones are regions of their own."""
        if ahi - alo > 16 or bhi - blo > 16:
            self.region(alo, ahi, blo, bhi, depth)
            return
        a, b = self.a, self.b
        x, y = alo, blo
        while x < ahi and y < bhi and a[x] == b[y]:
            x += 1
            y += 1
        if x > alo:
            self.add(alo, blo, x - alo)
        xe, ye = ahi, bhi
        while xe > x and ye > y and a[xe - 1] == b[ye - 1]:
            xe -= 1
            ye -= 1
        if x < xe and y < ye and (xe - x > 1 or ye - y > 1):
            self._small(x, xe, y, ye)
        if xe < ahi:
            self.add(xe, ye, ahi - xe)


def changed_blocks(runs: list[Run], la: int, lb: int) -> list[tuple[int, int, int, int]]:
    """The blocks between matching runs: ``(i1, i2, j1, j2)``, a[i1:i2] replaced by b[j1:j2]."""
    blocks: list[tuple[int, int, int, int]] = []
    i = j = 0
    for ai, bj, n in runs:
        if i != ai or j != bj:
            blocks.append((i, ai, j, bj))
        i, j = ai + n, bj + n
    if i != la or j != lb:
        blocks.append((i, la, j, lb))
    return blocks


def opcodes_from_runs(runs: list[Run], la: int, lb: int) -> list[Opcode]:
    """difflib-style opcodes; a replaced block lists its deletions before its insertions."""
    ops: list[Opcode] = []
    i = j = 0
    for ai, bj, n in [*runs, (la, lb, 0)]:
        if i < ai and j < bj:
            ops.append(("replace", i, ai, j, bj))
        elif i < ai:
            ops.append(("delete", i, ai, j, bj))
        elif j < bj:
            ops.append(("insert", i, ai, j, bj))
        if n:
            ops.append(("equal", ai, ai + n, bj, bj + n))
        i, j = ai + n, bj + n
    return ops


def line_opcodes(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Opcode]:
    """Opcodes ``(tag, i1, i2, j1, j2)`` turning ``a`` into ``b`` (tags as in difflib)."""
    return opcodes_from_runs(matching_runs(a, b), len(a), len(b))


# -- output ---------------------------------------------------------------------------------------


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


def _mark_last(lines: list[str], eof: str) -> list[str]:
    """``lines`` with ``eof`` appended to a last line that lacks its ``\n`` (a copy if so)."""
    if lines and not lines[-1].endswith("\n"):
        return [*lines[:-1], lines[-1] + eof]
    return lines


def unified(a: list[str], b: list[str], context: int = CONTEXT,
            header: str = HEADER) -> str | None:
    """Unified diff of two line lists (lines keep their ``\n``); None if they are equal."""
    blocks = changed_blocks(matching_runs(a, b), len(a), len(b))
    if not blocks:
        return None
    # git's marker goes after a last line without newline, whatever its prefix
    a = _mark_last(a, "\n" + NO_NEWLINE)
    b = _mark_last(b, "\n" + NO_NEWLINE)
    la = len(a)
    out: list[str] = [header]
    put = out.append
    gap = 2 * context
    # One pass over the blocks (10,000 of them for 10 % of a 100k-line document): a block
    # more than 2*context equal lines after the previous one starts a new hunk, whose header
    # is filled in when the hunk is complete.
    at = -1  # index in out of the current hunk's header
    hi1 = hj1 = pi2 = pj2 = 0  # start of the current hunk; end of the previous block
    for bi1, bi2, bj1, bj2 in blocks:
        if at < 0 or bi1 - pi2 > gap:
            if at >= 0:
                trail = min(context, la - pi2)
                if trail:
                    put(" " + " ".join(a[pi2 : pi2 + trail]))
                out[at] = _hunk_header(hi1, pi2 + trail, hj1, pj2 + trail)
            lead = min(context, bi1)
            hi1, hj1 = bi1 - lead, bj1 - lead
            at = len(out)
            put("")
            if lead:
                put(" " + " ".join(a[hi1:bi1]))
        elif bi1 > pi2:
            put(" " + " ".join(a[pi2:bi1]))
        if bi2 - bi1 == 1:
            put("-" + a[bi1])
        elif bi2 > bi1:
            put("-" + "-".join(a[bi1:bi2]))
        if bj2 - bj1 == 1:
            put("+" + b[bj1])
        elif bj2 > bj1:
            put("+" + "+".join(b[bj1:bj2]))
        pi2, pj2 = bi2, bj2
    trail = min(context, la - pi2)
    if trail:
        put(" " + " ".join(a[pi2 : pi2 + trail]))
    out[at] = _hunk_header(hi1, pi2 + trail, hj1, pj2 + trail)
    return "".join(out)


def _hunk_header(i1: int, i2: int, j1: int, j2: int) -> str:
    return f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n"


def _stripped_lines(base: str | None, current: str) -> tuple[list[str], list[str]] | None:
    old = strip_comments(base or "")
    new = strip_comments(current)
    if old == new:
        return None
    return split_lines(old), split_lines(new)


def compute(base: str | None, current: str) -> str | None:
    """Unified diff of the comment-stripped snapshot (``base``; None = empty) and document."""
    pair = _stripped_lines(base, current)
    if pair is None:
        return None
    return unified(*pair)


def compute_full(base: str | None, current: str) -> str | None:
    """The reference's full-context listing of the stripped texts (module docstring)."""
    pair = _stripped_lines(base, current)
    if pair is None:
        return None
    a, b = pair
    blocks = changed_blocks(matching_runs(a, b), len(a), len(b))
    # Only the last line of a text can lack its newline; it gets one (deviation from the
    # reference, whose next prefix would otherwise share that output line).
    a = _mark_last(a, "\n")
    b = _mark_last(b, "\n")
    out: list[str] = []
    i = 0
    for i1, i2, j1, j2 in blocks:
        if i1 > i:
            out.append(" " + " ".join(a[i:i1]))
        if i2 > i1:
            out.append("-" + "-".join(a[i1:i2]))
        if j2 > j1:
            out.append("+" + "+".join(b[j1:j2]))
        i = i2
    if i < len(a):
        out.append(" " + " ".join(a[i:]))
    return "".join(out)


def has_changes(base: str | None, current: str) -> bool:
    """True if the comment-stripped texts differ (whitespace counts, comments don't)."""
    return strip_comments(base or "") != strip_comments(current)


def stat(base: str | None, current: str) -> tuple[int, int]:
    """``(insertions, deletions)`` in lines between the stripped texts."""
    pair = _stripped_lines(base, current)
    if pair is None:
        return 0, 0
    a, b = pair
    ins = dels = 0
    for i1, i2, j1, j2 in changed_blocks(matching_runs(a, b), len(a), len(b)):
        dels += i2 - i1
        ins += j2 - j1
    return ins, dels
