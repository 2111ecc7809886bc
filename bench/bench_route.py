"""Benchmark of the hotkey tmux commands: route latency, tmux processes per command, concurrent
claims, and interpreter start-up.

Prints (targets from the issue in brackets):

* ``route`` latency — from just before the process is started until the program in the target
  pane has read ``/agent-doc FILE`` + Enter (it stamps the time it read the line), median and
  p90 over ``--runs`` runs (≥ 30) [median < 35 ms];
* tmux processes spawned per command (``route``, ``claim``, ``focus``, ``prompt``), counted by
  a ``tmux`` shim first on PATH [route ≤ 2];
* wall time of 30 concurrent ``claim`` processes of 30 new documents, median and min of 5 rounds
  (each round starts from an empty registry) [< 0.9 s];
* ``agent-doc --version`` against ``python -I -c pass`` (median start-up).

Everything runs on a private tmux server (its own ``TMUX_TMPDIR``) in a temporary project; the
user's server is never touched. Run: ``.venv/bin/python bench/bench_route.py [--runs 40]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"

LOGGER = r"""
import sys, time
out = sys.argv[1]
print("READY", flush=True)
for line in sys.stdin:
    t = time.time()
    with open(out, "a") as fh:
        fh.write(f"{t!r} {line.strip()}\n")
"""


def agent_doc_cmd() -> list[str]:
    script = Path(sys.executable).parent / "agent-doc"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "agent_doc"]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


class Bench:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmuxdir = Path(tempfile.mkdtemp(prefix="adb", dir="/tmp"))
        self.env = dict(os.environ)
        for var in ("TMUX", "TMUX_PANE", "AGENT_DOC_TMUX_SOCKET", "AGENT_DOC_NO_AUTOSTART"):
            self.env.pop(var, None)
        self.env["TMUX_TMPDIR"] = str(self.tmuxdir)
        # An installed package has its bytecode cached; this sandbox sets
        # PYTHONDONTWRITEBYTECODE, which would make every run compile all modules (~30-40 ms).
        # Cache bytecode in a private folder (the source tree stays clean).
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        self.env["PYTHONPATH"] = str(SRC)
        self.env["HOME"] = str(root / "home")
        # route presses Enter AGENT_DOC_ENTER_DELAY seconds after the text (default 0.1: an
        # agent TUI takes one burst for a paste); the pane here reads lines, so the figures are
        # route's own cost without that deliberate wait (printed beside them)
        self.env["AGENT_DOC_ENTER_DELAY"] = "0"
        (root / "home").mkdir()
        self.project = root / "proj"
        (self.project / ".agent-doc").mkdir(parents=True)
        self.real_tmux = shutil.which("tmux") or "tmux"

    def tmux(self, *args: str) -> str:
        p = subprocess.run(
            [self.real_tmux, *args], capture_output=True, text=True, env=self.env, check=True
        )
        return p.stdout.strip()

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*agent_doc_cmd(), *args],
            cwd=self.project,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
        )

    def doc(self, name: str) -> Path:
        p = self.project / name
        p.write_text(f"---\nagent_doc_session: {uuid.uuid4()}\n---\n# {name}\n")
        return p

    def start(self) -> None:
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", "200", "-y", "50")

    def logger_pane(self, out: Path) -> str:
        script = self.root / "logger.py"
        script.write_text(LOGGER)
        pane = self.tmux(
            "new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}",
            sys.executable, str(script), str(out),
        )
        deadline = time.monotonic() + 5
        while "READY" not in self.tmux("capture-pane", "-p", "-t", pane):
            if time.monotonic() > deadline:
                raise RuntimeError("logger pane did not start")
            time.sleep(0.02)
        return pane

    def close(self) -> None:
        subprocess.run([self.real_tmux, "kill-server"], capture_output=True, env=self.env)
        shutil.rmtree(self.tmuxdir, ignore_errors=True)


def bench_route_latency(b: Bench, runs: int) -> tuple[list[float], list[float]]:
    """Wall latency (ms) per run, and CPU time (ms) of the route process plus the tmux
    clients it ran (user + system; stable even when other jobs load the machine)."""
    out = b.root / "received.log"
    pane = b.logger_pane(out)
    b.doc("task.md")
    r = b.cli("claim", "task.md", "--pane", pane)
    assert r.returncode == 0, r.stderr
    b.cli("route", "task.md")  # warm the page cache
    time.sleep(0.2)
    lat: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        n_before = len(out.read_text().splitlines()) if out.exists() else 0
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        p = subprocess.run(
            [*agent_doc_cmd(), "route", "task.md"],
            cwd=b.project, env=b.env, capture_output=True, text=True,
        )
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(
            (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime) * 1000
        )
        assert p.returncode == 0, p.stderr
        deadline = time.monotonic() + 5
        while True:
            lines = out.read_text().splitlines() if out.exists() else []
            if len(lines) > n_before:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the routed text never arrived")
            time.sleep(0.002)
        t_recv, text = lines[n_before].split(" ", 1)
        assert text == "/agent-doc task.md", text
        lat.append((float(t_recv) - t0) * 1000)
    return lat, cpu


def bench_tmux_counts(b: Bench) -> dict[str, int]:
    shim_dir = b.root / "shim"
    shim_dir.mkdir()
    count = b.root / "tmux-calls.log"
    (shim_dir / "tmux").write_text(
        f'#!/bin/sh\necho "$*" >> "{count}"\nexec "{b.real_tmux}" "$@"\n'
    )
    (shim_dir / "tmux").chmod(0o755)
    env = {"PATH": f"{shim_dir}{os.pathsep}{b.env['PATH']}"}
    pane = b.tmux("new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}", "cat")
    b.doc("count.md")
    results: dict[str, int] = {}
    for name, args in (
        ("claim --pane", ["claim", "count.md", "--pane", pane]),
        ("route", ["route", "count.md"]),
        ("focus", ["focus", "count.md"]),
        ("prompt FILE", ["prompt", "count.md"]),
        ("prompt --all", ["prompt", "--all"]),
    ):
        count.unlink(missing_ok=True)
        r = b.cli(*args, env=env)
        assert r.returncode == 0, (name, r.stderr)
        results[name] = len(count.read_text().splitlines()) if count.exists() else 0
    return results


def bench_concurrent_claims(b: Bench, n: int = 30, rounds: int = 5) -> list[float]:
    """Seconds for ``n`` concurrent claims, once per round (a single sample is at the mercy of
    this machine's timing noise)."""
    panes = [
        b.tmux("new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}") for _ in range(5)
    ]
    times = []
    for r in range(rounds):
        (b.project / ".agent-doc" / "sessions.json").unlink(missing_ok=True)
        times.append(_claims_round(b, panes, [b.doc(f"c{r}-{i:02d}.md") for i in range(n)]))
    return times


def _claims_round(b: Bench, panes: list[str], docs: list[Path]) -> float:
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*agent_doc_cmd(), "claim", d.name, "--pane", panes[i % len(panes)]],
            cwd=b.project, env=b.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for i, d in enumerate(docs)
    ]
    for p in procs:
        _o, err = p.communicate()
        assert p.returncode == 0, err
    elapsed = time.perf_counter() - t0
    reg = json.loads((b.project / ".agent-doc" / "sessions.json").read_text())
    assert all(
        any(e["file"] == d.name for e in reg.values()) for d in docs
    ), "a claim was lost"
    return elapsed


