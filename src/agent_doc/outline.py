"""The section outline of a document body (Part B §9.1): headings, their sizes in lines and
approximate tokens, as a text table or JSON.

Rules, as the reference has them:

* the body (frontmatter excluded) is split on ``\\n`` only, one trailing ``\\r`` removed per line;
  a final newline adds no empty line;
* a heading is a line whose left-trimmed form is one or more ``#`` followed by the end of the
  line or a space (``#NoSpace`` and ``#\\t`` are not headings); fences are **not** considered,
  so ``# comment`` inside a code block counts; its depth is the number of ``#``;
* a section runs to the next heading: ``lines`` counts the heading line itself, ``tokens`` is
  ceil(UTF-8 bytes of the following lines joined by ``\\n`` / 4), ``line`` is 1-based in the body;
* text before the first heading is a ``(preamble)`` section (depth 0), kept only if its token
  count is above zero.

Departure: the JSON is produced by :func:`json.dumps`, so backslashes and control characters
in headings are escaped (the reference escaped only ``"`` and could emit invalid JSON).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Rust's ``char::is_whitespace`` (Unicode White_Space). ``str.strip()`` would also remove
#: U+001C..U+001F, which the reference keeps.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
PREAMBLE = "(preamble)"
_WIDTH = 40


@dataclass(frozen=True)
class Section:
    heading: str  # the raw line (with its '#'s and indentation); "(preamble)" for the preamble
    depth: int  # number of '#'; 0 for the preamble
    line: int  # 1-based line in the body
    lines: int  # lines of the section, heading included
    tokens: int  # ceil(bytes after the heading line / 4)

    def as_dict(self) -> dict[str, object]:
        return {
            "heading": self.heading,
            "depth": self.depth,
            "line": self.line,
            "lines": self.lines,
            "tokens": self.tokens,
        }

    @property
    def title(self) -> str:
        """The heading without its ``#``s, trimmed (the raw line if that leaves nothing)."""
        text = self.heading.lstrip(WHITESPACE).lstrip("#").strip(WHITESPACE)
        return text or self.heading


def body_lines(body: str) -> list[str]:
    """Split on ``\\n`` only, dropping one trailing ``\\r`` per line and the empty last piece."""
    parts = body.split("\n")
    if parts[-1] == "":
        parts.pop()
    return [p[:-1] if p.endswith("\r") else p for p in parts]


def heading_depth(line: str) -> int | None:
    """The depth of a heading line, or None if the line is not a heading."""
    s = line.lstrip(WHITESPACE)
    depth = len(s) - len(s.lstrip("#"))
    if depth == 0:
        return None
    if len(s) > depth and s[depth] != " ":
        return None
    return depth


def _tokens(lines: list[str]) -> int:
    return (len("\n".join(lines).encode("utf-8")) + 3) // 4


def sections(body: str) -> list[Section]:
    """The outline of ``body`` (see the module docstring)."""
    lines = body_lines(body)
    n = len(lines)
    heads = [(i, d) for i, line in enumerate(lines) if (d := heading_depth(line)) is not None]
    out: list[Section] = []
    first = heads[0][0] if heads else n
    if first > 0:
        tokens = _tokens(lines[:first])
        if tokens > 0:
            out.append(Section(PREAMBLE, 0, 1, first, tokens))
    for k, (i, depth) in enumerate(heads):
        j = heads[k + 1][0] if k + 1 < len(heads) else n
        out.append(Section(lines[i], depth, i + 1, j - i, _tokens(lines[i + 1 : j])))
    return out


def _row(indent: int, title: str, lines: int, tokens: int) -> str:
    return f"{'  ' * indent}{title:<{_WIDTH}} {lines:>4} lines  ~{tokens:>5} tokens"


def format_text(secs: list[Section]) -> str:
    """The table: one row per section, then ``---`` and a ``Total`` row."""
    rows = [_row(max(s.depth - 1, 0), s.title, s.lines, s.tokens) for s in secs]
    rows.append("---")
    rows.append(_row(0, "Total", sum(s.lines for s in secs), sum(s.tokens for s in secs)))
    return "\n".join(rows) + "\n"


def format_json(secs: list[Section]) -> str:
    """One line of JSON: a list of ``{"heading", "depth", "line", "lines", "tokens"}``."""
    import json

    return json.dumps([s.as_dict() for s in secs], ensure_ascii=False, separators=(",", ":"))
