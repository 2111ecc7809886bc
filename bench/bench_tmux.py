"""Benchmark: tmux processes spawned and wall time per operation, our wrapper vs libtmux.

Usage: ``.venv/bin/python bench/bench_tmux.py [--runs N] [--no-libtmux]``

Runs against a private tmux server (its own ``TMUX_TMPDIR``; the user's server is never
touched). Process counts come from a counting ``tmux`` shim put first on PATH; wall times are
medians over N runs with the real tmux binary (no shim). libtmux is installed with pip into
``/tmp/bench-libtmux`` (``pip install --target``; never into the project's virtualenv) and
measured in a child process; if that install fails, its rows are skipped with a note.

Operations: import cost; ``send_text`` (find + type + Enter); ``live_panes`` (liveness of all
panes); route's happy path (one ``if-shell``: liveness + identity + send); ``sync`` fast path
(3 panes already arranged); ``sync`` of 3 panes from 3 windows; the whole
``tmux-router send KEY TEXT`` command. libtmux has no sync: its rows issue the same moves, one
libtmux command each, to show the process cost of going through its objects.
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
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
LIBTMUX_DIR = Path("/tmp/bench-libtmux")


class Counter:
    """A ``tmux`` shim that logs each call; switch PATH between it and the real binary."""

    def __init__(self, workdir: Path) -> None:
        real = shutil.which("tmux")
        if not real:
            sys.exit("tmux is not installed: nothing to measure")
        self.real = real
        self.bindir = workdir / "shim"
        self.bindir.mkdir()
        self.log = workdir / "calls.log"
        self.shim = self.bindir / "tmux"
        self.shim.write_text(f'#!/bin/sh\necho "$*" >> "{self.log}"\nexec "{real}" "$@"\n')
        self.shim.chmod(0o755)
        self.plain_path = os.environ["PATH"]

    def on(self) -> None:
        os.environ["PATH"] = f"{self.bindir}{os.pathsep}{self.plain_path}"
        self.log.write_text("")

    def off(self) -> int:
        os.environ["PATH"] = self.plain_path
        return len([x for x in self.log.read_text().splitlines() if x])


def measure(
    counter: Counter,
    op: Callable[[], object],
    runs: int,
    setup: Callable[[], object] | None = None,
) -> tuple[float, int]:
    """(median ms, tmux processes of one run)."""
    if setup:
        setup()
    counter.on()
    op()
    procs = counter.off()
    times = []
    for _ in range(runs):
        if setup:
            setup()
        t0 = time.perf_counter()
        op()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), procs


def child_env() -> dict[str, str]:
    """Child processes run as installed code does: with bytecode caches (kept out of the repo).

    This workplace sets PYTHONDONTWRITEBYTECODE=1, which makes every start compile the sources
    (+30-40 ms for tmux_router.cli); an installed package has its .pyc files.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "bench-tmux-pycache")
    return env


