#!/usr/bin/env python3
"""A fake streaming agent for the ``text`` protocol (issue 16): prints a deterministic answer
line by line with pauses, so ``agent-doc`` streams it into the document.

Configured in a project's ``.agent-doc/config.toml`` as::

    [agents.fake]
    command = "/path/to/python"
    args = ["/path/to/tests/fakes/stream_agent.py"]
    protocol = "text"

It reads the whole prompt from stdin, then prints :func:`answer_lines` (``seed``, ``chunks``,
``words``), one line per chunk, flushing each. The environment steers it:

STREAM_SEED        the answer's seed (default 1); the same seed gives the same answer
STREAM_CHUNKS      number of lines (default 20)
STREAM_WORDS       words per line (default 6)
STREAM_PAUSE       seconds between two lines (default 0.01); STREAM_PAUSE_MAX > it makes the
                   pause random in [PAUSE, PAUSE_MAX] (from the seed: reproducible)
STREAM_BURST       lines per burst (default 1): the pause comes only between bursts
STREAM_FIRST_DELAY seconds to wait after reading the prompt, before the first line
STREAM_STARTED     a file: ``WALLTIME PID`` is written there once the prompt is read
STREAM_FIRST_TS    a file: ``time.time() time.monotonic()`` written right before the first line
STREAM_DONE        a file: the wall time written after the last line
STREAM_BEFORE_EXIT_COPY  "SRC:DST": after the last line, the bytes of SRC are written over DST
                   (in place) — the user's edits arriving during a ``--no-stream`` call, so a
                   non-streamed run sees exactly the edits a streamed one saw
STREAM_NO_FINAL_NL "1": the last line is printed without a newline (the rest at EOF)
STREAM_FAIL        "1": exit 3 after the last line (an agent error after streaming)

The answer never contains ``## User``/``## Assistant`` headings or boundary markers; every
non-blank line starts with ``ans<seed>-<index>`` so a test can find each line of it in a
document, and some lines hold non-ASCII characters (UTF-8 split across reads is exercised).
"""

from __future__ import annotations

import os
import random
import sys
import time

WORDS = ("alpha", "beta", "gamma", "délta", "epsilon", "zêta", "eta", "θeta", "iota",
         "kappa", "lambda", "mu", "nü", "xi", "omicron", "pi", "rho", "sigma", "tau", "ü—psilon",
         "phi", "chi", "psi", "omega", "日本", "🙂")


def answer_lines(seed: int, chunks: int, words: int = 6) -> list[str]:
    """The answer's lines (without newlines): every 9th line is blank (a paragraph break),
    never the first or the last."""
    rng = random.Random(seed)
    out = []
    for i in range(chunks):
        if i % 9 == 8 and 0 < i < chunks - 1:
            out.append("")
            continue
        body = " ".join(rng.choice(WORDS) for _ in range(max(0, words - 1)))
        out.append(f"ans{seed}-{i:04d} {body}".rstrip())
    return out


def answer_text(seed: int, chunks: int, words: int = 6) -> str:
    """The final answer as agent-doc takes it from a text agent: stdout, trailing whitespace
    removed."""
    return "\n".join(answer_lines(seed, chunks, words)).rstrip()


def _write(path: str | None, text: str) -> None:
    """Write ``text`` to ``path`` whole (temporary file + rename: a poller never sees it
    half-written)."""
    if path:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.rename(tmp, path)


def main() -> int:
    sys.stdin.buffer.read()
    env = os.environ
    seed = int(env.get("STREAM_SEED", "1"))
    chunks = int(env.get("STREAM_CHUNKS", "20"))
    words = int(env.get("STREAM_WORDS", "6"))
    pause = float(env.get("STREAM_PAUSE", "0.01"))
    pause_max = float(env.get("STREAM_PAUSE_MAX", "0") or 0)
    burst = int(env.get("STREAM_BURST", "1") or 1)
    _write(env.get("STREAM_STARTED"), f"{time.time():.6f} {os.getpid()}\n")
    first_delay = float(env.get("STREAM_FIRST_DELAY", "0") or 0)
    if first_delay:
        time.sleep(first_delay)
    rng = random.Random(seed * 7919 + 1)
    lines = answer_lines(seed, chunks, words)
    out = sys.stdout.buffer
    for i, line in enumerate(lines):
        if i == 0:
            _write(env.get("STREAM_FIRST_TS"), f"{time.time():.6f} {time.monotonic():.6f}\n")
        elif burst > 1 and i % burst:
            pass  # inside a burst: no pause
        elif pause_max > pause:
            time.sleep(rng.uniform(pause, pause_max))
        elif pause:
            time.sleep(pause)
        last = i == len(lines) - 1
        end = b"" if last and env.get("STREAM_NO_FINAL_NL") == "1" else b"\n"
        out.write(line.encode("utf-8") + end)
        out.flush()
    copy = env.get("STREAM_BEFORE_EXIT_COPY")
    if copy:
        src, dst = copy.split(":", 1)
        with open(src, "rb") as fh:
            data = fh.read()
        fd = os.open(dst, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    _write(env.get("STREAM_DONE"), f"{time.time():.6f}\n")
    if env.get("STREAM_FAIL") == "1":
        sys.stderr.write("stream_agent: failing on purpose (STREAM_FAIL=1)\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