def bench_startup(env: dict[str, str], runs: int = 30) -> dict[str, tuple[float, float]]:
    """(median, min) start-up in ms of ``agent-doc --version`` and a bare interpreter."""

    def med(cmd: list[str]) -> tuple[float, float]:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True)
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times), min(times)

    return {
        "agent-doc --version": med([*agent_doc_cmd(), "--version"]),
        "python -I -c pass": med([sys.executable, "-I", "-c", "pass"]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="route runs (>= 30)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--quick", action="store_true", help="10 route runs (below the 30 minimum)")
    args = ap.parse_args()
    runs = 10 if args.quick else max(30, args.runs)
    with tempfile.TemporaryDirectory(prefix="agent-doc-bench-") as tmp:
        b = Bench(Path(tmp))
        try:
            b.start()
            lat, cpu = bench_route_latency(b, runs)
            counts = bench_tmux_counts(b)
            conc = bench_concurrent_claims(b)
            startup = bench_startup(b.env)
        finally:
            b.close()
    load = os.getloadavg()
    from agent_doc.routing import DEFAULT_ENTER_DELAY

    if args.json:
        print(
            json.dumps(
                {
                    "load_average": [round(x, 2) for x in load],
                    "route_runs": runs,
                    "route_enter_delay_excluded_s": DEFAULT_ENTER_DELAY,
                    "route_latency_ms": {
                        "median": round(statistics.median(lat), 1),
                        "p90": round(pct(lat, 90), 1),
                        "min": round(min(lat), 1),
                        "max": round(max(lat), 1),
                    },
                    "route_cpu_ms_median": round(statistics.median(cpu), 1),
                    "tmux_processes": counts,
                    "concurrent_claims_30_s": {
                        "median": round(statistics.median(conc), 3),
                        "min": round(min(conc), 3),
                        "rounds": [round(x, 3) for x in conc],
                    },
                    "startup_ms": {
                        k: {"median": round(m, 1), "min": round(lo, 1)}
                        for k, (m, lo) in startup.items()
                    },
                },
                indent=2,
            )
        )
        return 0
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"route latency over {runs} runs (process start -> line read in the pane), without "
          f"the deliberate Enter delay (AGENT_DOC_ENTER_DELAY=0; by default route waits "
          f"{DEFAULT_ENTER_DELAY * 1000:.0f} ms more before Enter, for the agent's TUI):")
    print(
        f"  median {statistics.median(lat):.1f} ms, p90 {pct(lat, 90):.1f} ms, "
        f"min {min(lat):.1f} ms, max {max(lat):.1f} ms   [target: median < 35 ms]"
    )
    print(
        f"  CPU time of route + its tmux clients: median {statistics.median(cpu):.1f} ms, "
        f"min {min(cpu):.1f} ms"
    )
    print("tmux processes per command:")
    for name, n in counts.items():
        print(f"  {name:<14} {n}")
    print(f"30 concurrent claims: median {statistics.median(conc):.2f} s, min {min(conc):.2f} s "
          f"over {len(conc)} rounds   [target: < 0.9 s]")
    print("start-up (median / min over 30 runs):")
    for name, (median, fastest) in startup.items():
        print(f"  {name:<20} {median:6.1f} ms / {fastest:5.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
