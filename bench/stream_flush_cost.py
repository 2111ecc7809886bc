"""How one streaming flush scales with the document's size and the answer's size (issue 16).

Usage::

    python bench/stream_flush_cost.py            # 20 flushes per point
    python bench/stream_flush_cost.py --runs 5

One flush = what the flusher thread does per flush (``cycle._Streamer._flush``): the journal
(the pending record with the whole sent text and the partial, atomic write + fsync), then,
under the document lock, read → cut our region out → merge → ``exchange_write`` (+ fsync).
Points: documents of 10 kB, 100 kB and 1 MB × partial answers of 1 kB, 10 kB and 100 kB; a
user line is appended before each flush, so every flush merges. Printed: median ms per flush
and, separately, the pure compose step (cut + merge, no I/O). Everything runs in a temporary
folder with its own HOME. The formal streaming bench (rate, CPU over a whole stream) is
``bench/bench_stream.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HOME"] = tmp
        os.environ["XDG_CONFIG_HOME"] = os.path.join(tmp, ".config")
        os.environ["XDG_STATE_HOME"] = os.path.join(tmp, ".state")
        from agent_doc.cycle import _Streamer
        from agent_doc.project import Project

        print(f"{'document':>9} {'answer':>7} {'flush ms':>9} {'compose ms':>11}")
        for doc_kb in (10, 100, 1000):
            for ans_kb in (1, 10, 100):
                root = Path(tmp) / f"p{doc_kb}-{ans_kb}"
                (root / ".agent-doc").mkdir(parents=True)
                path = root / "doc.md"
                line = "A line of the user's document with some words in it, say sixty.\n"
                sent = "## User\n\n" + line * (doc_kb * 1024 // len(line))
                path.write_text(sent)
                project = Project.for_document(str(path))
                s = _Streamer(str(path), project, sent=sent, agent="bench", doc_session=None,
                              reserve=None, interval=5.0)
                s.flusher.stop()
                answer = ("word " * (ans_kb * 1024 // 5 + args.runs * 20))
                flush_ms, compose_ms = [], []
                base = ans_kb * 1024
                for i in range(args.runs):
                    partial = answer[: base + i * 20].rstrip()
                    with open(path, "a") as f:
                        f.write(f"user line {i}\n")
                    current = path.read_text()
                    t0 = time.perf_counter()
                    s.region.compose(current, partial, final=False)
                    compose_ms.append((time.perf_counter() - t0) * 1000)
                    t0 = time.perf_counter()
                    assert s._flush(partial)
                    flush_ms.append((time.perf_counter() - t0) * 1000)
                print(f"{doc_kb:>7}kB {ans_kb:>5}kB {statistics.median(flush_ms):>9.2f} "
                      f"{statistics.median(compose_ms):>11.2f}")
        print("\nwhole stream: 400 chunks of 50 B over ~2 s through the flusher (interval "
              "0.25 s)")
        print(f"{'document':>9} {'flushes':>8} {'CPU s':>7} {'wall s':>7}")
        for doc_kb in (10, 100, 1000):
            root = Path(tmp) / f"w{doc_kb}"
            (root / ".agent-doc").mkdir(parents=True)
            path = root / "doc.md"
            line = "A line of the user's document with some words in it, say sixty.\n"
            sent = "## User\n\n" + line * (doc_kb * 1024 // len(line))
            path.write_text(sent)
            project = Project.for_document(str(path))
            cpu0, wall0 = time.process_time(), time.perf_counter()
            s = _Streamer(str(path), project, sent=sent, agent="bench", doc_session=None,
                          reserve=None, interval=0.25)
            for i in range(400):
                s.flusher.write(f"word{i:04d} " * 5)
                time.sleep(0.005)
            s.flusher.stop()
            print(f"{doc_kb:>7}kB {s.flusher.flushes:>8} {time.process_time() - cpu0:>7.2f} "
                  f"{time.perf_counter() - wall0:>7.2f}")


if __name__ == "__main__":
    main()
