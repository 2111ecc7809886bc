"""Comment stripping (Part B §4.1, with the later fix for code) and the agent-marker test."""

from __future__ import annotations

import pytest

from agent_doc.comments import VALID_NAME, is_agent_marker, strip_comments

# -- the reference's examples and tests (§4.1, §11 diff.rs) --------------------------------------


def test_spec_example_comment_line_removed_with_its_newline() -> None:
    assert strip_comments("before\n<!-- a -->\nafter\n") == "before\nafter\n"


def test_spec_example_inline_comment() -> None:
    assert strip_comments("text <!-- n --> more\n") == "text  more\n"


def test_spec_example_agent_markers_kept() -> None:
    text = "<!-- agent:s -->\nx\n<!-- /agent:s -->\n"
    assert strip_comments(text) == text


def test_multiline_html_comment() -> None:
    assert strip_comments("a\n<!-- one\ntwo\nthree -->\nb\n") == "a\nb\n"


def test_link_ref_comment() -> None:
    assert strip_comments("[//]: # (a private note)\ntext\n") == "text\n"
    assert strip_comments("a\n[//]: # (note)\nb\n") == "a\nb\n"


def test_regular_comment_removed_agent_marker_kept() -> None:
    text = "<!-- agent:s -->\n<!-- note to self -->\nx\n<!-- /agent:s -->\n"
    assert strip_comments(text) == "<!-- agent:s -->\nx\n<!-- /agent:s -->\n"


def test_no_comments_unchanged_and_empty() -> None:
    text = "# Title\n\nplain text, no comments at all\n"
    assert strip_comments(text) is text
    assert strip_comments("") == ""


# -- details -------------------------------------------------------------------------------------


def test_link_ref_keeps_text_after_paren() -> None:
    assert strip_comments("[//]: # (note) tail\nx\n") == " tail\nx\n"


def test_link_ref_without_closing_paren_on_its_line_is_text() -> None:
    text = "[//]: # (no close\nsecond line)\n"
    assert strip_comments(text) == text


def test_link_ref_only_at_line_start() -> None:
    text = "x [//]: # (not a comment)\n  [//]: # (indented: not one either)\n"
    assert strip_comments(text) == text


def test_link_ref_at_end_without_newline() -> None:
    assert strip_comments("a\n[//]: # (x)") == "a\n"


def test_comment_not_at_line_start_keeps_newline() -> None:
    assert strip_comments("text <!-- c -->\nmore\n") == "text \nmore\n"


def test_comment_at_line_start_followed_by_text() -> None:
    assert strip_comments("<!-- c --> tail\n") == " tail\n"


def test_indented_comment_leaves_whitespace_line() -> None:
    assert strip_comments("a\n  <!-- c -->\nb\n") == "a\n  \nb\n"


def test_comment_at_end_of_text() -> None:
    assert strip_comments("x\n<!-- c -->") == "x\n"


def test_unterminated_comment_is_text() -> None:
    text = "a <!-- never closed\nb\n"
    assert strip_comments(text) == text


def test_unterminated_comment_then_link_ref_still_stripped() -> None:
    assert strip_comments("a <!-- open\n[//]: # (x)\nb\n") == "a <!-- open\nb\n"


def test_comment_ends_at_first_close() -> None:
    assert strip_comments("<!-- a --> b -->\n") == " b -->\n"


def test_adjacent_comments() -> None:
    assert strip_comments("<!-- a --><!-- b -->\nx\n") == "\nx\n"
    assert strip_comments("<!-- a -->\n<!-- b -->\nx\n") == "x\n"


def test_empty_comment() -> None:
    assert strip_comments("a<!---->b\n") == "ab\n"


def test_link_ref_inside_html_comment_goes_with_it() -> None:
    assert strip_comments("<!--\n[//]: # (x)\n-->\ny\n") == "y\n"


