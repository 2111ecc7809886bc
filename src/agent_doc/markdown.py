"""Where Markdown code lives: fenced blocks and inline code spans.

Comment stripping (``comments``) and the component marker grammar (``components``) must ignore
``<!--`` and markers that appear inside code, as the reference fixed in 0.9.10 (Part B §12).
:func:`code_regions` returns the ``(start, end)`` offsets of every fenced block and code span,
following CommonMark closely enough for that purpose:

* a fence is a line indented by at most 3 spaces starting with ≥3 backticks or tildes; it closes
  at a line with the same character, at least as many, and nothing else but spaces; an
  unclosed fence runs to the end of the text;
* a code span starts at a run of N backticks and ends at the next run of exactly N backticks
  in the same paragraph (outside fences); an unmatched run is literal text.

Not recognised (rare in session documents, and guessing wrong would hide real comments):
indented code blocks, and fences inside block quotes or list items.
"""

from __future__ import annotations

import bisect
import re

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")


_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")


def _fences_and_boundaries(text: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Fenced blocks, and the offsets where a paragraph ends (a code span cannot cross them):
    blank lines, fence starts, and both edges of ATX heading lines."""
    fences: list[tuple[int, int]] = []
    bounds: list[int] = []
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
                and stripped.rstrip(" \t") == open_char * len(stripped.rstrip(" \t"))
            ):
                fences.append((open_start, line_end))
                open_char = ""
        else:
            m = _FENCE_OPEN.match(line)
            if m and not (m.group(1)[0] == "`" and "`" in line[m.end() :]):
                open_char, open_len, open_start = m.group(1)[0], len(m.group(1)), pos
                bounds.append(pos)
            elif not line.strip():
                bounds.append(pos)
            elif _HEADING.match(line):
                bounds.append(pos)
                bounds.append(pos + len(line))
        pos = line_end
    if open_char:
        fences.append((open_start, n))
    return fences, bounds


def code_regions(text: str) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ``(start, end)`` offsets of code in ``text``.

    Besides the fence rules above: a code span never crosses a paragraph boundary (blank line,
    fence, heading line); a backtick escaped by a backslash does not open one; an HTML comment
    that starts outside code hides the backticks inside it (CommonMark gives raw HTML
    precedence over a code span that starts later).
    """
    if "`" not in text and "~~~" not in text:
        return []
    fences, bounds = _fences_and_boundaries(text)
    n = len(text)
    fence_starts = [f[0] for f in fences]

    def fence_end_at(i: int) -> int:
        k = bisect.bisect_right(fence_starts, i) - 1
        if k >= 0 and fences[k][0] <= i < fences[k][1]:
            return fences[k][1]
        return -1

    def limit_after(i: int) -> int:
        k = bisect.bisect_right(bounds, i)
        return bounds[k] if k < len(bounds) else n

    spans: list[tuple[int, int]] = []
    i = 0
    while True:
        tick = text.find("`", i)
        if tick == -1:
            break
        comment = text.find("<!--", i, tick)
        if comment != -1 and fence_end_at(comment) < 0:
            close = text.find("-->", comment + 4)
            i = close + 3 if close != -1 else comment + 4
            continue
        i = tick
        fence_end = fence_end_at(i)
        if fence_end >= 0:
            i = fence_end
            continue
        j = i
        while j < n and text[j] == "`":
            j += 1
        slashes = 0
        while i - slashes - 1 >= 0 and text[i - slashes - 1] == "\\":
            slashes += 1
        if slashes % 2 == 1:  # \` is a literal backtick; the rest of the run may open
            i += 1
            continue
        run = j - i
        limit = limit_after(i)
        k = j
        close = -1
        while True:
            k = text.find("`" * run, k, limit)
            if k == -1:
                break
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
    return sorted(fences + spans)


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
