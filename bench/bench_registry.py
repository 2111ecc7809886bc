"""Benchmark: registry transactions per second at 1/4/16 processes, and the lock's own cost.

Usage: ``.venv/bin/python bench/bench_registry.py [--txns N] [--procs 1,4,16] [--keep]``

Each configuration starts P real worker processes on one registry in a fresh temporary folder
(on the same file system as the repository's ``/tmp``). They wait on a start file, then each
runs ``N // P`` transactions (``Registry.transaction()``: registry lock, load, add one key,
atomic durable write — temp file, fsync, rename, fsync of the folder). Printed per P:
throughput (all transactions / wall time from start to the last worker's end) and the
per-transaction latency (median, p90, max; wait for the lock included), and how many waits
lasted over a second (the "waiting for lock" notices the workers printed).

The lock rows measure ``safefile.FileLock`` uncontended in one process: a full
acquire+release (open, flock, holder record, unlock, close), a nested (re-entrant) level, and
raw ``fcntl.flock`` on an open descriptor for comparison. Also printed: one durable
``atomic_write`` of a registry-sized file, which dominates a transaction.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
sys.path.insert(0, str(SRC))

WORKER = """
import json, os, sys, time
from tmux_router.registry import Registry, make_entry
reg = Registry(sys.argv[1])
k, n, go = sys.argv[2], int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):
    time.sleep(0.0005)
lat = []
for i in range(n):
    t0 = time.perf_counter()
    with reg.transaction() as entries:
        entries[f"{k}-{i}"] = make_entry(f"%{i}", pid=os.getpid(), cwd="/p", file=f"{k}.md")
    lat.append(time.perf_counter() - t0)
print(json.dumps({"lat": lat, "end": time.time()}))
"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def run_config(procs: int, total: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-reg-"))
    path = folder / ".agent-doc" / "sessions.json"
    go = folder / "go"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    per = max(1, total // procs)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), f"w{k}", str(per), str(go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for k in range(procs)
    ]
    time.sleep(0.5 + 0.05 * procs)  # let every worker finish starting up
    start = time.time()
    go.write_text("")
    outs = [w.communicate() for w in workers]
    results = [json.loads(out) for out, _err in outs]
    notices = sum(err.count("waiting for lock") for _out, err in outs)
    end = max(r["end"] for r in results)
    lat = [x for r in results for x in r["lat"]]
    keys = len(json.loads(path.read_text()))
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    assert keys == per * procs, f"lost updates: {keys} != {per * procs}"
    return {
        "procs": procs,
        "txns": per * procs,
        "tps": per * procs / (end - start),
        "median_ms": statistics.median(lat) * 1e3,
        "p90_ms": pct(lat, 0.9) * 1e3,
        "max_ms": max(lat) * 1e3,
        "notices": notices,
    }


def lock_costs(rounds: int) -> dict[str, float]:
    from safefile import FileLock, atomic_write

    folder = Path(tempfile.mkdtemp(prefix="bench-lock-"))
    path = folder / "x.lock"
    lk = FileLock(path)
    lk.acquire()
    lk.release()
    t0 = time.perf_counter()
    for _ in range(rounds):
        lk.acquire()
        lk.release()
    full = (time.perf_counter() - t0) / rounds
    lk.acquire()
    t0 = time.perf_counter()
    for _ in range(rounds):
        lk.acquire()
        lk.release()
    nested = (time.perf_counter() - t0) / rounds
    lk.release()
    fd = os.open(path, os.O_RDWR)
    t0 = time.perf_counter()
    for _ in range(rounds):
        fcntl.flock(fd, fcntl.LOCK_EX)
        fcntl.flock(fd, fcntl.LOCK_UN)
    raw = (time.perf_counter() - t0) / rounds
    os.close(fd)
    payload = json.dumps({f"k{i}": {"pane": f"%{i}", "pid": i} for i in range(20)}, indent=2)
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        atomic_write(folder / "sessions.json", payload)
    durable = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(n):
        atomic_write(folder / "scratch.json", payload, durable=False)
    nondurable = (time.perf_counter() - t0) / n
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    return {
        "FileLock acquire+release (uncontended)": full * 1e6,
        "FileLock nested acquire+release": nested * 1e6,
        "raw fcntl.flock lock+unlock": raw * 1e6,
        "atomic_write durable (registry-sized)": durable * 1e6,
        "atomic_write durable=False": nondurable * 1e6,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txns", type=int, default=400, help="transactions per configuration")
    ap.add_argument("--procs", default="1,4,16", help="comma-separated process counts")
    ap.add_argument("--lock-rounds", type=int, default=20000)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"{args.txns} transactions per configuration\n")
    print(f"{'processes':>9} {'txns':>5} {'txn/s':>8} {'median ms':>10} {'p90 ms':>8} "
          f"{'max ms':>8} {'waits>1s':>8}")
    for p in (int(x) for x in args.procs.split(",")):
        r = run_config(p, args.txns)
        print(f"{r['procs']:>9} {r['txns']:>5} {r['tps']:>8.0f} {r['median_ms']:>10.2f} "
              f"{r['p90_ms']:>8.2f} {r['max_ms']:>8.1f} {r['notices']:>8}")
    print()
    for name, us in lock_costs(args.lock_rounds).items():
        print(f"{name:<42} {us:>9.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