def test_invalid_agent_markers_are_regular_comments() -> None:
    assert strip_comments("<!-- agent: note to self -->\nx\n") == "x\n"
    assert strip_comments("<!-- agent:bad_name -->\nx\n") == "x\n"
    assert strip_comments("<!-- agent: -->\nx\n") == "x\n"


def test_marker_without_spaces_kept() -> None:
    text = "<!--agent:a-->x<!--/agent:a-->\n"
    assert strip_comments(text) == text


# -- code is not comments (later reference versions, §12) ---------------------------------------


def test_comment_in_code_span_is_text() -> None:
    text = "use `<!-- like this -->` to hide text\n"
    assert strip_comments(text) == text


def test_open_in_code_span_does_not_swallow_text() -> None:
    # In 0.9.6 the `<!--` in backticks swallowed everything up to the real comment's end.
    text = "write `<!--` to start\nkeep me\n<!-- real -->\nend\n"
    assert strip_comments(text) == "write `<!--` to start\nkeep me\nend\n"


def test_double_backtick_span() -> None:
    text = "``a ` <!-- b --> c``\n"
    assert strip_comments(text) == text


def test_fenced_block_is_text() -> None:
    text = "```html\n<!-- inside a fence -->\n[//]: # (also inside)\n```\n<!-- outside -->\nx\n"
    kept = "```html\n<!-- inside a fence -->\n[//]: # (also inside)\n```\n"
    assert strip_comments(text) == kept + "x\n"


def test_tilde_fence_and_unclosed_fence() -> None:
    assert strip_comments("~~~\n<!-- a -->\n~~~\n") == "~~~\n<!-- a -->\n~~~\n"
    text = "x\n```\n<!-- never closed fence -->\n"
    assert strip_comments(text) == text


def test_unbalanced_backtick_inside_a_comment_does_not_hide_later_comments() -> None:
    assert strip_comments("<!-- don't ` -->\nkeep\n`x` <!-- c -->\nz\n") == "keep\n`x` \nz\n"


def test_backtick_does_not_pair_across_a_blank_line() -> None:
    assert strip_comments("a `b\n\n<!-- c -->\nd`\n") == "a `b\n\nd`\n"


def test_comment_around_inline_code_is_removed() -> None:
    assert strip_comments("a <!-- see `code` here --> b\n") == "a  b\n"


# -- line endings --------------------------------------------------------------------------------


def test_crlf_comment_line_takes_its_crlf() -> None:
    assert strip_comments("a\r\n<!-- c -->\r\nb\r\n") == "a\r\nb\r\n"


def test_crlf_link_ref_takes_its_crlf() -> None:
    assert strip_comments("a\r\n[//]: # (c)\r\nb\r\n") == "a\r\nb\r\n"


def test_crlf_inline_comment_keeps_line_ending() -> None:
    assert strip_comments("a <!-- c -->\r\nb\r\n") == "a \r\nb\r\n"


def test_many_unterminated_openers_stay_linear() -> None:
    text = "<!-- x\n" * 20000 + "[//]: # (n)\nend\n"
    assert strip_comments(text) == "<!-- x\n" * 20000 + "end\n"


# -- markers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "inner",
    [" agent:status ", "agent:a", "/agent:a-b-1", "\n agent:X9 \n", " /agent:0 "],
)
def test_is_agent_marker_true(inner: str) -> None:
    assert is_agent_marker(inner)


@pytest.mark.parametrize(
    "inner",
    [" agent: status ", "agent:", "agent:-a", "agent:a_b", "agent:a b", "note", "/agent:",
     "agents:a", "agent:é", "agent:a\nb"],
)
def test_is_agent_marker_false(inner: str) -> None:
    assert not is_agent_marker(inner)


def test_valid_name_is_anchored() -> None:
    assert VALID_NAME.match("abc-1")
    assert not VALID_NAME.match("abc\n")
    assert not VALID_NAME.match("ab_c")
    assert not VALID_NAME.match("-ab")
