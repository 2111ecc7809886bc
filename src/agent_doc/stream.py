"""Streaming answers into the document while the agent writes them (issue 16; engine layer).

While an answer streams, the document holds a **region** right where the finished answer will
land: ``response_block(sent, partial + "\\n\\n" + marker)`` — the ``## Assistant`` heading, the
text streamed so far, a blank line, the boundary marker ``<!-- agent:boundary:ID -->``, a blank
line and the next ``## User`` heading (the document's newline style, CRLF kept).

Every flush and the final write are computed from the **user's text without our region**
(:meth:`Region.user_only`): the marker is found, the text around it must be exactly a region
we wrote (one of the partial answers we flushed, newest first), and that region is cut out.
Then the usual 3-way merge with base = sent text, ours = sent + block runs (block = the
streaming block for a flush, the real response block for the final write) — so the final
document is the non-streamed one for the same answer and the same user edits.

* marker absent (an editor saved a version from before the stream, or the user deleted the
  region): the user's text is the whole current text; the answer is put back;
* marker present but the text around it is not a region we wrote (the user typed inside the
  streaming answer): :meth:`Region.compose` falls back, for the rest of the stream, to a 3-way
  merge with base = the text we last wrote and ours = that text with our region grown.

:class:`Flusher` is the rate limit: the writer thread (the agent's reader) only appends and
signals; a flusher thread flushes the first text at once and later text at most every
``interval`` seconds, so a paused agent's last chunk still appears. All functions here except
:class:`Flusher` are pure.
"""

from __future__ import annotations

import os
import time

from agent_doc.merge import merge3way, newline_of

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import threading
    from collections.abc import Callable, Iterable

#: the marker line's text is ``<!-- agent:boundary:ID -->`` (ID: 8 hex digits per cycle)
MARKER_PREFIX = "<!-- agent:boundary:"
MARKER_SUFFIX = " -->"
#: the line that ends an answer cut short (Ctrl-C, a run killed mid-stream)
INTERRUPTED_NOTE = "*[answer interrupted]*"
#: default seconds between two flushes after the first
DEFAULT_INTERVAL = 0.25
INTERVAL_MIN = 0.05
INTERVAL_MAX = 5.0


def new_boundary() -> str:
    """8 random hex digits: the ID of one streamed answer."""
    return os.urandom(4).hex()


def marker(boundary: str) -> str:
    return f"{MARKER_PREFIX}{boundary}{MARKER_SUFFIX}"


def response_block(sent: str, response: str) -> str:
    """The cycle's response block (SPEC A3), imported lazily: ``cycle`` imports us."""
    from agent_doc.writeback import response_block as block

    return block(sent, response)


def _is_heading_start(line: str) -> bool:
    """Could ``line`` (no newline yet) still become a ``## Assistant`` heading?"""
    s = line.strip()
    if not s:
        return True
    if not s.startswith("#") or len(s) > 24:
        return False
    word = s.lstrip("#").strip().lower()
    return "assistant".startswith(word[:9])


def display_text(raw: str) -> str:
    """The partial answer to show for the raw text streamed so far.

    Like :func:`agent_doc.writeback.clean_response` at the start (CRLF → LF, leading blank lines
    and a leading ``## Assistant`` heading dropped) and trailing whitespace removed; a first
    line that could still become that heading is held back until it is complete. The result
    for a longer ``raw`` always starts with the result for a shorter one (prefix-stable), so
    a flushed partial is a prefix of every later one.
    """
    from agent_doc.writeback import _ASSISTANT_HEADING

    text = raw.replace("\r\n", "\n")
    start = 0
    n = len(text)
    while True:  # leading blank lines
        nl = text.find("\n", start)
        if nl < 0:
            break
        if text[start:nl].strip():
            break
        start = nl + 1
    nl = text.find("\n", start)
    if nl < 0:
        if _is_heading_start(text[start:]):
            return ""
    elif _ASSISTANT_HEADING.match(text[start:nl]):
        start = nl + 1
        while True:
            nl = text.find("\n", start)
            if nl < 0 or text[start:nl].strip():
                break
            start = nl + 1
        if nl < 0 and not text[start:].strip():
            return ""
    return text[start:n].rstrip()


def streaming_block(sent: str, partial: str, boundary: str) -> str:
    """The region shown while streaming: the response block of ``partial`` + marker."""
    return response_block(sent, f"{partial}\n\n{marker(boundary)}")


def interrupted_answer(partial: str) -> str:
    """The answer written for a stream cut short: the partial text and the note."""
    return f"{partial}\n\n{INTERRUPTED_NOTE}" if partial.strip() else INTERRUPTED_NOTE


def _occurrences(text: str, needle: str) -> list[int]:
    found = []
    at = text.find(needle)
    while at >= 0:
        found.append(at)
        at = text.find(needle, at + 1)
    return found


