#!/usr/bin/env python3
"""A stand-in editor for the streaming torture tests: saves one document every INTERVAL seconds
while an answer streams into it, adding user lines above and below the answer.

    python stream_editor.py DOC LOG SEQ STOP INTERVAL [MODE] [PREFIX]

Each save adds two lines: ``<PREFIX>-above-N`` right after the last such line (or after the
line ``QUESTION-ANCHOR``: inside the text that was sent, so above the answer) and
``<PREFIX>-below-N`` at the end of the file (after the answer). Saves alternate **in place**
(open, truncate, write — ``backupcopy=yes``) and **by rename** (write ``.DOC.swp``, rename
over the document); MODE ``inplace`` or ``rename`` uses only one way. Like an editor that
reloads a file changed on disk, it re-reads the file right before saving and starts over when it
changed since it was read.

SEQ is a file of 8 bytes shared (``mmap``) with the reader process: a sequence counter the
editor makes odd for the duration of an in-place save (a seqlock), so the reader can tell a
state the *editor* tore (truncate then write) from one agent-doc tore.

Every completed save appends one JSON line to LOG: ``{"n", "how", "above", "below", "t"}``.
It stops when the file STOP exists, finishing the save under way; prints ``SAVES RETRIES``.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import sys
import time

ANCHOR = "QUESTION-ANCHOR"


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def edit(text: str, above: str, below: str, prefix: str) -> str:
    """``text`` with ``above`` inserted after the anchor and the above-lines already there, and
    ``below`` appended at the end (in the text's newline style)."""
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(nl)
    if ANCHOR in lines:
        at = lines.index(ANCHOR) + 1
        while at < len(lines) and lines[at].startswith(f"{prefix}-above-"):
            at += 1
    else:  # anchor gone (should not happen): put it at the end too
        at = len(lines) - 1 if lines and lines[-1] == "" else len(lines)
    lines.insert(at, above)
    out = nl.join(lines)
    if out and not out.endswith(nl):
        out += nl
    return out + below + nl


class SeqLock:
    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR)
        try:
            self.map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    def bump(self) -> None:
        (v,) = struct.unpack_from("<Q", self.map, 0)
        struct.pack_into("<Q", self.map, 0, v + 1)


def save_once(doc: str, above: str, below: str, *, prefix: str = "user", in_place: bool,
              seq: SeqLock | None = None, attempts: int = 100) -> int:
    """One save adding ``above`` and ``below`` (see :func:`edit`), re-done while the file
    changes under it; returns the number of retries. Raises RuntimeError if it never got a
    quiet moment, FileNotFoundError if the document is gone."""
    for retries in range(attempts):
        before = _read(doc)
        if before is None:
            raise FileNotFoundError(doc)
        new = edit(before.decode("utf-8"), above, below, prefix).encode("utf-8")
        tmp = None
        if not in_place:
            tmp = os.path.join(os.path.dirname(doc), f".{os.path.basename(doc)}.swp")
            with open(tmp, "wb") as fh:
                fh.write(new)
        if _read(doc) != before:  # changed on disk meanwhile: reload, redo the edit
            continue
        if tmp is not None:
            os.rename(tmp, doc)
            return retries
        if seq is not None:
            seq.bump()  # odd: an in-place save is under way
        try:
            fd = os.open(doc, os.O_WRONLY | os.O_TRUNC)
            try:
                view = memoryview(new)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        finally:
            if seq is not None:
                seq.bump()
        return retries
    raise RuntimeError(f"{doc} changed during each of {attempts} save attempts")


def main() -> int:
    doc, log, seq_path, stop, interval = sys.argv[1:6]
    mode = sys.argv[6] if len(sys.argv) > 6 else "alternate"
    prefix = sys.argv[7] if len(sys.argv) > 7 else "user"
    period = float(interval)
    seq = SeqLock(seq_path)
    n = retries = 0
    nxt = time.monotonic()
    while not os.path.exists(stop):
        nxt += period
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.monotonic()
        in_place = mode == "inplace" or (mode == "alternate" and n % 2 == 0)
        above, below = f"{prefix}-above-{n}", f"{prefix}-below-{n}"
        retries += save_once(doc, above, below, prefix=prefix, in_place=in_place, seq=seq)
        with open(log, "a") as fh:
            fh.write(json.dumps({"n": n, "how": "inplace" if in_place else "rename",
                                 "above": above, "below": below, "t": time.time()}) + "\n")
        n += 1
    print(f"{n} {retries}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