def import_cost(module: str, extra_path: str = "", runs: int = 5) -> float:
    """Cumulative import time of ``module`` in ms (``python -X importtime``), median."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), extra_path) if p)
    values = []
    subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)  # warm
    for _ in range(runs):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        for line in err.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == module:
                values.append(int(parts[1]) / 1000)
    return statistics.median(values)


# -- the server and the panes -----------------------------------------------------------------
def tmux_raw(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def start_server() -> dict[str, str]:
    """Session ``bench`` with panes a, b, c (each in its own window) and a sink pane."""
    panes = {}
    panes["a"] = tmux_raw(
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "bench",
        "-x",
        "200",
        "-y",
        "50",
        "-P",
        "-F",
        "#{pane_id}",
        "cat > /dev/null",
    )
    for name in ("b", "c", "sink"):
        panes[name] = tmux_raw(
            "new-window", "-d", "-t", "=bench:", "-P", "-F", "#{pane_id}", "cat > /dev/null"
        )
    return panes


def scatter(panes: dict[str, str]) -> None:
    """Put b and c back into windows of their own (setup for the 3-pane sync)."""
    for name in ("b", "c"):
        subprocess.run(["tmux", "break-pane", "-d", "-s", panes[name]], capture_output=True)


# -- ours -------------------------------------------------------------------------------------
def bench_ours(counter: Counter, panes: dict[str, str], runs: int, workdir: Path) -> dict:
    sys.path.insert(0, str(SRC))
    from tmux_router.registry import Registry, make_entry
    from tmux_router.sync import Resolved, parse_columns, sync
    from tmux_router.tmux import Tmux

    tmux = Tmux()
    reg = Registry(workdir / "registry.json")
    live = tmux.live_panes()
    with reg.transaction() as entries:
        for name in ("a", "b", "c"):
            entries[name] = make_entry(panes[name], pid=live[panes[name]])
    cols = parse_columns(["a,b", "c"])

    def resolve(name: str) -> Resolved:
        return Resolved(key=name)

    def do_sync() -> None:
        sync(tmux, reg, cols, resolve)

    sink = panes["sink"]
    rows = {}
    rows["send_text"] = measure(counter, lambda: tmux.send_text(sink, "echo hi; x"), runs)
    rows["live_panes"] = measure(counter, tmux.live_panes, runs)

    sink_pid = tmux.live_panes()[sink]

    def route() -> None:
        # route's happy path: one if-shell checks, inside tmux, that the pane is alive and
        # still runs the registered process, then types the line and Enter
        if not tmux.send_text_if_running(sink, "/agent-doc notes.md", pids=[sink_pid]):
            raise SystemExit("the sink pane was refused")

    rows["route (live + send)"] = measure(counter, route, runs)
    rows["sync 3 panes from 3 windows"] = measure(
        counter, do_sync, runs, setup=lambda: scatter(panes)
    )
    do_sync()
    rows["sync fast path"] = measure(counter, do_sync, runs)

    # the whole command, as a hotkey would run it
    env = dict(child_env(), PYTHONPATH=str(SRC))
    with reg.transaction() as entries:
        entries["sink"] = make_entry(sink, pid=tmux.live_panes()[sink])
    argv = [
        sys.executable,
        "-m",
        "tmux_router",
        "--registry",
        str(reg.path),
        "send",
        "sink",
        "/agent-doc notes.md",
    ]

    def cli() -> None:
        subprocess.run(
            argv, env={**env, "PATH": os.environ["PATH"]}, check=True, capture_output=True
        )

    rows["tmux-router send (whole process)"] = measure(counter, cli, max(5, runs // 2))
    rows["python -c pass (for reference)"] = measure(
        counter,
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
        max(5, runs // 2),
    )
    return rows


# -- libtmux (child process) ----------------------------------------------------------------------
def ensure_libtmux() -> str | None:
    """Path to a pip --target folder holding libtmux, or None (with the reason printed)."""
    if (LIBTMUX_DIR / "libtmux").is_dir():
        return str(LIBTMUX_DIR)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(LIBTMUX_DIR),
            "libtmux",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not (LIBTMUX_DIR / "libtmux").is_dir():
        print(
            f"note: libtmux could not be installed, its rows are skipped: "
            f"{proc.stderr.strip()[-300:]}"
        )
        return None
    return str(LIBTMUX_DIR)


def libtmux_worker(panes: dict[str, str], runs: int, shim: str, log: str) -> dict:
    import libtmux

    real = shutil.which("tmux")
    counted = libtmux.Server(tmux_bin=shim)
    plain = libtmux.Server(tmux_bin=real)

    def measure_lt(
        op: Callable[[libtmux.Server], object], setup: Callable[[], object] | None = None
    ) -> tuple[float, int]:
        if setup:
            setup()
        Path(log).write_text("")
        op(counted)
        procs = len([x for x in Path(log).read_text().splitlines() if x])
        times = []
        for _ in range(runs):
            if setup:
                setup()
            t0 = time.perf_counter()
            op(plain)
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times), procs

    sink = panes["sink"]

    def send(server: libtmux.Server) -> None:
        pane = server.panes.get(pane_id=sink)
        pane.send_keys("echo hi; x", enter=True, literal=True)

    def live(server: libtmux.Server) -> dict[str, int]:
        return {p.pane_id: int(p.pane_pid) for p in server.panes if p.pane_dead != "1"}

    def route(server: libtmux.Server) -> None:
        pane = server.panes.get(pane_id=sink, default=None)
        if pane is not None:
            pane.send_keys("/agent-doc notes.md", enter=True, literal=True)

    def fast(server: libtmux.Server) -> None:
        # what the fast path needs: every pane with its window and geometry
        a = server.panes.get(pane_id=panes["a"])
        [(p.pane_id, p.pane_left, p.pane_top) for p in a.window.panes]

    def arrange(server: libtmux.Server) -> None:
        a = server.panes.get(pane_id=panes["a"])
        a.cmd("join-pane", "-d", "-v", "-s", panes["b"])
        a.cmd("join-pane", "-d", "-h", "-f", "-s", panes["c"])
        window = a.window
        window.refresh()
        a.resize(width=100)
        a.resize(height=25)
        a.select()
        [(p.pane_id, p.pane_left, p.pane_top) for p in window.panes]

    def scatter_lt() -> None:
        for name in ("b", "c"):
            subprocess.run([real, "break-pane", "-d", "-s", panes[name]], capture_output=True)

    rows = {
        "send_text": measure_lt(send),
        "live_panes": measure_lt(live),
        "route (live + send)": measure_lt(route),
        "sync 3 panes from 3 windows": measure_lt(arrange, setup=scatter_lt),
    }
    arrange(plain)
    rows["sync fast path"] = measure_lt(fast)
    return rows


def bench_libtmux(panes: dict[str, str], runs: int, counter: Counter, target: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join((target, str(SRC))))
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--libtmux-worker",
            json.dumps(panes),
            "--runs",
            str(runs),
            "--shim",
            str(counter.shim),
            "--log",
            str(counter.log),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print(f"note: libtmux run failed, its rows are skipped:\n{proc.stderr[-800:]}")
        return {}
    return {k: tuple(v) for k, v in json.loads(proc.stdout).items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--no-libtmux", action="store_true")
    ap.add_argument("--libtmux-worker", help=argparse.SUPPRESS)
    ap.add_argument("--shim", help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.libtmux_worker:
        rows = libtmux_worker(json.loads(args.libtmux_worker), args.runs, args.shim, args.log)
        print(json.dumps(rows))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="bt", dir="/tmp"))
    os.environ["TMUX_TMPDIR"] = str(workdir)
    for var in ("TMUX", "TMUX_PANE", "AGENT_DOC_TMUX_SOCKET"):
        os.environ.pop(var, None)
    counter = Counter(workdir)
    try:
        panes = start_server()
        ours = bench_ours(counter, panes, args.runs, workdir)
        theirs: dict = {}
        lt_import = None
        if not args.no_libtmux:
            target = ensure_libtmux()
            if target:
                scatter(panes)
                theirs = bench_libtmux(panes, args.runs, counter, target)
                lt_import = import_cost("libtmux", target)
        ours_import = import_cost("tmux_router.tmux")
        cli_import = import_cost("tmux_router.cli")
    finally:
        subprocess.run(["tmux", "kill-server"], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    tmux_version = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    print(
        f"tmux processes and median wall time per operation ({args.runs} runs, "
        f"{tmux_version}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load average {load}: wall times grow with the load)\n"
    )
    head = (
        f"{'operation':34} | {'ours: procs':>11} | {'ours: ms':>8} | "
        f"{'libtmux: procs':>14} | {'libtmux: ms':>11}"
    )
    print(head)
    print("-" * len(head))
    lt_imp = f"{lt_import:11.1f}" if lt_import is not None else f"{'n/a':>11}"
    print(
        f"{'import (tmux_router.tmux | libtmux)':34} | {'':>11} | {ours_import:8.1f} | "
        f"{'':>14} | {lt_imp}"
    )
    print(f"{'import tmux_router.cli':34} | {'':>11} | {cli_import:8.1f} | {'':>14} | {'':>11}")
    for op, (ms, procs) in ours.items():
        lt = theirs.get(op)
        lt_p = f"{lt[1]:14d}" if lt else f"{'n/a':>14}"
        lt_ms = f"{lt[0]:11.1f}" if lt else f"{'n/a':>11}"
        print(f"{op:34} | {procs:11d} | {ms:8.1f} | {lt_p} | {lt_ms}")
    if theirs:
        print(
            "\nlibtmux has no sync: its sync rows issue the same moves through libtmux "
            "objects (one tmux process per command, plus its own listings)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
