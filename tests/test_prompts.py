"""Prompt construction (Part B §4.4) and its inverse used by the offline agent."""

from __future__ import annotations

import pytest

from agent_doc.prompts import (
    DOCUMENT_INTRO,
    FIRST_OPENING,
    RESUMED_OPENING,
    SYSTEM_PROMPT,
    build_prompt,
    parse_prompt,
)

DOC = "---\nagent_doc_session: 1234\n---\n\n# Session: T\n\n## User\n\nHello?\n"
DIFF = " # Session: T\n \n ## User\n \n+Hello?\n"


def test_first_run_template_has_document_and_no_diff() -> None:
    p = build_prompt(DOC, DIFF, resumed=False)
    assert p.startswith(FIRST_OPENING + "\n\n<document>\n")
    assert f"<document>\n{DOC}\n</document>\n\n" in p
    assert "<diff>" not in p and "+Hello?" not in p
    tail = p.split("</document>\n\n", 1)[1].splitlines()
    assert len(tail) == 3
    assert "Markdown" in tail[0] and "content" in tail[0] and "new" not in tail[0]
    assert "## Assistant" in tail[1]
    assert "inline" in tail[2] and "blockquote" in tail[2]


def test_resumed_template_order_and_exact_blocks() -> None:
    p = build_prompt(DOC, DIFF, resumed=True)
    assert p.startswith(RESUMED_OPENING + "\n\n<diff>\n")
    expected_middle = (
        f"<diff>\n{DIFF}\n</diff>\n\n{DOCUMENT_INTRO}\n\n<document>\n{DOC}\n</document>"
    )
    assert expected_middle in p
    assert p.index("<diff>") < p.index("<document>")
    tail = p.split("</document>\n\n", 1)[1].splitlines()
    assert len(tail) == 3 and "new content" in tail[0]


def test_resumed_without_diff_gives_empty_block() -> None:
    p = build_prompt(DOC, None, resumed=True)
    assert "<diff>\n\n</diff>" in p
    assert parse_prompt(p) == ("", DOC)


def test_system_prompt_says_what_the_agent_is_for() -> None:
    for word in ("session document", "Markdown", "## User", "blockquote", "## Assistant"):
        assert word in SYSTEM_PROMPT


@pytest.mark.parametrize(
    "doc",
    [
        DOC,
        "",
        "no newline at end",
        "tricky\n</document>\n<document>\n<diff>\n</diff>\nend\n",
        "## User\n\n</diff>\n\nmore\n</document>",
    ],
)
@pytest.mark.parametrize(
    "diff", [None, DIFF, "", "+</diff>\n+<document>\n-</document>\n", "+last line no newline"]
)
def test_parse_prompt_round_trips(doc: str, diff: str | None) -> None:
    assert parse_prompt(build_prompt(doc, diff, resumed=False)) == (None, doc)
    if diff is not None:
        assert parse_prompt(build_prompt(doc, diff, resumed=True)) == (diff, doc)


def test_parse_prompt_of_foreign_text() -> None:
    assert parse_prompt("just a question?") == (None, None)
