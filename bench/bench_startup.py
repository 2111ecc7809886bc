"""Benchmark: start-up time of the CLI against the bare interpreter, plus import offenders.

Usage: ``.venv/bin/python bench/bench_startup.py [--runs N] [--top K]``

hyperfine is not installed, so each command is run N times (after 3 warm-up runs) with
``subprocess.run`` (the commands take turns, so background load hits them alike) and the wall
time of each run is measured with ``perf_counter``; printed
are the median and p90 in ms and the ratio of the median to ``python -c pass`` (the same venv
interpreter with ``site``, as the ``agent-doc`` entry point runs) and to ``python -I -c pass``
(isolated mode: no ``site``, no user site-packages — the floor).

Commands: ``agent-doc --version`` (the dispatcher only), ``agent-doc diff --help`` (dispatcher
+ argparse + the ``diff`` command module), both through the venv's console script.

Then ``python -X importtime`` lists the modules with the largest *self* import time for
``import agent_doc.cli``, ``agent-doc --version`` and ``agent-doc diff --help``, leaving out
the modules the bare interpreter imports anyway (``site``, ``encodings``, ...), so what is
listed is what our code (or the console-script wrapper) costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
PY = str(VENV_BIN / "python")
AGENT_DOC = str(VENV_BIN / "agent-doc")


def timed(cases: list[tuple[str, list[str]]], runs: int, env: dict[str, str]
          ) -> dict[str, list[float]]:
    """Wall times per case; the cases are interleaved run by run, so background load on the
    machine affects them alike."""
    for _ in range(3):
        for _name, cmd in cases:
            subprocess.run(cmd, capture_output=True, env=env, check=False)
    out: dict[str, list[float]] = {name: [] for name, _cmd in cases}
    for _ in range(runs):
        for name, cmd in cases:
            t0 = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, env=env, check=False)
            out[name].append(time.perf_counter() - t0)
            if p.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.decode()[-500:]}")
    return out


def p90(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(0.9 * (len(s) - 1)))]


def importtime(args: list[str], env: dict[str, str], top: int,
               skip: frozenset[str] = frozenset()) -> list[tuple[int, int, str]]:
    """Rows (self us, cumulative us, module) sorted by self time, without the modules in
    ``skip``; the first row is the sum of self times."""
    p = subprocess.run([PY, "-X", "importtime", *args], capture_output=True, text=True, env=env,
                       check=False)
    rows: list[tuple[int, int, str]] = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            _, rest = line.split(":", 1)
            self_us, cumulative, name = (part.strip() for part in rest.split("|"))
            if name.strip() not in skip:
                rows.append((int(self_us), int(cumulative), name.strip()))
        except ValueError:
            continue
    total = sum(r[0] for r in rows)
    rows.sort(reverse=True)
    return [(total, total, "(all imports, self sum)"), *rows[:top]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    cases = [
        ("python -I -c pass", [PY, "-I", "-c", "pass"]),
        ("python -c pass", [PY, "-c", "pass"]),
        ("agent-doc --version", [AGENT_DOC, "--version"]),
        ("agent-doc diff --help", [AGENT_DOC, "diff", "--help"]),
    ]
    results = timed(cases, args.runs, env)
    iso = statistics.median(results["python -I -c pass"])
    bare = statistics.median(results["python -c pass"])
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, {args.runs} runs "
          f"each (after 3 warm-up runs)\n")
    print(f"{'command':<24} {'median ms':>10} {'p90 ms':>8} {'x python -c':>12} "
          f"{'x python -I':>12}")
    for name, _cmd in cases:
        med = statistics.median(results[name])
        print(f"{name:<24} {med * 1e3:>10.1f} {p90(results[name]) * 1e3:>8.1f} "
              f"{med / bare:>12.2f} {med / iso:>12.2f}")
    startup = frozenset(name for _s, _c, name in importtime(["-c", "pass"], env, 10_000)[1:])
    for title, argv in (
        ("import agent_doc.cli", ["-c", "import agent_doc.cli"]),
        ("agent-doc --version", [AGENT_DOC, "--version"]),
        ("agent-doc diff --help", [AGENT_DOC, "diff", "--help"]),
    ):
        print(f"\npython -X importtime: {title} — top {args.top} by self time, modules that "
              f"`python -c pass` does not import")
        print(f"{'self ms':>8} {'cumul ms':>9}  module")
        for self_us, cum_us, name in importtime(argv, env, args.top, startup):
            print(f"{self_us / 1e3:>8.2f} {cum_us / 1e3:>9.2f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
