"""Frontmatter parsing and surgical edits (SPEC A5, Part B §2.2; fixes C8, C9).

Byte-identical round trips on a corpus, one-line edits, parse errors that name file and line,
and several processes agreeing on one session UUID.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent_doc.document import (
    edit_document,
    ensure_session,
    ensure_session_file,
    parse,
    read_document,
    set_field,
    yaml_scalar,
)
from agent_doc.errors import AgentDocError, FileNotFound, FrontmatterError

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

CORPUS: dict[str, str] = {
    "plain": "---\nagent_doc_session: 6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11\nagent: claude\n---\n"
    "\n# Session: x\n\n## User\n\nhello\n",
    "comments_unknown_keys": "---\n# a comment line\nagent_doc_session: abc  # trailing\n"
    "custom: {a: 1, b: [x, y]}\ntags:\n  - one\n  - two\nresume: r-1\n---\nbody\n",
    "crlf": "---\r\nagent_doc_session: abc\r\nresume: r1\r\nnote: keep\r\n---\r\n\r\n"
    "## User\r\n\r\nhi\r\n",
    "quoting": "---\nagent_doc_session: 'quoted-single'\nresume: \"quoted double\"\n"
    "model: \"4\"\nagent: 'it''s'\n---\nbody",
    "no_trailing_newline": "---\nagent_doc_session: abc\n---\nlast line without newline",
    "closing_at_eof": "---\nagent_doc_session: abc\n---",
    "empty_block": "---\n---\nbody\n",
    "blank_block": "---\n\n---\nbody\n",
    "legacy_session": "---\nsession: legacy-id\nbranch: main\n---\n\nbody\n",
    "block_scalar": "---\nnotes: |\n  line one\n\n  line three\nresume: r\n---\nbody\n",
    "no_frontmatter": "# Just a document\n\nwith text\n",
    "rule_not_frontmatter": "text\n---\nmore\n",
    "unicode": "---\nagent_doc_session: abc\ntitle: Überblick — 概要 🙂\n---\nß\n",
    "nulls": "---\nagent_doc_session:\nresume: ~\nmodel: null\nagent: \"\"\n---\nx\n",
    "four_dashes_in_body": "---\nagent_doc_session: abc\n---\n----\n---\n",
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_round_trip_is_byte_identical(name: str, tmp_path: Path) -> None:
    text = CORPUS[name]
    doc = parse(text)
    # the document is its frontmatter part plus its body, byte for byte
    assert text[: doc.body_start] + doc.body == text
    # a no-op edit writes nothing, and setting a key then removing it restores every byte
    f = tmp_path / "doc.md"
    f.write_bytes(text.encode())
    before = f.stat()
    old, new = edit_document(f, lambda t: t)
    assert old == new == text
    assert f.stat().st_ino == before.st_ino  # not rewritten
    for key in ("tmux_session", "x_new_key"):
        if doc.get(key) is None and doc.has_frontmatter:
            assert set_field(set_field(text, key, "v"), key, None) == text
    # removing an absent key changes nothing
    assert set_field(text, "model_absent", None) == text


def test_parsed_fields() -> None:
    d = parse(CORPUS["comments_unknown_keys"])
    assert d.session == "abc" and d.resume == "r-1"
    assert d.fields["custom"] == {"a": "1", "b": ["x", "y"]}
    assert d.fields["tags"] == ["one", "two"]
    assert d.body == "body\n"
    q = parse(CORPUS["quoting"])
    assert (q.session, q.resume, q.model, q.agent) == ("quoted-single", "quoted double", "4",
                                                      "it's")
    assert q.body == "body"
    crlf = parse(CORPUS["crlf"])
    assert crlf.has_frontmatter and crlf.newline == "\r\n"
    assert (crlf.session, crlf.resume, crlf.get("note")) == ("abc", "r1", "keep")
    assert crlf.body == "\r\n## User\r\n\r\nhi\r\n"
    assert parse(CORPUS["closing_at_eof"]).body == ""
    empty = parse(CORPUS["empty_block"])
    assert empty.has_frontmatter and empty.fields == {} and empty.body == "body\n"
    assert parse(CORPUS["blank_block"]).fields == {}
    assert parse(CORPUS["legacy_session"]).session == "legacy-id"
    assert parse(CORPUS["block_scalar"]).get("notes") == "line one\n\nline three\n"
    assert not parse(CORPUS["no_frontmatter"]).has_frontmatter
    assert not parse(CORPUS["rule_not_frontmatter"]).has_frontmatter
    nulls = parse(CORPUS["nulls"])
    assert (nulls.session, nulls.resume, nulls.model, nulls.agent) == (None, None, None, "")
    assert parse(CORPUS["four_dashes_in_body"]).body == "----\n---\n"
    # every scalar is a string, whether the line scanner or PyYAML read it
    typed = parse("---\nagent: yes\nmodel: 4\nresume: 2024-01-01\n---\n")
    assert (typed.agent, typed.model, typed.resume) == ("yes", "4", "2024-01-01")
    via_yaml = parse("---\nagent: yes\nmodel: 4\nlist: [a]\n---\n")
    assert (via_yaml.agent, via_yaml.model) == ("yes", "4")


def test_body_does_not_start_with_a_blank_line_pile_up() -> None:
    """The reference added one blank line per rewrite (§2.2 Quirk); we never do."""
    text = CORPUS["plain"]
    for i in range(5):
        text = set_field(text, "resume", f"r{i}")
    assert text == CORPUS["plain"].replace("agent: claude\n", "agent: claude\nresume: r4\n")


def only_line_changed(before: str, after: str) -> list[tuple[str, str]]:
    """The (old, new) pairs of lines that differ (same number of lines expected)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_set_replaces_exactly_one_line() -> None:
    text = CORPUS["comments_unknown_keys"]
    after = set_field(text, "resume", "r-2")
    assert only_line_changed(text, after) == [("resume: r-1\n", "resume: r-2\n")]
    # a trailing comment on the edited line is kept
    after = set_field(text, "agent_doc_session", "new-id")
    assert only_line_changed(text, after) == [
        ("agent_doc_session: abc  # trailing\n", "agent_doc_session: new-id  # trailing\n")
    ]


