"""Benchmark of streaming answers (issue 16): how soon the answer shows, what streaming costs.

Usage::

    python bench/bench_stream.py            # the sizes below
    python bench/bench_stream.py --quick    # fewer runs (a smoke run)

Every figure is measured from outside, on real ``agent-doc run --no-git`` processes with the
fake streaming agent (``tests/fakes/stream_agent.py``, a trusted ``text`` agent printing a
seeded answer line by line), in a temporary project with its own HOME:

1. **first token → visible on disk**: the agent writes ``time.monotonic()`` right before its
   first line; this process polls the document (every 0.5 ms) until that line is in it.
   Median and p90 of N.
2. **total cycle, streaming vs ``--no-stream``**: a ~2,000-token answer (400 lines of 5 words)
   in 400 chunks, 5 ms apart (the stream lasts ~2 s), and the same answer printed at once;
   medians of N interleaved runs and their ratio (target ≤ 1.1).
3. **CPU on flushes, 1 MB document**: the CPU time (user + sys, of ``run`` and its agent, from
   ``wait4``) of the streamed run minus that of the ``--no-stream`` run, same answer.
4. **one flush vs document and answer size**: the agent prints its answer in 10 bursts 0.3 s
   apart (longer than the 0.25 s flush interval, so each burst is one flush); CPU(streamed) −
   CPU(--no-stream), divided by the 10 flushes; documents of 100 KB, 1 MB, 4 MB, answers of
   ~2,000 and ~8,000 tokens.

No assertions: the figures are printed as a table (and ``--json``); ``bench/RESULTS.md`` keeps
the last ones with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAKES = REPO / "tests" / "fakes"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(FAKES))

import stream_kit as kit  # noqa: E402  (tests/fakes: shared with the tests and the stress suite)


def p90(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(0.9 * (len(s) - 1)))]


class World:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="agent-doc-bench-stream-"))
        home = self.base / "home"
        home.mkdir()
        self.env = dict(os.environ)
        for var in ("TMUX", "TMUX_PANE", "AGENT_DOC_TRACE", "CLAUDECODE"):
            self.env.pop(var, None)
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                        XDG_STATE_HOME=str(home / ".local" / "state"),
                        PYTHONPATH=os.pathsep.join([str(REPO / "src"),
                                                    self.env.get("PYTHONPATH", "")]))
        self.root = kit.setup_project(self.base / "proj", self.env)
        self.n = 0

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    def doc(self, body_bytes: int = 0) -> Path:
        """A fresh document (a new session, so each run submits) with a body of about
        ``body_bytes`` of prose before the question."""
        self.n += 1
        doc = self.root / f"b{self.n}.md"
        line = "A line of the document, a sentence of ordinary length for prose here.\n"
        body = line * (body_bytes // len(line))
        text = kit.doc_text(str(uuid.uuid4()), f"Bench {self.n}")
        head, tail = text.split("## User\n", 1)
        doc.write_text(head + body + "\n## User\n" + tail)
        return doc

    def run(self, doc: Path, agent_env: dict[str, str], *, stream: bool,
            watch_line: str | None = None) -> dict[str, float]:
        """One ``run``: wall seconds, CPU seconds (run + agent), and with ``watch_line``
        the monotonic time that line first showed in the document."""
        args = [sys.executable, "-m", "agent_doc", "run", "--no-git",
                *([] if stream else ["--no-stream"]), str(doc)]
        env = dict(self.env, **agent_env)
        t0 = time.monotonic()
        p = subprocess.Popen(args, cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen = None
        if watch_line is not None:
            needle = watch_line.encode()
            while p.poll() is None:
                try:
                    if needle in doc.read_bytes():
                        seen = time.monotonic()
                        break
                except FileNotFoundError:
                    pass
                time.sleep(0.0005)
        _pid, status, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode("utf-8", "replace") if p.stderr else ""
        if p.returncode != 0:
            raise RuntimeError(f"run failed ({p.returncode}): {err[-2000:]}")
        out = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}
        if seen is not None:
            out["seen"] = seen
        return out


def answer_env(chunks: int, words: int, pause: float, **extra: str) -> dict[str, str]:
    return {"STREAM_SEED": "7", "STREAM_CHUNKS": str(chunks), "STREAM_WORDS": str(words),
            "STREAM_PAUSE": str(pause), **extra}


def first_token(w: World, runs: int) -> tuple[float, float, list[float]]:
    lat = []
    ts = w.base / "first.ts"
    first_line = kit.answer_lines(7, 5, 5)[0]
    for _ in range(runs):
        ts.unlink(missing_ok=True)
        doc = w.doc()
        r = w.run(doc, answer_env(5, 5, 0.05, STREAM_FIRST_TS=str(ts),
                                  STREAM_FIRST_DELAY="0.3"), stream=True,
                  watch_line=first_line)
        t_first = float(ts.read_text().split()[1])
        lat.append((r["seen"] - t_first) * 1000)
    return statistics.median(lat), p90(lat), lat


def total_cycle(w: World, runs: int, pause: float) -> dict[str, float]:
    env = answer_env(400, 5, pause)
    walls: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for stream in (True, False):
            walls[stream].append(w.run(w.doc(), env, stream=stream)["wall"])
    s, n = statistics.median(walls[True]), statistics.median(walls[False])
    return {"stream": s, "no_stream": n, "ratio": s / n}


def flush_cpu(w: World, runs: int, doc_bytes: int, env: dict[str, str]) -> dict[str, float]:
    cpu: dict[bool, list[float]] = {True: [], False: []}
    wall: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(runs):
        for stream in (True, False):
            r = w.run(w.doc(doc_bytes), env, stream=stream)
            cpu[stream].append(r["cpu"])
            wall[stream].append(r["wall"])
    s, n = statistics.median(cpu[True]), statistics.median(cpu[False])
    return {"cpu_stream": s, "cpu_no_stream": n, "cpu_flushes": s - n,
            "wall_stream": statistics.median(wall[True]),
            "wall_no_stream": statistics.median(wall[False])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args(argv)
    n_first, n_total, n_cpu = (5, 2, 1) if args.quick else (20, 5, 3)
    w = World()
    t_start = time.monotonic()
    res: dict[str, object] = {}
    try:
        med, hi, _all = first_token(w, n_first)
        res["first_token_ms"] = {"median": med, "p90": hi, "n": n_first}
        res["total_paced"] = total_cycle(w, n_total, 0.005)
        res["total_instant"] = total_cycle(w, n_total, 0.0)
        res["cpu_1mb"] = flush_cpu(w, n_cpu, 1 << 20, answer_env(400, 5, 0.005))
        scaling = []
        for size, label in ((100 << 10, "100 KB"), (1 << 20, "1 MB"), (4 << 20, "4 MB")):
            for chunks, tokens in ((400, "~2,000"), (1600, "~8,000")):
                env = answer_env(chunks, 5, 0.3, STREAM_BURST=str(chunks // 10))
                r = flush_cpu(w, n_cpu, size, env)
                scaling.append({"doc": label, "answer_tokens": tokens,
                                "cpu_per_flush_ms": r["cpu_flushes"] / 10 * 1000, **r})
        res["flush_scaling"] = scaling
    finally:
        w.close()
    res["seconds"] = time.monotonic() - t_start
    la = os.getloadavg()
    print(f"bench_stream ({'quick' if args.quick else 'full'}; load average "
          f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; {res['seconds']:.0f} s)")
    ft = res["first_token_ms"]
    print("\n| measure | value |\n|---|---:|")
    print(f"| first token → visible on disk, median (n={ft['n']}) | {ft['median']:.1f} ms |")  # type: ignore[index]
    print(f"| first token → visible on disk, p90 | {ft['p90']:.1f} ms |")  # type: ignore[index]
    for key, label in (("total_paced", "400 chunks 5 ms apart"),
                       ("total_instant", "400 chunks at once")):
        t = res[key]
        print(f"| total cycle, {label}: streamed / --no-stream (median, n={n_total}) | "
              f"{t['stream']:.2f} s / {t['no_stream']:.2f} s = **{t['ratio']:.3f}** |")  # type: ignore[index]
    c = res["cpu_1mb"]
    print(f"| 1 MB document, ~2,000-token answer: CPU streamed / --no-stream (n={n_cpu}) | "
          f"{c['cpu_stream']:.2f} s / {c['cpu_no_stream']:.2f} s |")  # type: ignore[index]
    print(f"| 1 MB document: CPU spent on flushes (difference) | "
          f"{c['cpu_flushes'] * 1000:.0f} ms |")  # type: ignore[index]
    print("\n| document | answer | CPU per flush | CPU streamed | CPU --no-stream | "
          "wall streamed | wall --no-stream |\n|---|---|---:|---:|---:|---:|---:|")
    for r in res["flush_scaling"]:  # type: ignore[union-attr]
        print(f"| {r['doc']} | {r['answer_tokens']} tokens | {r['cpu_per_flush_ms']:.1f} ms | "
              f"{r['cpu_stream']:.2f} s | {r['cpu_no_stream']:.2f} s | {r['wall_stream']:.2f} s "
              f"| {r['wall_no_stream']:.2f} s |")
    if args.json:
        print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