def strip_region(text: str, sent: str, boundary: str, partials: Iterable[str]) -> str | None:
    """``text`` without our streaming region: ``text`` itself when the marker is absent, None
    when the marker is there but the text around it is not a region of one of ``partials``
    (the user typed inside it). Cost: one search for the marker plus one comparison of the
    region's length per partial tried (newest first: normally the first one matches)."""
    mark = marker(boundary)
    spots = _occurrences(text, mark)
    if not spots:
        return text
    tried: set[str] = set()
    for partial in partials:
        if partial in tried:
            continue
        tried.add(partial)
        block = streaming_block(sent, partial, boundary)
        m = block.rindex(mark)
        pre, post = block[:m], block[m + len(mark):]
        for pos in spots:
            start, end = pos - len(pre), pos + len(mark) + len(post)
            if start >= 0 and text.startswith(pre, start) and text.startswith(post, pos +
                                                                              len(mark)):
                return text[:start] + text[end:]
    return None


def merge_into(user: str, sent: str, ours: str) -> tuple[str, int]:
    """The non-streamed merge: ``ours`` (sent + block) into the user's text, base = sent."""
    if user == sent:
        return ours, 0
    m = merge3way(sent, ours, user)
    return m.text, m.conflicts


class Region:
    """One streamed answer in one document: what we flushed, and how to find it again.

    ``partials``: the partial answers flushed (newest first; a recovering process builds them
    from the journal's ``response`` and ``flushed`` lengths). ``last_written``: the document
    text our last flush wrote (for the fallback). ``fallback``: the user typed inside the
    region; from then on flushes merge against ``last_written``.
    """

    def __init__(self, sent: str, boundary: str | None = None,
                 partials: Iterable[str] = ()) -> None:
        self.sent = sent
        self.boundary = boundary or new_boundary()
        self.nl = newline_of(sent)
        self.partials: list[str] = list(partials)
        self.last_written: str | None = None
        self.fallback = False

    @property
    def marker(self) -> str:
        return marker(self.boundary)

    @property
    def shown(self) -> str:
        """The partial answer most recently flushed ('' before the first flush)."""
        return self.partials[0] if self.partials else ""

    def flushed_lengths(self) -> list[int]:
        """The journal's ``flushed``: lengths of the flushed partials that are prefixes of the
        newest (a restarted answer's older text is kept in memory only), newest first."""
        newest = self.shown
        return [len(p) for p in self.partials if newest.startswith(p)]

    def user_only(self, current: str) -> str | None:
        """The user's text without our region (None: not found as we wrote it)."""
        return strip_region(current, self.sent, self.boundary, self.partials)

    def compose(self, current: str, answer: str, *, final: bool) -> tuple[str, int]:
        """The text to write for ``current`` (what is on disk): a flush shows ``answer`` as
        the partial text with the marker; the final write puts ``answer`` as the response.
        Returns ``(text, conflicts)``; ``resume`` is the caller's business."""
        if not self.fallback:
            user = self.user_only(current)
            if user is not None:
                block = response_block(self.sent, answer) if final else streaming_block(
                    self.sent, answer, self.boundary)
                return merge_into(user, self.sent, self.sent + block)
            if self.last_written is None:
                return self._recover_unmatched(current, answer, final)
            self.fallback = True
        base = self.last_written or current
        ours = self._grown(base, answer, final)
        if ours is None:  # our marker is gone from what we wrote: nothing to grow in place
            return merge_into(current, self.sent, self.sent + (
                response_block(self.sent, answer) if final else
                streaming_block(self.sent, answer, self.boundary)))
        m = merge3way(base, ours, current)
        return m.text, m.conflicts

    def _grown(self, base: str, answer: str, final: bool) -> str | None:
        """``base`` with our region grown to ``answer`` in place: the new text goes right
        before the blank line and marker (the text already shown stays as the user left it);
        for the final write the marker line goes away."""
        nl = self.nl
        tail = f"{nl}{nl}{self.marker}"
        at = base.rfind(tail)
        if at < 0:
            return None
        shown = self.shown
        common = 0
        limit = min(len(shown), len(answer))
        while common < limit and shown[common] == answer[common]:
            common += 1
        extra = answer[common:].replace("\n", nl) if nl != "\n" else answer[common:]
        if final:
            return base[:at] + extra + base[at + len(tail):]
        return base[:at] + extra + base[at:]

    def _recover_unmatched(self, current: str, answer: str, final: bool) -> tuple[str, int]:
        """No text of ours to merge against (a recovering process) and the region is not as
        we wrote it: :meth:`withdraw` it as far as it is recognisable, then merge as usual."""
        user = self.withdraw(current)
        block = response_block(self.sent, answer) if final else streaming_block(
            self.sent, answer, self.boundary)
        return merge_into(user, self.sent, self.sent + block)

    def withdraw(self, current: str) -> str:
        """``current`` without our region: exactly when it is as we wrote it; else from the
        last ``## Assistant`` heading before the marker to the end of the marker's region
        (the next ``## User`` heading); else only the marker line. No marker: unchanged."""
        user = self.user_only(current)
        if user is not None:
            return user
        from agent_doc.writeback import _ASSISTANT_HEADING

        nl = self.nl
        mark = self.marker
        pos = current.rfind(mark)
        post = f"{nl}{nl}## User{nl}{nl}"
        end = pos + len(mark)
        end = end + len(post) if current.startswith(post, end) else end
        line_start = current.rfind("\n", 0, pos) + 1
        head = -1
        scan = line_start
        while scan > 0:
            prev = current.rfind("\n", 0, scan - 1) + 1
            if _ASSISTANT_HEADING.match(current[prev:scan].rstrip("\r\n")):
                head = prev
                break
            scan = prev
        if head < 0:  # no heading: drop the marker line only
            eol = current.find("\n", pos)
            return current[:line_start] + (current[eol + 1:] if eol >= 0 else "")
        # the blank line before the heading belongs to the region too
        if current[:head].endswith(nl * 2):
            head -= len(nl)
        return current[:head] + current[end:]

    def wrote(self, text: str, partial: str) -> None:
        """Record a successful flush: ``text`` is on disk, showing ``partial``."""
        self.last_written = text
        if not self.partials or self.partials[0] != partial:
            self.partials.insert(0, partial)


