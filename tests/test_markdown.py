"""agent_doc.markdown: where code lives, so comments and markers inside code are ignored."""

from __future__ import annotations

import pytest

from agent_doc.markdown import CodeIndex, code_regions


def code(text: str) -> list[str]:
    return [text[a:b] for a, b in code_regions(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a `x` b", ["`x`"]),
        ("a ``x ` y`` b", ["``x ` y``"]),
        ("text `a\nb` c", ["`a\nb`"]),  # a span may cross a line break
        ("```py\n<!-- x -->\n```\nafter `y`", ["```py\n<!-- x -->\n```\n", "`y`"]),
        ("~~~\nunclosed fence", ["~~~\nunclosed fence"]),
        ("````\n```\nstill code\n````\nout", ["````\n```\nstill code\n````\n"]),
        ("   ```\nindented 3\n```\n", ["   ```\nindented 3\n```\n"]),
        ("\\`not` `code`", ["` `"]),  # an escaped backtick does not open a span
        ("no code here", []),
    ],
)
def test_code_regions(text: str, expected: list[str]) -> None:
    assert code(text) == expected


def test_a_lone_backtick_does_not_swallow_later_paragraphs() -> None:
    text = "don't type ` here\n\n<!-- a real comment -->\n\nand ` there\n"
    assert code(text) == []
    assert code("# title with ` tick\nbody ` more\n") == []  # a heading is its own block
    assert code("para ` one\n```\nfence\n```\nend ` x") == ["```\nfence\n```\n"]


def test_backticks_inside_a_comment_are_not_code() -> None:
    text = "<!-- a ` b --> then ` c `"
    assert code(text) == ["` c `"]


def test_code_index() -> None:
    text = "x `<!-- in code -->` <!-- out -->"
    idx = CodeIndex(text)
    inside = text.index("<!-- in")
    outside = text.index("<!-- out")
    assert idx.inside(inside) and not idx.inside(outside)
    assert idx.end_of_code_at(inside) == text.index("` <!-- out") + 1
    assert idx.end_of_code_at(outside) == -1
