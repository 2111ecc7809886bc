#!/usr/bin/env python3
"""The reader process of the streaming torture tests: parses a document in a loop while an
answer streams into it and an editor saves it, as an editor's file watcher would.

    python stream_reader.py DOC OUT SEQ STOP ANSWER_FILE [PREFIX [lines|partial]]

ANSWER_FILE holds the full answer the agent will give. Every read that the editor did not tear
(SEQ is the editor's seqlock, see ``stream_editor.py``: a read made while an in-place save of
the editor was under way is discarded) must be:

* valid UTF-8, with frontmatter that parses (``agent_doc.document.parse``) and holds
  ``agent_doc_session``;
* at most one boundary marker line (``<!-- agent:boundary:``);
* the answer lines it shows are the first lines of the answer, in order, each one whole
  (with ``partial``: the last one shown may be the start of its line);
* every user line (``PREFIX-above-N``/``PREFIX-below-N``) whole. The caller checks that every
  user line it saw (``user_lines``) is in the final document; a read missing a line seen
  earlier is counted (``transient_missing``), not failed: an in-place save landing in the file
  a write-back displaces is merged in by the next swap, milliseconds later (cycle.py).

Writes ``{"reads", "discarded", "states", "transient_missing", "user_lines", "failures",
"n_failures"}`` to OUT when
the file STOP exists; ``states`` counts the distinct numbers of answer lines seen (more than 2
means the answer was seen growing).
"""

from __future__ import annotations

import json
import mmap
import os
import re
import struct
import sys
import time


def main() -> int:
    doc, out, seq_path, stop, answer_file = sys.argv[1:6]
    prefix = sys.argv[6] if len(sys.argv) > 6 else "user"
    # "lines": the agent streams whole lines (text agents); "partial": its pieces may end
    # inside a line (Claude's text deltas), so the last answer line shown may be a prefix
    partial_lines = (sys.argv[7] if len(sys.argv) > 7 else "lines") == "partial"
    from agent_doc.document import parse

    with open(answer_file, encoding="utf-8") as fh:
        answer = [ln for ln in fh.read().split("\n") if ln.strip()]
    answer_tag = answer[0].split("-", 1)[0] + "-" if answer else "\0"
    user_re = re.compile(rf"^{re.escape(prefix)}-(above|below)-\d+$")
    fd = os.open(seq_path, os.O_RDONLY)
    seq = mmap.mmap(fd, 8, prot=mmap.PROT_READ)
    os.close(fd)
    reads = discarded = transient = 0
    seen: set[str] = set()
    states: set[int] = set()
    failures: list[str] = []

    def fail(msg: str, raw: bytes) -> None:
        failures.append(f"read {reads}: {msg}: {raw[:300]!r}...{raw[-300:]!r}")

    while not os.path.exists(stop):
        (s0,) = struct.unpack_from("<Q", seq, 0)
        try:
            with open(doc, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            fail("the document is missing", b"")
            time.sleep(0.002)
            continue
        (s1,) = struct.unpack_from("<Q", seq, 0)
        if s0 != s1 or s0 % 2:
            discarded += 1
            time.sleep(0.0005)
            continue
        reads += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            fail(f"not UTF-8 ({exc})", raw)
            continue
        try:
            d = parse(text, doc)
            if not d.session:
                fail("frontmatter without agent_doc_session", raw)
        except Exception as exc:
            fail(f"frontmatter: {exc}", raw)
        lines = text.replace("\r\n", "\n").split("\n")
        markers = sum(1 for ln in lines if ln.startswith("<!-- agent:boundary:"))
        if markers > 1:
            fail(f"{markers} boundary markers", raw)
        shown = [ln for ln in lines if ln.startswith(answer_tag)]
        want = answer[: len(shown)]
        if partial_lines and shown and len(shown) <= len(answer) \
                and answer[len(shown) - 1].startswith(shown[-1]):
            want = [*want[:-1], shown[-1]]  # the last line may still be growing
        if shown != want:
            bad = next(i for i, ln in enumerate(shown) if i >= len(want) or ln != want[i])
            fail(f"answer line {bad} is not the answer's line {bad}: {shown[bad]!r}", raw)
        states.add(len(shown))
        users = {ln for ln in lines if ln.startswith(f"{prefix}-")}
        torn = [ln for ln in users if not user_re.match(ln)]
        if torn:
            fail(f"torn user lines {torn[:3]}", raw)
        if seen - users:  # a save displaced by a write-back: put back a moment later
            transient += 1
        seen |= users
        time.sleep(0.001)
    with open(out, "w") as fh:
        json.dump({"reads": reads, "discarded": discarded, "states": len(states),
                   "transient_missing": transient,
                   "user_lines": sorted(seen), "failures": failures[:20],
                   "n_failures": len(failures)}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