def test_insert_goes_above_the_closing_line_and_keeps_crlf() -> None:
    text = CORPUS["crlf"]
    after = set_field(text, "tmux_session", "work")
    assert after == text.replace("note: keep\r\n---", "note: keep\r\ntmux_session: work\r\n---")
    assert set_field(after, "resume", None) == after.replace("resume: r1\r\n", "")


def test_remove_takes_a_multi_line_value_with_it() -> None:
    text = CORPUS["block_scalar"]
    assert set_field(text, "notes", None) == "---\nresume: r\n---\nbody\n"
    assert set_field(text, "notes", "short") == "---\nnotes: short\nresume: r\n---\nbody\n"


def test_no_frontmatter_gains_a_minimal_block() -> None:
    text = CORPUS["no_frontmatter"]
    expected = "---\nagent_doc_session: abc\n---\n" + text
    assert set_field(text, "agent_doc_session", "abc") == expected
    crlf = "line\r\nmore\r\n"
    assert set_field(crlf, "resume", "r").startswith("---\r\nresume: r\r\n---\r\nline")
    assert set_field(text, "resume", None) == text


def test_legacy_session_key() -> None:
    text = CORPUS["legacy_session"]
    assert set_field(text, "agent_doc_session", "new") == text.replace(
        "session: legacy-id", "agent_doc_session: new")
    both = "---\nagent_doc_session:\nsession: old\n---\n"
    assert set_field(both, "agent_doc_session", "new") == "---\nagent_doc_session: new\n---\n"
    removed = set_field("---\nsession: old\nx: 1\n---\n", "agent_doc_session", None)
    assert removed == "---\nx: 1\n---\n"


TRICKY_VALUES = [
    "", " lead", "trail ", "yes", "No", "on", "123", "0x1F", "1.5", ".5", "1e5", "1:20",
    "2024-01-01", ".inf", "null", "~", "a: b", "a #b", "#x", "-x", "x:", "'q'", '"dq"',
    "tab\tx", "nl\nx", "\u2028", "\x85", "\x7f", "ünï", "🙂", "@x", "%x", "a\\b", "!tag",
    "{x}", "[x]", "*ref", "&a", "|", ">", "claude-3-5-sonnet", "=", "<<", "Y", "OFF", "+1",
    "~x", "-.inf", "+.5", "12345678-1234-1234-1234-123456789012",
    "6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11",
]


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_written_values_read_back_exactly(value: str) -> None:
    text = set_field("---\n---\nbody\n", "resume", value)
    assert parse(text).resume == value
    # and any YAML reader gets the same string (the Rust reference reads this file too)
    block = text.split("---\n")[1]
    assert yaml.safe_load(block) == {"resume": value}


