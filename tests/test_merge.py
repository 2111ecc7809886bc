"""The append-friendly 3-way merge (agent_doc.merge): policy, markers, CRLF, final newlines."""

from __future__ import annotations

import random

import pytest

from agent_doc.merge import (
    MARK_BASE,
    MARK_END,
    MARK_MID,
    MARK_START,
    merge3way,
    split_lines,
)

BASE = (
    "---\nagent_doc_session: 1234\n---\n\n# Session: T\n\n## User\n\nFirst question?\n\n"
    "## Assistant\n\nFirst answer.\n\n## User\n\nSecond question?\n"
)
BLOCK = "\n## Assistant\n\nThe response.\n\n## User\n\n"
OURS = BASE + BLOCK


def test_nothing_changed_by_the_user_gives_ours() -> None:
    r = merge3way(BASE, OURS, BASE)
    assert (r.text, r.conflicts) == (OURS, 0)


def test_append_only_puts_the_response_first_then_the_users_text() -> None:
    r = merge3way(BASE, OURS, BASE + "A follow-up typed meanwhile.\n")
    assert r.conflicts == 0
    assert r.text == OURS + "A follow-up typed meanwhile.\n"


def test_both_inserted_at_the_same_point_after_a_middle_edit() -> None:
    theirs = BASE.replace("First answer.", "First answer. > my note") + "more\n"
    r = merge3way(BASE, OURS, theirs)
    assert r.conflicts == 0
    assert r.text == OURS.replace("First answer.", "First answer. > my note") + "more\n"


def test_user_edit_of_the_last_line_comes_before_the_response() -> None:
    theirs = BASE.replace("Second question?", "Second question, reworded?")
    r = merge3way(BASE, OURS, theirs)
    assert r.conflicts == 0
    assert r.text == theirs + BLOCK


def test_user_deleting_the_last_lines_keeps_the_response() -> None:
    theirs = BASE.replace("\n## User\n\nSecond question?\n", "\n")
    r = merge3way(BASE, OURS, theirs)
    assert r.conflicts == 0
    assert "The response." in r.text
    assert "Second question?" not in r.text


def test_real_overlap_gives_diff3_markers_with_our_labels() -> None:
    base = "a\nb\nc\n"
    r = merge3way(base, "a\nB-agent\nc\n", "a\nB-user\nc\n")
    assert r.conflicts == 1
    assert r.text == (
        f"a\n{MARK_START}\nB-agent\n{MARK_BASE}\nb\n{MARK_MID}\nB-user\n{MARK_END}\nc\n"
    )
    assert MARK_START == "<<<<<<< agent-response"
    assert MARK_BASE == "||||||| original"
    assert MARK_END == ">>>>>>> your-edits"


@pytest.mark.parametrize("n", [2, 3, 7, 40])
def test_any_number_of_conflicts_never_fails_and_keeps_both_sides(n: int) -> None:
    base_lines = [f"line {i}\n" for i in range(4 * n)]
    ours_lines = list(base_lines)
    theirs_lines = list(base_lines)
    for k in range(n):
        ours_lines[4 * k + 1] = f"agent {k}\n"
        theirs_lines[4 * k + 1] = f"user {k}\n"
    r = merge3way("".join(base_lines), "".join(ours_lines), "".join(theirs_lines))
    assert r.conflicts == n
    for k in range(n):
        assert f"agent {k}\n" in r.text and f"user {k}\n" in r.text
    assert r.text.count(MARK_START) == n and r.text.count(MARK_END) == n


def test_response_already_in_the_document_is_not_added_twice() -> None:
    # a pending response applied again after the document was written (and the user typed on)
    theirs = OURS + "typed after the answer\n"
    r = merge3way(BASE, OURS, theirs)
    assert r.text == theirs
    # ... also when the user edited elsewhere, so the fast path does not apply
    theirs2 = OURS.replace("# Session: T", "# Session: T2") + "typed after\n"
    r2 = merge3way(BASE, OURS, theirs2)
    assert r2.text == theirs2
    assert r2.text.count("The response.") == 1


