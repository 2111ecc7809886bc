"""The streaming region's pure functions (agent_doc.stream, issue 16): building the region,
finding and cutting it out again, the fallback when the user typed inside it, and the
prefix-stable display text. The end-to-end behaviour (real processes) is in
tests/test_stream_cli.py."""

from __future__ import annotations

import itertools
import threading

from agent_doc.merge import merge3way
from agent_doc.stream import (
    INTERRUPTED_NOTE,
    Flusher,
    Region,
    display_text,
    interrupted_answer,
    marker,
    streaming_block,
    strip_region,
)
from agent_doc.writeback import clean_response, response_block

SENT = "# Doc\n\n## User\n\nWhat is 2+2?\n"
ANSWER = "It is 4.\n\nBecause 2+2=4."


def non_streamed(user: str, sent: str = SENT, answer: str = ANSWER) -> str:
    ours = sent + response_block(sent, answer)
    return ours if user == sent else merge3way(sent, ours, user).text


def test_region_shows_partial_then_marker_then_next_user_heading() -> None:
    block = streaming_block(SENT, "It is", "0badcafe")
    assert block == ("\n## Assistant\n\nIt is\n\n<!-- agent:boundary:0badcafe -->\n\n"
                     "## User\n\n")


def test_region_keeps_crlf() -> None:
    sent = SENT.replace("\n", "\r\n")
    block = streaming_block(sent, "a\nb", "12345678")
    assert "\n" not in block.replace("\r\n", "")
    assert "a\r\nb\r\n\r\n<!-- agent:boundary:12345678 -->\r\n" in block


def test_strip_region_gives_back_the_users_text() -> None:
    region = Region(SENT, "aaaaaaaa")
    on_disk, _ = region.compose(SENT, "It is", final=False)
    region.wrote(on_disk, "It is")
    assert region.user_only(on_disk) == SENT
    # user typed below and above meanwhile
    typed = "Intro line\n" + on_disk + "more from the user\n"
    assert region.user_only(typed) == "Intro line\n" + SENT + "more from the user\n"


def test_final_equals_non_streamed_for_the_same_user_edits() -> None:
    region = Region(SENT, "bbbbbbbb")
    disk = SENT
    for partial in ("It", "It is 4.", "It is 4.\n\nBecause"):
        disk, _ = region.compose(disk, partial, final=False)
        region.wrote(disk, partial)
        disk = "Top\n" + disk  # the user adds a line above after each flush
    user_edits = "Top\nTop\nTop\n" + SENT
    final, conflicts = region.compose(disk, ANSWER, final=True)
    assert conflicts == 0
    assert final == non_streamed(user_edits)
    assert "agent:boundary" not in final


def test_an_older_flushed_version_saved_by_an_editor_is_recognised() -> None:
    region = Region(SENT, "cccccccc")
    first, _ = region.compose(SENT, "It", final=False)
    region.wrote(first, "It")
    second, _ = region.compose(first, "It is 4.", final=False)
    region.wrote(second, "It is 4.")
    # the editor had loaded `first`, the user typed, saved over `second`
    saved = first + "typed later\n"
    assert region.user_only(saved) == SENT + "typed later\n"


def test_marker_absent_means_the_whole_text_is_the_users() -> None:
    assert strip_region(SENT + "x\n", SENT, "dddddddd", ["It"]) == SENT + "x\n"
    region = Region(SENT, "dddddddd")
    disk, _ = region.compose(SENT, "It", final=False)
    region.wrote(disk, "It")
    final, _ = region.compose(SENT + "x\n", ANSWER, final=True)  # a pre-stream save
    assert final == non_streamed(SENT + "x\n")


def test_typing_inside_the_region_falls_back_and_keeps_the_typing() -> None:
    region = Region(SENT, "eeeeeeee")
    disk, _ = region.compose(SENT, "It is", final=False)
    region.wrote(disk, "It is")
    typed = disk.replace("It is\n", "It is\nMY NOTE\n")
    assert region.user_only(typed) is None
    disk2, _conflicts = region.compose(typed, "It is 4.", final=False)
    assert region.fallback
    region.wrote(disk2, "It is 4.")
    final, _conflicts = region.compose(disk2, "It is 4. Done.", final=True)
    assert "MY NOTE" in final
    assert marker("eeeeeeee") not in final
    assert "Done." in final


def test_recovering_process_without_last_written_cuts_an_unmatched_region() -> None:
    region = Region(SENT, "ffffffff")
    disk, _ = region.compose(SENT, "It is", final=False)
    # a recovering process knows only a partial that is not what is on disk
    recovering = Region(SENT, "ffffffff", ["Something else"])
    final, _ = recovering.compose(disk + "user\n", interrupted_answer("It is"), final=True)
    assert marker("ffffffff") not in final
    assert final.count("## Assistant") == 1
    assert final.endswith("user\n")


def test_display_text_is_prefix_stable_and_cleans_like_clean_response() -> None:
    raw = "\n\n## Assistant\n\nHello\r\nworld  \n\nmore text\n\n"
    shown = [display_text(raw[:i]) for i in range(len(raw) + 1)]
    for a, b in itertools.pairwise(shown):
        assert b.startswith(a), (a, b)
    assert shown[-1] == clean_response(raw)
    assert display_text("## Assis") == ""  # may still become the heading: held back
    assert display_text("# Title") == "# Title"


def test_interrupted_answer_ends_with_the_note() -> None:
    assert interrupted_answer("partial").endswith("\n\n" + INTERRUPTED_NOTE)
    assert interrupted_answer("") == INTERRUPTED_NOTE


def test_flusher_flushes_first_text_at_once_and_the_rest_at_the_end() -> None:
    seen: list[str] = []
    first = threading.Event()

    def flush(partial: str) -> bool:
        seen.append(partial)
        first.set()
        return True

    f = Flusher(flush, interval=5.0)
    f.write("Hello")
    assert first.wait(5.0)  # the first text did not wait for the interval
    f.write(" world")
    f.stop(final_flush=True)
    assert seen == ["Hello", "Hello world"]


def test_flusher_stops_flushing_after_a_failed_flush() -> None:
    calls: list[str] = []

    def flush(partial: str) -> bool:
        calls.append(partial)
        return False

    f = Flusher(flush, interval=0.05)
    f.write("a")
    f.write(" b")
    assert f.stop(final_flush=True) == "a b"
    assert len(calls) == 1


def test_flusher_starts_its_thread_with_the_first_text_only() -> None:
    """An answer that brings no text to show before it ends (it arrives whole, or the agent
    fails first) costs no thread — and no `threading` import — in `run`; the first text
    starts the thread and is flushed at once."""
    def flushers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "agent-doc-flusher"]

    before = flushers()
    seen: list[str] = []
    idle = Flusher(seen.append, interval=5.0)
    idle.restart()
    assert flushers() == before
    assert idle.stop(final_flush=True) == "" and seen == []
    assert flushers() == before

    first = threading.Event()

    def flush(partial: str) -> bool:
        seen.append(partial)
        first.set()
        return True

    f = Flusher(flush, interval=5.0)
    assert flushers() == before
    f.write("Hello")
    assert len(flushers()) == len(before) + 1
    assert first.wait(5.0)
    assert f.stop() == "Hello" and seen == ["Hello"]
    assert flushers() == before
