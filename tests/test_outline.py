"""`agent-doc outline` (Part B §9.1): headings, sizes, the text table and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_doc.outline import (
    PREAMBLE,
    Section,
    body_lines,
    format_json,
    format_text,
    heading_depth,
    sections,
)
from helpers.cli import run_cli


@pytest.mark.parametrize(
    "line, depth",
    [
        ("# Title", 1),
        ("## User", 2),
        ("  ## indented", 2),
        ("\t### tab-indented", 3),
        ("#", 1),
        ("###", 3),
        ("## ", 2),
        ("#NoSpace", None),
        ("#\tTab", None),
        ("", None),
        ("text # not a heading", None),
        ("\u3000# ideographic space indent", 1),
    ],
)
def test_heading_depth(line: str, depth: int | None) -> None:
    assert heading_depth(line) == depth


def test_body_lines_split_on_newline_only() -> None:
    assert body_lines("") == []
    assert body_lines("a\n") == ["a"]
    assert body_lines("a\r\nb\r\n") == ["a", "b"]
    assert body_lines("a\nb") == ["a", "b"]
    assert body_lines("\n") == [""]
    assert body_lines("a\x0cb\u2028c\n") == ["a\x0cb\u2028c"]


def test_sections_basic() -> None:
    body = "# Title\n\nintro text\n## User\n\nhello\n"
    assert sections(body) == [
        Section("# Title", 1, 1, 3, 3),  # "\nintro text" = 11 bytes -> 3 tokens
        Section("## User", 2, 4, 3, 2),  # "\nhello" = 6 bytes -> 2 tokens
    ]


def test_sections_with_preamble() -> None:
    body = "some preamble\nmore\n# Title\nx\n"
    secs = sections(body)
    assert secs[0] == Section(PREAMBLE, 0, 1, 2, 5)  # "some preamble\nmore" = 18 bytes
    assert secs[1] == Section("# Title", 1, 3, 2, 1)


def test_preamble_token_rule() -> None:
    # one empty line: 0 bytes -> 0 tokens -> dropped; two empty lines: "\n" -> 1 token -> kept
    assert sections("\n# A\n") == [Section("# A", 1, 2, 1, 0)]
    assert sections("\n\n# A\n")[0] == Section(PREAMBLE, 0, 1, 2, 1)


def test_sections_empty_and_no_headings() -> None:
    assert sections("") == []
    assert sections("\n") == []
    assert sections("just text\n") == [Section(PREAMBLE, 0, 1, 1, 3)]


def test_tokens_count_utf8_bytes_and_crlf() -> None:
    # "é" is 2 bytes: "\néé" = 5 bytes -> 2 tokens; CRLF: the \r is removed per line
    assert sections("# A\r\n\r\néé\r\n") == [Section("# A", 1, 1, 3, 2)]


def test_headings_inside_fences_count() -> None:
    body = "# A\n```sh\n# a shell comment\n```\n"
    assert [s.heading for s in sections(body)] == ["# A", "# a shell comment"]


def test_text_format() -> None:
    secs = sections("pre\n# Title\nbody text\n## Sub\n### Deep\n##\n")
    assert format_text(secs) == (
        # the indent comes before the 40-column heading field
        "(preamble)                                  1 lines  ~    1 tokens\n"
        "Title                                       2 lines  ~    3 tokens\n"
        "  Sub                                         1 lines  ~    0 tokens\n"
        "    Deep                                        1 lines  ~    0 tokens\n"
        "  ##                                          1 lines  ~    0 tokens\n"
        "---\n"
        "Total                                       6 lines  ~    4 tokens\n"
    )


def test_json_format_is_real_json() -> None:
    secs = sections('# Say "hi" \\ there \x01\x1f tab\there\n## Ünïcode ✓\n')
    text = format_json(secs)
    assert "\n" not in text
    data = json.loads(text)
    assert data == [
        {"heading": '# Say "hi" \\ there \x01\x1f tab\there', "depth": 1, "line": 1, "lines": 1,
         "tokens": 0},
        {"heading": "## Ünïcode ✓", "depth": 2, "line": 2, "lines": 1, "tokens": 0},
    ]
    assert text.startswith('[{"heading":"# Say \\"hi\\" \\\\ there \\u0001')


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_outline_text_and_json(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("---\nagent_doc_session: abc\n---\n# Session\n\n## User\n\nquestion?\n")
    r = run_cli("outline", str(doc))
    assert r.returncode == 0, r
    assert r.stdout.splitlines() == [
        "Session                                     2 lines  ~    0 tokens",
        "  User                                        3 lines  ~    3 tokens",
        "---",
        "Total                                       5 lines  ~    3 tokens",
    ]
    r = run_cli("outline", "--json", str(doc))
    assert r.returncode == 0, r
    assert r.stdout.endswith("\n") and r.stdout.count("\n") == 1
    assert json.loads(r.stdout) == [
        {"heading": "# Session", "depth": 1, "line": 1, "lines": 2, "tokens": 0},
        {"heading": "## User", "depth": 2, "line": 3, "lines": 3, "tokens": 3},
    ]


def test_cli_outline_json_with_backslashes_and_control_characters(project: Path) -> None:
    doc = project / "d.md"
    doc.write_bytes('# C:\\path\\to "x"\x07\n## \u00e9\x1b[1m\n'.encode())
    r = run_cli("outline", "--json", str(doc))
    assert r.returncode == 0, r
    assert [s["heading"] for s in json.loads(r.stdout)] == [
        '# C:\\path\\to "x"\x07', "## \u00e9\x1b[1m"]


def test_cli_outline_empty_document(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("")
    r = run_cli("outline", "--json", str(doc))
    assert (r.returncode, r.stdout) == (0, "[]\n"), r
    r = run_cli("outline", str(doc))
    assert r.returncode == 0 and r.stdout.endswith("---\nTotal" + " " * 35 + "    0 lines  ~"
                                                    "    0 tokens\n"), r


def test_cli_outline_errors(project: Path) -> None:
    r = run_cli("outline", str(project / "missing.md"))
    assert r.returncode == 1 and "file not found" in r.stderr, r
    doc = project / "bad.md"
    doc.write_text("---\nagent: [unclosed\n---\n# A\n")
    r = run_cli("outline", str(doc))
    assert r.returncode == 1 and "frontmatter" in r.stderr and "bad.md" in r.stderr, r
    r = run_cli("outline")
    assert r.returncode == 2


def test_cli_outline_writes_nothing(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("# A\n")
    before = sorted(p.name for p in project.rglob("*"))
    assert run_cli("outline", str(doc)).returncode == 0
    assert sorted(p.name for p in project.rglob("*")) == before
    assert doc.read_text() == "# A\n"
