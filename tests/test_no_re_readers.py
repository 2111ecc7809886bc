"""The hand-written readers that keep ``re`` and ``json`` off the hotkey path behave exactly
like the pattern / ``json.loads`` they replace (property tests, many random inputs)."""

from __future__ import annotations

import json
import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_doc.document import _KEY_LINE_PATTERN, _any_key, _key_line
from tmux_router.registry import _json_loads

KEY_LINE = re.compile(_KEY_LINE_PATTERN)
ANY_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:")

# lines built from the characters that matter to the pattern, plus some that must not
ALPHABET = st.sampled_from([*"aZ_9.-: \t#'\"x\r\n\u00e9\u2028\x0b", "ab", "key", ": ", " #"])
LINES = st.lists(ALPHABET, max_size=14).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_key_line_matches_the_pattern(line: str) -> None:
    m = KEY_LINE.match(line)
    assert _key_line(line) == (None if m is None else (m.group(1), m.group(2)))
    a = ANY_KEY.match(line)
    assert _any_key(line) == (None if a is None else a.group(1))


def test_key_line_examples() -> None:
    assert _key_line("agent: claude") == ("agent", "claude")
    assert _key_line("agent :  claude \t") == ("agent", "claude")
    assert _key_line("agent:") == ("agent", None)
    assert _key_line("agent:   ") == ("agent", "")
    assert _key_line("agent:claude") is None
    assert _key_line("ägent: x") is None  # ASCII letters only, as the pattern says
    assert _key_line("a.b-c_1: v: w") == ("a.b-c_1", "v: w")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _assert_reads_like_json(text: str) -> None:
    """``_json_loads(text)`` gives what ``json.loads`` gives: the same value, or an error with
    the same message."""
    try:
        expected: object = json.loads(text)
    except json.JSONDecodeError as exc:
        expected = exc
    try:
        got: object = _json_loads(text)
    except json.JSONDecodeError as exc:
        got = exc
    if isinstance(expected, Exception):
        assert isinstance(got, json.JSONDecodeError) and str(got) == str(expected)
    else:
        assert _same(got, expected)


@settings(max_examples=700, deadline=None)
@given(JSON_VALUES, st.sampled_from(["", " ", "\n", "\t\r\n ", "\u00a0"]),
       st.sampled_from([True, False]))
def test_fast_json_reader_equals_json_loads(value: object, space: str, indent: bool) -> None:
    text = space + json.dumps(value, indent=2 if indent else None, ensure_ascii=False) + space
    _assert_reads_like_json(text)


@settings(max_examples=700, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}[]":,0123456789.eE-+ \n\tatrufnlsNI\\\ufeff')),
               max_size=20))
def test_fast_json_reader_fails_as_json_does(text: str) -> None:
    _assert_reads_like_json(text)


FIELD_VALUES = st.one_of(
    st.text(), st.integers(), st.booleans(), st.none(),
    st.floats(allow_nan=False), st.lists(st.integers(), max_size=2),  # these two: json.dumps
)
ENTRIES = st.dictionaries(
    st.text(max_size=8),
    st.dictionaries(
        st.sampled_from(["pane", "pid", "cwd", "started", "file", "window", "x", "é\"\n"]),
        FIELD_VALUES, max_size=7,
    ),
    max_size=5,
)


@settings(max_examples=700, deadline=None)
@given(ENTRIES)
def test_registry_text_equals_json_dumps(entries: dict) -> None:
    from tmux_router.registry import _ordered, dumps

    ordered = {k: _ordered(v) for k, v in entries.items()}
    assert dumps(entries) == json.dumps(ordered, indent=2, ensure_ascii=False)