def test_plain_values_stay_plain() -> None:
    for v in ("claude", "claude-3-5-sonnet", "6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11", "work",
              "12345678-1234-1234-1234-123456789012", "0f50201e-bd56-4ef4-b684-435d8745a204"):
        assert yaml_scalar(v) == v


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("---\nagent_doc_session: abc\n\nno closing line\n", 1, "unterminated"),
        ("---\nagent: x\nresume: [unclosed\n---\nbody\n", 4, "malformed"),
        ("---\nagent: x\nbad: : :\n---\n", 3, "malformed"),
        ("---\nagent: a\nmodel: m\nagent: b\n---\n", 4, "duplicate frontmatter key 'agent'"),
        ("---\nsession: a\nagent_doc_session: b\n---\n", 3, "both 'agent_doc_session'"),
        ("---\nx: 1\nresume:\n  - a\n---\n", 3, "must be a single value"),
        ("---\njust text\n---\n", 2, "must be a mapping"),
    ],
)
def test_malformed_frontmatter_names_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    f = tmp_path / "bad.md"
    f.write_bytes(text.encode())
    with pytest.raises(FrontmatterError) as info:
        read_document(f)
    assert str(info.value).startswith(f"{f}:{line}: ")
    assert words in str(info.value)
    assert info.value.hint
    with pytest.raises(FrontmatterError):
        ensure_session_file(f)
    with pytest.raises(FrontmatterError):
        edit_document(f, lambda t: t + "more")
    assert f.read_bytes() == text.encode()  # untouched


def test_read_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFound, match="file not found"):
        read_document(tmp_path / "missing.md")
    with pytest.raises(AgentDocError, match="is a folder"):
        read_document(tmp_path)
    (tmp_path / "latin1.md").write_bytes(b"caf\xe9\n")
    with pytest.raises(AgentDocError, match="not valid UTF-8"):
        read_document(tmp_path / "latin1.md")


# -- files: locks, mode, symlinks, concurrency -----------------------------------------------------


def test_edit_keeps_mode_and_symlink(project: Path) -> None:
    real = project / "docs" / "plan.md"
    real.parent.mkdir()
    real.write_text(CORPUS["plain"])
    real.chmod(0o644)
    link = project / "plan-link.md"
    link.symlink_to(real)
    edit_document(link, lambda t: set_field(t, "resume", "r9"))
    assert link.is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
    assert parse(real.read_text()).resume == "r9"


def test_ensure_session_adds_a_uuid_once(tmp_path: Path) -> None:
    f = tmp_path / "d.md"
    f.write_text("# no frontmatter\n")
    sid, generated = ensure_session_file(f)
    assert generated and UUID_RE.match(sid)
    assert f.read_text() == f"---\nagent_doc_session: {sid}\n---\n# no frontmatter\n"
    assert ensure_session_file(f) == (sid, False)
    text, same, changed = ensure_session(f.read_text())
    assert (same, changed) == (sid, False) and text == f.read_text()


ENSURE = """
import os, sys, time
from agent_doc.document import ensure_session_file
go = sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.001)
sid, generated = ensure_session_file(sys.argv[1])
print(sid, int(generated))
"""


def test_concurrent_ensure_session_agrees_on_one_uuid(project: Path) -> None:
    f = project / "shared.md"
    original = "---\n# keep me\ncustom: 1\n---\n\n## User\n\nhi\n"
    f.write_text(original)
    go = project / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", ENSURE, str(f), str(go)], stdout=subprocess.PIPE,
                         text=True)
        for _ in range(8)
    ]
    go.write_text("")
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    sids = {o[0] for o in outs}
    assert len(sids) == 1
    sid = sids.pop()
    assert sum(int(o[1]) for o in outs) == 1  # exactly one process generated it
    expected = original.replace("custom: 1\n", f"custom: 1\nagent_doc_session: {sid}\n")
    assert f.read_text() == expected


APPEND = """
import sys
from agent_doc.document import edit_document
for i in range(25):
    edit_document(sys.argv[1], lambda t: t + f"{sys.argv[2]}-{i}\\n")
"""


def test_edit_document_loses_no_update(project: Path) -> None:
    f = project / "log.md"
    f.write_text("---\nagent_doc_session: abc\n---\n")
    procs = [subprocess.Popen([sys.executable, "-c", APPEND, str(f), f"p{k}"]) for k in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    body = parse(f.read_text()).body.splitlines()
    assert sorted(body) == sorted(f"p{k}-{i}" for k in range(4) for i in range(25))
    assert not [n for n in os.listdir(project) if ".tmp-" in n]
