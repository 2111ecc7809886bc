"""Unit tests on output captured from the real Claude Code CLI (``tests/fixtures/claude_code/
VERSION/``, written by the real-client tests with ``AGENT_DOC_CAPTURE_FIXTURES=1``): the
stream-json parser. Needs no CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_doc.agents.base import AgentError
from agent_doc.agents.claude import parse_stream_json, parse_stream_line

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "claude_code"
STREAMS = sorted(FIXTURES.glob("*/stream-json.jsonl"))


@pytest.mark.parametrize("path", STREAMS, ids=[p.parent.name for p in STREAMS])
def test_stream_json_of_the_real_cli(path: Path) -> None:
    events, final = parse_stream_json(path.read_bytes())
    kinds = [e.kind for e in events]
    assert kinds[0] == "system" and events[0].subtype == "init"
    assert kinds[-1] == "result" and final is events[-1]
    assert final.subtype == "success" and final.raw["is_error"] is False
    assert final.text.startswith("a streamed answer")
    # the text deltas add up to the answer, the whole assistant message carries it too
    assert "".join(e.text for e in events if e.kind == "text") == final.text
    assert [e.text for e in events if e.kind == "assistant"] == [final.text]
    sids = {e.session_id for e in events}
    assert len(sids) == 1 and len(sids.pop() or "") == 36
    assert {"message_start", "content_block_stop", "message_stop"} <= {
        e.subtype for e in events if e.kind == "other"}


def test_stream_json_fixtures_exist() -> None:
    assert STREAMS, f"no captured stream-json output under {FIXTURES}"


def test_stream_json_edge_cases() -> None:
    assert parse_stream_line("") is None and parse_stream_line(b"  \n") is None
    assert parse_stream_line('{"type": "new_kind_of_event"}').kind == "other"  # type: ignore
    with pytest.raises(AgentError, match="not JSON"):
        parse_stream_line("{oops")
    with pytest.raises(AgentError, match="not an object"):
        parse_stream_line("[1]")
    events, final = parse_stream_json('{"type":"system","subtype":"init"}\n')
    assert final is None and len(events) == 1  # killed before its result


PROMPTS = sorted(FIXTURES.glob("*/permission-prompt*.txt"))


@pytest.mark.parametrize("path", PROMPTS, ids=[f"{p.parent.name}/{p.name}" for p in PROMPTS])
def test_permission_prompt_screens_of_the_real_cli(path: Path) -> None:
    from agent_doc.prompt import parse_prompt

    info = parse_prompt(path.read_text())
    assert info.active and info.question == "Do you want to proceed?"
    labels = [o.label for o in info.options]
    assert labels[0] == "Yes" and labels[-1] == "No" and 3 <= len(labels) <= 4, labels
    assert [o.index for o in info.options] == list(range(1, len(labels) + 1))
    assert info.cursor == 0 and info.selected == 0
    # the dashed separators and the command shown above are not options or the question
    assert not any("╌" in label or label.startswith("touch") for label in labels)


def test_permission_prompt_fixtures_exist() -> None:
    assert len(PROMPTS) >= 2, f"no captured permission prompts under {FIXTURES}"