class Flusher:
    """The rate limit between the agent's reader and the document.

    :meth:`write` (the agent's reading thread: it only appends and signals) and
    :meth:`restart` are the :class:`~agent_doc.agents.base.TextStream` protocol. A daemon
    thread, started by the first :meth:`write` (an answer that brings no text before
    :meth:`stop` costs no thread), calls ``flush(partial)`` with the display text: the first
    text at once, later text at most every ``interval`` seconds, and whatever is left when
    :meth:`stop` is called (``final_flush=True``) or nothing more (``final_flush=False``).
    ``flush`` returns False to stop flushing for good (a flush failed; the stream goes on in
    memory). :meth:`stop` is called once the writer is done (the agent call returned, standard
    input was read), as the cycle and ``write`` do.
    """

    def __init__(self, flush: Callable[[str], bool], interval: float = DEFAULT_INTERVAL) -> None:
        self._flush = flush
        self.interval = interval
        self._chunks: list[str] = []
        self._raw = ""
        # the thread, its lock and events are made by the first write: most answers of a
        # `run` are read before any text arrives or arrive whole (no delta to show), and
        # `threading` plus a thread are start-up cost of every run (bench/RESULTS.md). Until
        # then only the writer's thread touches this object, so nothing needs a lock
        self._lock: threading.Lock | None = None
        self._wake: threading.Event | None = None
        self._stop_event: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._shown = ""
        self._enabled = True
        self.flushes = 0
        self.restarts = 0

    def _start(self) -> None:
        """Start the flusher thread (the first :meth:`write`; not after :meth:`stop`)."""
        import threading

        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="agent-doc-flusher",
                                        daemon=True)
        self._thread.start()

    # -- TextStream
    def write(self, delta: str) -> None:
        if not delta:
            return
        if self._lock is None:
            self._chunks.append(delta)
            if not self._stopping:
                self._start()
                assert self._wake is not None
                self._wake.set()
            return
        with self._lock:
            self._chunks.append(delta)
        assert self._wake is not None
        self._wake.set()

    def restart(self) -> None:
        if self._lock is None:
            self._chunks = []
            self._raw = ""
            self.restarts += 1
            return
        with self._lock:
            self._chunks = []
            self._raw = ""
            self.restarts += 1

    # -- state
    def raw(self) -> str:
        if self._lock is None:
            return self._collect()
        with self._lock:
            return self._collect()

    def _collect(self) -> str:
        if self._chunks:
            self._raw += "".join(self._chunks)
            self._chunks = []
        return self._raw

    def partial(self) -> str:
        return display_text(self.raw())

    def _flush_now(self) -> None:
        if not self._enabled:
            return
        partial = self.partial()
        if not partial or partial == self._shown:
            return
        if self._flush(partial):
            self._shown = partial
            self.flushes += 1
        else:
            self._enabled = False

    def _loop(self) -> None:
        assert self._wake is not None and self._stop_event is not None
        last = 0.0
        while True:
            self._wake.wait()
            if self._stopping:
                return
            wait = last + self.interval - time.monotonic() if self.flushes else 0.0
            if wait > 0 and self._stop_event.wait(min(wait, self.interval)):
                return
            self._wake.clear()
            self._flush_now()
            last = time.monotonic()

    def stop(self, final_flush: bool = False) -> str:
        """Stop the thread (waiting for a flush under way); returns the last display text."""
        self._stopping = True
        if self._thread is not None:
            assert self._wake is not None and self._stop_event is not None
            self._stop_event.set()
            self._wake.set()
            self._thread.join()
        if final_flush:
            self._flush_now()
        return self.partial()
