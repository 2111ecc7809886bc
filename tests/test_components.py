"""Component markers, patch modes and components.toml (agent_doc.components; Part B §7, §2.8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_doc.comments import VALID_NAME, is_agent_marker
from agent_doc.components import (
    ComponentConfig,
    ComponentError,
    apply_patch,
    component_config,
    find_component,
    load_component_configs,
    parse_components,
    trim_entries,
)
from agent_doc.trust import UntrustedError
from helpers.cli import trust_project

# -- grammar -------------------------------------------------------------------------------


def test_single_component_content_and_offsets() -> None:
    text = "# T\n<!-- agent:status -->\nHello\n<!-- /agent:status -->\ntail\n"
    [c] = parse_components(text)
    assert c.name == "status"
    assert c.content == "Hello\n"
    assert text[c.open_start : c.open_end] == "<!-- agent:status -->\n"
    assert text[c.close_start : c.close_end] == "<!-- /agent:status -->\n"
    assert (c.line, c.close_line) == (2, 4)
    assert c.is_block


def test_nested_sorted_outer_first_and_siblings() -> None:
    text = (
        "<!-- agent:outer -->\na\n<!-- agent:inner -->\ncontent\n<!-- /agent:inner -->\n"
        "<!-- /agent:outer -->\n<!-- agent:sib -->x<!-- /agent:sib -->\n"
    )
    comps = parse_components(text)
    assert [c.name for c in comps] == ["outer", "inner", "sib"]
    assert comps[1].content == "content\n"
    assert comps[2].content == "x"
    assert not comps[2].is_block


def test_no_components_and_other_comments_ignored() -> None:
    assert parse_components("plain text\n") == []
    text = "<!-- a note -->\n<!--\nmulti\nline\n-->\n<!-- agent:s -->v<!-- /agent:s -->"
    assert [c.name for c in parse_components(text)] == ["s"]


def test_adjacent_markers_give_empty_content() -> None:
    [c] = parse_components("<!-- agent:e --><!-- /agent:e -->")
    assert c.content == ""


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("a\n<!-- agent:x -->\nb\n", "unclosed component: <!-- agent:x -->", 2),
        ("a\nb\n<!-- /agent:x -->\n", "without matching open", 3),
        ("<!-- agent:a -->\n<!-- /agent:b -->\n", "mismatched component: opened 'a'", 2),
        ("x\n<!-- agent: note to self -->\n", "invalid component name: ' note to self'", 2),
        ("<!-- /agent:has_underscore -->", "invalid component name: 'has_underscore'", 1),
    ],
)
def test_errors_name_file_and_line(text: str, needle: str, line: int) -> None:
    with pytest.raises(ComponentError) as info:
        parse_components(text, "notes/plan.md")
    assert needle in info.value.message
    assert info.value.message.startswith(f"notes/plan.md:{line}: ")
    assert info.value.hint


def test_name_validation_matches_reference_cases() -> None:
    for good in ("status", "my-section", "a1", "A"):
        assert VALID_NAME.match(good), good
    for bad in ("", "-bad", "has space", "has_underscore"):
        assert not VALID_NAME.match(bad), bad
    assert is_agent_marker(" agent:x ") and is_agent_marker("/agent:x")
    for no in ("agent:", "/agent:", "agent:-bad", "some agent:fake stuff"):
        assert not is_agent_marker(no)


def test_markers_inside_code_are_text() -> None:
    text = (
        "Write `<!-- agent:demo -->` to open one.\n"
        "```md\n<!-- agent:fenced -->\n<!-- /agent:oops -->\n```\n"
        "<!-- agent:real -->\nv\n<!-- /agent:real -->\n"
    )
    assert [c.name for c in parse_components(text)] == ["real"]


def test_unterminated_comment_stops_the_scan() -> None:
    text = "<!-- agent:a -->x<!-- /agent:a -->\n<!-- never closed <!-- agent:b -->"
    assert [c.name for c in parse_components(text)] == ["a"]


def test_find_component_reports_available_names() -> None:
    text = "<!-- agent:a -->\n<!-- /agent:a -->\n<!-- agent:b -->\n<!-- /agent:b -->\n"
    with pytest.raises(ComponentError) as info:
        find_component(text, "zzz", "doc.md")
    assert "component 'zzz' not found in doc.md" in info.value.message
    assert "a, b" in info.value.message


# -- modes -----------------------------------------------------------------------------------

DOC = "# Title\n\n<!-- agent:log -->\nold\n<!-- /agent:log -->\n\nafter\n"


def test_replace_keeps_markers_and_surroundings_exactly() -> None:
    out = apply_patch(DOC, "log", "new\n", "replace", timestamp=False, max_entries=0)
    assert out == "# Title\n\n<!-- agent:log -->\nnew\n<!-- /agent:log -->\n\nafter\n"
    assert [c.content for c in parse_components(out)] == ["new\n"]


def test_replace_block_component_keeps_close_marker_on_its_own_line() -> None:
    out = apply_patch(DOC, "log", "no newline", "replace", timestamp=False, max_entries=0)
    assert "no newline\n<!-- /agent:log -->" in out


def test_replace_inline_component_is_byte_exact() -> None:
    text = "Build: <!-- agent:b -->red<!-- /agent:b --> today\n"
    out = apply_patch(text, "b", "green", "replace", timestamp=False, max_entries=0)
    assert out == "Build: <!-- agent:b -->green<!-- /agent:b --> today\n"


def test_append_and_prepend() -> None:
    out = apply_patch(DOC, "log", "two", "append", timestamp=False, max_entries=0)
    assert find_component(out, "log").content == "old\ntwo\n"
    out = apply_patch(DOC, "log", "zero\n", "prepend", timestamp=False, max_entries=0)
    assert find_component(out, "log").content == "zero\nold\n"


def test_append_to_content_without_final_newline_starts_a_new_line() -> None:
    text = "<!-- agent:l -->\nfirst<!-- /agent:l -->\n"
    out = apply_patch(text, "l", "second", "append", timestamp=False, max_entries=0)
    assert find_component(out, "l").content == "first\nsecond\n"


def test_patch_acts_on_first_duplicate() -> None:
    text = "<!-- agent:d -->\n1\n<!-- /agent:d -->\n<!-- agent:d -->\n2\n<!-- /agent:d -->\n"
    out = apply_patch(text, "d", "X\n", "replace", timestamp=False, max_entries=0)
    assert [c.content for c in parse_components(out)] == ["X\n", "2\n"]


def test_timestamp_prefix_also_in_replace_mode() -> None:
    out = apply_patch(
        DOC, "log", "e", "replace", timestamp=True, max_entries=0, stamp="2026-01-02T03:04:05Z"
    )
    assert find_component(out, "log").content == "[2026-01-02T03:04:05Z] e\n"
    out2 = apply_patch(DOC, "log", "e", "append", timestamp=True, max_entries=0)
    line = find_component(out2, "log").content.splitlines()[1]
    assert line.startswith("[20") and line.endswith("Z] e")


def test_prepend_with_max_entries_keeps_the_newest() -> None:
    text = "<!-- agent:log -->\n<!-- /agent:log -->\n"
    for i in range(1, 6):
        text = apply_patch(text, "log", f"entry {i}", "prepend", timestamp=False, max_entries=3)
    assert find_component(text, "log").content == "entry 5\nentry 4\nentry 3\n"


def test_append_with_max_entries_keeps_the_last() -> None:
    text = "<!-- agent:log -->\n<!-- /agent:log -->\n"
    for i in range(1, 6):
        text = apply_patch(text, "log", f"entry {i}", "append", timestamp=False, max_entries=3)
    assert find_component(text, "log").content == "entry 3\nentry 4\nentry 5\n"


def test_trim_entries_rule() -> None:
    assert trim_entries("1\n2\n3\n4\n5\n", 3) == "3\n4\n5\n"
    assert trim_entries("1\n2\n3\n4\n5\n", 3, keep="first") == "1\n2\n3\n"
    assert trim_entries("a\n\nb\n", 5) == "a\n\nb\n"  # under the limit: unchanged
    assert trim_entries("a\n\nb\n\nc", 2) == "b\nc"  # blank lines dropped, no final newline
    assert trim_entries("a\nb\n", 0) == "a\nb\n"


def test_crlf_document_gets_crlf_entries() -> None:
    text = "<!-- agent:l -->\r\nold\r\n<!-- /agent:l -->\r\n"
    out = apply_patch(text, "l", "new", "append", timestamp=False, max_entries=0)
    assert out == "<!-- agent:l -->\r\nold\r\nnew\r\n<!-- /agent:l -->\r\n"


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ComponentError, match="unknown patch mode 'upsert'"):
        apply_patch(DOC, "log", "x", "upsert", timestamp=False, max_entries=0)


# -- components.toml ---------------------------------------------------------------------------


def test_config_defaults_and_values(project: Path) -> None:
    toml = project / ".agent-doc" / "components.toml"
    assert component_config(toml, "log") == ComponentConfig()  # no file
    toml.write_text(
        '[log]\nmode = "prepend"\ntimestamp = true\nmax_entries = 7\npre_patch = "cat"\n'
        'post_patch = "true"\ntrigger = true\nhook_timeout = 2.5\n\n[other]\n'
    )
    # the hooks run programs: off (None, recorded as blocked) until the project is trusted
    cfgs = load_component_configs(toml)
    assert (cfgs["log"].pre_patch, cfgs["log"].post_patch) == (None, None)
    assert [b.setting for b in cfgs["log"].blocked] == ["[log] pre_patch", "[log] post_patch"]
    assert cfgs["log"].mode == "prepend" and cfgs["log"].max_entries == 7  # run nothing: apply
    with pytest.raises(UntrustedError, match=f"^{toml}:5: \\[log\\] pre_patch is not applied"):
        component_config(toml, "log")
    assert component_config(toml, "other") == ComponentConfig()  # no hook: no trust needed
    trust_project(project)
    cfgs = load_component_configs(toml)
    assert cfgs["log"] == ComponentConfig("prepend", True, 7, "cat", "true", True, 2.5)
    assert cfgs["other"] == ComponentConfig()
    assert component_config(toml, "missing") == ComponentConfig()


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        ('[log]\nmode = "append"\nmax_entries = = 3\n', 3, "invalid TOML"),
        ('[log]\ntimestamp = true\nmode = "upsert"\n', 3, "mode must be one of"),
        ("[log]\n\nmax_entries = -1\n", 3, "max_entries must be a whole number"),
        ('[log]\ntrigger = "yes"\n', 2, "trigger must be true or false"),
        ("[log]\nhook_timeout = 0\n", 2, "hook_timeout must be a number"),
        ('[log]\npre_patch = ""\n', 2, "pre_patch must be a non-empty"),
        ('mode = "append"\n', 1, "'mode' must be a table"),
    ],
)
def test_invalid_config_is_an_error_with_file_and_line(
    tmp_path: Path, body: str, line: int, needle: str
) -> None:
    toml = tmp_path / "components.toml"
    toml.write_text(body)
    with pytest.raises(ComponentError) as info:
        load_component_configs(toml)
    assert info.value.message.startswith(f"{toml}:{line}: "), info.value.message
    assert needle in info.value.message
    assert info.value.hint


def test_unknown_key_is_a_warning_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "components.toml"
    toml.write_text('[log]\nmode = "append"\ntriger = true\n')
    assert load_component_configs(toml)["log"].mode == "append"
    err = capsys.readouterr().err
    assert f"{toml}:3: unknown key 'triger'" in err