def test_crlf_document() -> None:
    base = BASE.replace("\n", "\r\n")
    ours = base + BLOCK.replace("\n", "\r\n")
    theirs = base.replace("First answer.", "First answer, edited.") + "more\r\n"
    r = merge3way(base, ours, theirs)
    assert r.conflicts == 0
    assert r.text == ours.replace("First answer.", "First answer, edited.") + "more\r\n"
    assert "\n" not in r.text.replace("\r\n", "")


def test_crlf_conflict_markers_use_crlf() -> None:
    r = merge3way("a\r\nb\r\nc\r\n", "a\r\nX\r\nc\r\n", "a\r\nY\r\nc\r\n")
    assert r.conflicts == 1
    assert f"{MARK_START}\r\n" in r.text and f"{MARK_END}\r\n" in r.text
    assert "\n" not in r.text.replace("\r\n", "")


def test_missing_final_newline_in_the_sent_text() -> None:
    base = "# T\n\nQuestion?"
    ours = base + "\n\n## Assistant\n\nR\n\n## User\n\n"
    # the user pressed Enter and typed a line
    r = merge3way(base, ours, base + "\nmore")
    assert r.conflicts == 0
    assert r.text == ours + "more"
    # the user edited elsewhere and added a line: goes through the line merge
    r2 = merge3way(base, ours, "# T2\n\nQuestion?\nmore")
    assert r2.conflicts == 0
    assert r2.text == "# T2\n\nQuestion?\n\n## Assistant\n\nR\n\n## User\n\nmore"


def test_missing_final_newline_in_theirs_middle_line_gets_one() -> None:
    base = "a\nb\n"
    r = merge3way(base, "a\nb\nR\n", "a\nb2")
    assert r.conflicts == 0
    assert r.text == "a\nb2\nR\n"


def test_line_ending_conversion_by_the_users_editor_is_kept() -> None:
    base = "a\nb\nc\n"
    ours = base + "R\n"
    theirs = "a\r\nb\r\nc\r\n"
    r = merge3way(base, ours, theirs)
    assert r.conflicts == 0
    assert r.text.startswith("a\r\nb\r\nc\r\n") and "R" in r.text


def test_split_lines_keeps_odd_separators_inside_lines() -> None:
    assert split_lines("a\rb\x0bc\u2028d\ne") == ["a\rb\x0bc\u2028d\n", "e"]
    assert split_lines("") == []


def test_random_edits_never_drop_a_side() -> None:
    """Property check: every user line and every response line survives, whatever the edit."""
    rng = random.Random(1234)
    words = ["alpha", "beta", "", "gamma", "## User", "delta", "", "eps"]
    for _ in range(300):
        base_lines = [rng.choice(words) + f" {i}" for i in range(rng.randint(0, 30))]
        base = "".join(x + "\n" for x in base_lines)
        resp = f"response {rng.random()}"
        ours = base + f"\n## Assistant\n\n{resp}\n\n## User\n\n"
        theirs_lines = list(base_lines)
        added = []
        for _k in range(rng.randint(1, 4)):
            op = rng.choice(["ins", "del", "mod"])
            pos = rng.randint(0, len(theirs_lines))
            if op == "ins" or not theirs_lines:
                line = f"user added {rng.random()}"
                theirs_lines.insert(pos, line)
                added.append(line)
            elif op == "del":
                theirs_lines.pop(min(pos, len(theirs_lines) - 1))
            else:
                i = min(pos, len(theirs_lines) - 1)
                theirs_lines[i] = f"user modified {rng.random()}"
                added.append(theirs_lines[i])
        theirs = "".join(x + "\n" for x in theirs_lines)
        r = merge3way(base, ours, theirs)
        assert r.text.count(resp) == 1
        for line in added:
            if line in theirs_lines:
                assert line in r.text
