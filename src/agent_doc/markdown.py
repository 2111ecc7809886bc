"""Where Markdown code lives: fenced blocks and inline code spans.

Comment stripping (``comments``) and the component marker grammar (``components``) must ignore
``<!--`` and markers that appear inside code, as the reference fixed in 0.9.10 (Part B §12).
:func:`code_regions` returns the ``(start, end)`` offsets of every fenced block and code span,
following CommonMark closely enough for that purpose:

* a fence is a line indented by at most 3 spaces starting with ≥3 backticks or tildes; it closes
  at a line with the same character, at least as many, and nothing else but spaces; an
  unclosed fence runs to the end of the text;
* a code span starts at a run of N backticks and ends at the next run of exactly N backticks
  (outside fences); an unmatched run is literal text.
"""

from __future__ import annotations

import bisect
import re

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def code_regions(text: str) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ``(start, end)`` offsets of code in ``text``."""
    if "`" not in text and "~~~" not in text:
        return []
    regions: list[tuple[int, int]] = []
    # pass 1: fences, line by line
    fences: list[tuple[int, int]] = []
    pos = 0
    n = len(text)
    open_char = ""
    open_len = 0
    open_start = 0
    while pos < n:
        end = text.find("\n", pos)
        line_end = n if end == -1 else end + 1
        line = text[pos:line_end].rstrip("\r\n")
        if open_char:
            stripped = line.lstrip(" ")
            if (
                len(line) - len(stripped) <= 3
                and stripped.startswith(open_char * open_len)
                and stripped.rstrip(" ") == open_char * len(stripped.rstrip(" "))
            ):
                fences.append((open_start, line_end))
                open_char = ""
        else:
            m = _FENCE_OPEN.match(line)
            if m and not (m.group(1)[0] == "`" and "`" in line[m.end() :]):
                open_char, open_len, open_start = m.group(1)[0], len(m.group(1)), pos
        pos = line_end
    if open_char:
        fences.append((open_start, n))
    # pass 2: code spans between fences
    fence_starts = [f[0] for f in fences]

    def in_fence(i: int) -> int:
        k = bisect.bisect_right(fence_starts, i) - 1
        if k >= 0 and fences[k][0] <= i < fences[k][1]:
            return fences[k][1]
        return -1

    i = 0
    spans: list[tuple[int, int]] = []
    while True:
        i = text.find("`", i)
        if i == -1:
            break
        fence_end = in_fence(i)
        if fence_end >= 0:
            i = fence_end
            continue
        j = i
        while j < n and text[j] == "`":
            j += 1
        run = j - i
        # find a closing run of exactly `run` backticks
        k = j
        close = -1
        while True:
            k = text.find("`" * run, k)
            if k == -1:
                break
            if in_fence(k) >= 0:
                k = in_fence(k)
                continue
            e = k
            while e < n and text[e] == "`":
                e += 1
            if e - k == run:
                close = e
                break
            k = e
        if close == -1:
            i = j
            continue
        spans.append((i, close))
        i = close
    regions = sorted(fences + spans)
    return regions


class CodeIndex:
    """Fast "is offset i inside code?" queries over one text."""

    def __init__(self, text: str) -> None:
        self.regions = code_regions(text)
        self._starts = [r[0] for r in self.regions]

    def end_of_code_at(self, i: int) -> int:
        """If ``i`` is inside a code region, its end offset; otherwise -1."""
        k = bisect.bisect_right(self._starts, i) - 1
        if k >= 0 and self.regions[k][0] <= i < self.regions[k][1]:
            return self.regions[k][1]
        return -1

    def inside(self, i: int) -> bool:
        return self.end_of_code_at(i) >= 0
