"""Run every benchmark and write ``bench/RESULTS.md`` (the published figures).

Usage::

    .venv/bin/python bench/run_all.py            # the full size (~4 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --quick    # fewer runs (~1.5 minutes)
    .venv/bin/python bench/run_all.py --out FILE # write elsewhere

Figures (median and p90 of wall times unless said otherwise), all measured through the real
CLI or the real library in a temporary folder with its own HOME and a private tmux server:

1. **CLI start-up** of the hot commands (``route``, ``claim``, ``focus``, ``diff``, ``prompt``
   with ``--help``: dispatcher + argparse + the command's module) and ``--version``, against the
   bare interpreter (``python -I -c pass``) and ``python -c pass``; runs interleaved, so
   background load hits them alike.
2. **route latency**: from just before ``agent-doc route FILE`` is spawned until the program in
   the claimed pane has read ``/agent-doc FILE`` (it stamps the time).
3. **diff** at 1k/10k/100k lines with few (3) and many (10 % of the lines) edits:
   ``agent_doc.diff.compute`` in process, and ``agent-doc diff FILE`` end to end.
4. **run cycle overhead**: ``agent-doc run --no-git`` on a 1,000-line document with
   ``bench/instant_claude`` (a /bin/sh agent that answers at once) minus that agent run alone
   on a prompt of the same size (the agent's own time).
5. **registry transactions per second** at 1/4/16 processes (``Registry.transaction()``:
   lock, load, add a key, durable atomic write), and per-transaction latency.
6. **watch reaction**: save (in place) → the fake agent starts, minus the debounce.
7. **watch daemon memory**: RSS (VmRSS, and the peak VmHWM) with 100 watched documents.

The per-area scripts (``bench/bench_*.py``, written with each feature) print more detail; a
script that offers ``--json`` is run as well and its JSON is kept in an appendix of the report.
None of them has hyperfine-style tooling available (hyperfine is not installed), so timing is
``time.perf_counter`` around ``subprocess`` calls, which adds ~1 ms of fork/exec overhead to
every process figure alike (it is inside the bare-interpreter figure too).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
FAKES = REPO / "tests" / "fakes"
sys.path.insert(0, str(SRC))

PY = sys.executable


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def med_p90(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), pct(values, 0.9)


def ms(v: float) -> str:
    return f"{v * 1000:.1f}"


class World:
    """A temporary folder with its own HOME, the fake claude first on PATH, a tmux dir."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="agent-doc-bench-"))
        self.tmux_dir = tempfile.mkdtemp(prefix="adb", dir="/tmp")
        (self.base / "home").mkdir()
        bindir = self.base / "bin"
        bindir.mkdir()
        (bindir / "claude").symlink_to(FAKES / "claude")
        # the fake's `#!/usr/bin/env python3` may hit a pyenv shim (~200 ms): pin python3
        (bindir / "python3").symlink_to(os.path.realpath(PY))
        env = dict(os.environ)
        for var in ("TMUX", "TMUX_PANE", "AGENT_DOC_TMUX_SOCKET", "CLAUDECODE",
                    "PYTHONDONTWRITEBYTECODE"):
            env.pop(var, None)
        # an installed tool has its bytecode cached; with PYTHONDONTWRITEBYTECODE (set in some
        # sandboxes) every start would recompile (+30-40 ms): cache it privately instead
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "agent-doc-bench-pycache")
        env.update(HOME=str(self.base / "home"), XDG_CONFIG_HOME=str(self.base / "home/.cfg"),
                   TMUX_TMPDIR=self.tmux_dir, PATH=f"{bindir}{os.pathsep}{env['PATH']}",
                   PYTHONPATH=str(SRC), AGENT_DOC_NO_AUTOSTART="1",
                   GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.invalid",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.invalid")
        self.env = env

    def project(self, name: str) -> Path:
        root = self.base / name
        (root / ".agent-doc").mkdir(parents=True)
        return root

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], env=self.env, capture_output=True, text=True,
                              check=True).stdout.strip()

    def close(self) -> None:
        subprocess.run(["tmux", "kill-server"], env=self.env, capture_output=True)
        shutil.rmtree(self.tmux_dir, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)


def doc_text(title: str, body: str = "") -> str:
    return (f"---\nagent_doc_session: {uuid.uuid4()}\nagent: claude\n---\n\n# Session: {title}"
            f"\n\n## User\n\n{body}")


def agent_doc_cmd() -> list[str]:
    script = Path(PY).parent / "agent-doc"
    return [str(script)] if script.exists() else [PY, "-m", "agent_doc"]


# -- 1. start-up --------------------------------------------------------------------------
def bench_startup(w: World, runs: int) -> list[tuple[str, float, float]]:
    ad = agent_doc_cmd()
    cases: list[tuple[str, list[str]]] = [
        ("python -I -c pass (bare interpreter)", [PY, "-I", "-c", "pass"]),
        ("python -c pass", [PY, "-c", "pass"]),
        ("agent-doc --version", [*ad, "--version"]),
    ]
    for cmd in ("route", "claim", "focus", "diff", "prompt"):
        cases.append((f"agent-doc {cmd} --help", [*ad, cmd, "--help"]))
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    for i in range(runs + 2):
        for name, argv in cases:
            t = time.perf_counter()
            subprocess.run(argv, env=w.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            if i >= 2:  # two warm-up rounds
                times[name].append(time.perf_counter() - t)
    return [(name, *med_p90(v)) for name, v in times.items()]


# -- 2. route -----------------------------------------------------------------------------
STAMPER = r"""
import sys, time, os
out = sys.argv[1]
for line in sys.stdin.buffer:
    t = time.time()
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{t}\n".encode()); os.close(fd)
"""


def bench_route(w: World, runs: int) -> tuple[float, float, int]:
    root = w.project("route")
    (root / "doc.md").write_text(doc_text("route"))
    stamper = w.base / "stamper.py"
    stamper.write_text(STAMPER)
    stamps = w.base / "stamps.log"
    pane = w.tmux("-f", "/dev/null", "new-session", "-d", "-s", "bench", "-x", "200", "-y", "50",
                  "-P", "-F", "#{pane_id}", f"stty -echo; exec {PY} {stamper} {stamps}")
    ad = agent_doc_cmd()
    subprocess.run([*ad, "claim", "--pane", pane, "doc.md"], cwd=root, env=w.env, check=True,
                   capture_output=True)
    lat: list[float] = []
    for i in range(runs + 2):
        n = len(stamps.read_text().splitlines()) if stamps.exists() else 0
        t0 = time.time()
        subprocess.run([*ad, "route", "doc.md"], cwd=root, env=w.env, check=True,
                       capture_output=True)
        deadline = time.monotonic() + 10
        while True:
            lines = stamps.read_text().splitlines() if stamps.exists() else []
            if len(lines) > n:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("route: the pane never received the line")
            time.sleep(0.001)
        if i >= 2:
            lat.append(float(lines[n]) - t0)
    return (*med_p90(lat), len(lat))


# -- 3. diff ------------------------------------------------------------------------------
def synthetic(n_lines: int, rng: random.Random) -> list[str]:
    out = []
    words = ["agent", "document", "snapshot", "lock", "merge", "pane", "tmux", "write",
             "diff", "user", "answer"]
    while len(out) < n_lines:
        k = rng.random()
        if k < 0.05:
            out += [f"## Section {len(out)}", ""]
        elif k < 0.1:
            out += ["```", f"code line {len(out)}", "```"]
        elif k < 0.3:
            out.append(f"- item {len(out)} {rng.choice(words)}")
        else:
            out.append(" ".join(rng.choice(words) for _ in range(12)) + f" {len(out)}")
    return out[:n_lines]


def edit(lines: list[str], n: int, rng: random.Random) -> list[str]:
    b = list(lines)
    for i in range(n):
        p = rng.randrange(len(b))
        k = rng.random()
        if k < 0.5:
            b[p] = f"edited line {i}"
        elif k < 0.75:
            b.insert(p, f"inserted line {i}")
        else:
            del b[p]
    return b


def bench_diff(w: World, runs: int, cli_runs: int) -> list[tuple[str, int, str, float, float,
                                                                   float, float]]:
    from agent_doc import diff as D
    from agent_doc.project import Project

    rng = random.Random(7)
    rows = []
    root = w.project("diff")
    head = doc_text("diff")
    for n in (1000, 10000, 100000):
        base_lines = synthetic(n, rng)
        base = head + "\n".join(base_lines) + "\n"
        for label, n_edits in (("few (3 edits)", 3), ("many (10 %)", max(3, n // 10))):
            cur = head + "\n".join(edit(base_lines, n_edits, rng)) + "\n"
            lib: list[float] = []
            for _ in range(runs):
                t = time.perf_counter()
                D.compute(base, cur)
                lib.append(time.perf_counter() - t)
            doc = root / f"d{n}-{n_edits}.md"
            doc.write_text(cur)
            snap = Path(Project.for_document(doc).snapshot_path(doc))
            snap.parent.mkdir(parents=True, exist_ok=True)
            snap.write_text(base)
            cli: list[float] = []
            for _ in range(cli_runs):
                t = time.perf_counter()
                subprocess.run([*agent_doc_cmd(), "diff", doc.name], cwd=root, env=w.env,
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                cli.append(time.perf_counter() - t)
            rows.append((f"{n:,} lines", n, label, *med_p90(lib), *med_p90(cli)))
    return rows


# -- 4. run cycle -------------------------------------------------------------------------
def bench_cycle(w: World, runs: int) -> dict[str, tuple[float, float]]:
    root = w.project("cycle")
    doc = root / "doc.md"
    body = "".join(f"Line {i} of the document, a sentence of ordinary length here.\n"
                   for i in range(1000))
    doc.write_text(doc_text("cycle", body + "\n## User\n\nfirst question\n"))
    bindir = w.base / "instant-bin"
    bindir.mkdir(exist_ok=True)
    if not (bindir / "claude").exists():
        (bindir / "claude").symlink_to(REPO / "bench" / "instant_claude")
    env = dict(w.env, PATH=f"{bindir}{os.pathsep}{w.env['PATH']}")
    prompt = "x" * len(body)
    bare: list[float] = []
    run: list[float] = []
    for i in range(runs + 1):
        t = time.perf_counter()
        subprocess.run(["claude", "-p", "--output-format", "json"], input=prompt.encode(),
                       env=env, check=True, capture_output=True)
        if i:
            bare.append(time.perf_counter() - t)
        with open(doc, "a") as fh:
            fh.write(f"question {i}\n")
        t = time.perf_counter()
        subprocess.run([*agent_doc_cmd(), "run", "--no-git", "doc.md"], cwd=root, env=env,
                       check=True, capture_output=True)
        if i:
            run.append(time.perf_counter() - t)
    over = [r - statistics.median(bare) for r in run]
    return {"fake agent alone": med_p90(bare), "agent-doc run --no-git": med_p90(run),
            "overhead (run − agent median)": med_p90(over)}


# -- 5. registry --------------------------------------------------------------------------
REG_WORKER = r"""
import os, sys, time
from tmux_router.registry import Registry, make_entry
reg = Registry(sys.argv[1]); k = sys.argv[2]; n = int(sys.argv[3]); go = sys.argv[4]
while not os.path.exists(go):
    time.sleep(0.001)
lat = []
for i in range(n):
    t = time.perf_counter()
    with reg.transaction() as e:
        e[f"{k}-{i}"] = make_entry("%1", file=f"{k}-{i}.md")
    lat.append(time.perf_counter() - t)
print(" ".join(f"{x:.6f}" for x in lat))
"""


def bench_registry(w: World, txns: int) -> list[tuple[int, float, float, float]]:
    rows = []
    for procs in (1, 4, 16):
        root = w.project(f"reg{procs}")
        reg = root / ".agent-doc" / "sessions.json"
        go = root / "go"
        per = max(1, txns // procs)
        ps = [subprocess.Popen([PY, "-c", REG_WORKER, str(reg), f"p{i}", str(per), str(go)],
                               env=w.env, stdout=subprocess.PIPE) for i in range(procs)]
        time.sleep(0.5 + 0.05 * procs)  # let the workers import
        t0 = time.perf_counter()
        go.touch()
        lat: list[float] = []
        for p in ps:
            out, _ = p.communicate(timeout=600)
            lat += [float(x) for x in out.split()]
        wall = time.perf_counter() - t0
        n = len(json.loads(reg.read_text()))
        if n != per * procs:
            raise RuntimeError(f"registry lost transactions: {n} keys, expected {per * procs}")
        rows.append((procs, per * procs / wall, *med_p90(lat)))
    return rows


# -- 6/7. watch ---------------------------------------------------------------------------
def _calls(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(x) for x in log.read_text().splitlines() if x.strip()]


def _wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


def bench_watch(w: World, saves: int, debounce_ms: int) -> tuple[float, float, int]:
    root = w.project("watch")
    doc = root / "doc.md"
    doc.write_text(doc_text("watch", "q0\n"))
    log = w.base / "watch-calls.jsonl"
    env = dict(w.env, FAKE_CLAUDE_LOG=str(log), FAKE_CLAUDE_SLEEP="0")
    err = open(w.base / "watch.err", "wb")  # noqa: SIM115
    d = subprocess.Popen([PY, "-m", "agent_doc", "watch", "--debounce", str(debounce_ms),
                          "doc.md"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        _wait(lambda: "atching" in (w.base / "watch.err").read_text(errors="replace"), 30,
              "the daemon to start")
        _wait(lambda: len(_calls(log)) >= 1 or time.sleep(2) is None, 10, "first cycle")
        time.sleep(1 + debounce_ms / 1000)
        react: list[float] = []
        for i in range(saves):
            n = len(_calls(log))
            text = doc.read_text() + f"question {i}\n"
            t_save = time.time()
            with open(doc, "w") as fh:
                fh.write(text)
            _wait(lambda n=n: len(_calls(log)) > n, 30, "the agent call")
            react.append(_calls(log)[n]["t_start"] - t_save - debounce_ms / 1000)
            time.sleep(0.5 + 2 * debounce_ms / 1000)  # let its own write-back settle
    finally:
        d.terminate()
        d.wait(timeout=60)
        err.close()
    return (*med_p90(react), len(react))


def bench_watch_rss(w: World, n_docs: int) -> tuple[int, int]:
    from tmux_router.registry import Registry, make_entry

    root = w.project("watch-rss")
    docs = []
    for i in range(n_docs):
        p = root / f"folder{i % 10}" / f"doc{i}.md"
        p.parent.mkdir(exist_ok=True)
        p.write_text(doc_text(f"doc {i}", "q\n"))
        docs.append(p)
    with Registry(root / ".agent-doc" / "sessions.json").transaction() as entries:
        for i, p in enumerate(docs):
            entries[f"bench-{i}"] = make_entry("%1", file=p.relative_to(root).as_posix())
    err = open(w.base / "rss.err", "wb")  # noqa: SIM115
    d = subprocess.Popen([PY, "-m", "agent_doc", "watch"], cwd=root, env=w.env,
                         stdout=subprocess.DEVNULL, stderr=err)
    try:
        _wait(lambda: "atching" in (w.base / "rss.err").read_text(errors="replace"), 30,
              "the daemon to start")
        time.sleep(3)
        status = Path(f"/proc/{d.pid}/status").read_text()
        vals = {ln.split(":")[0]: int(ln.split()[1]) for ln in status.splitlines()
                if ln.startswith(("VmRSS", "VmHWM"))}
    finally:
        d.terminate()
        d.wait(timeout=60)
        err.close()
    return vals["VmRSS"], vals["VmHWM"]


# -- machine ------------------------------------------------------------------------------
def machine() -> list[tuple[str, str]]:
    def first(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True).stdout
            return out.strip().splitlines()[0]
        except (OSError, IndexError):
            return "not found"

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        ("CPU", cpu),
        ("cores (os.cpu_count)", str(os.cpu_count())),
        ("RAM", mem),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("tmux", first(["tmux", "-V"])),
        ("git", first(["git", "--version"])),
        ("load average at start (1/5/15 min)", load),
    ]


def area_scripts_json(quick: bool) -> list[tuple[str, str]]:
    """Run the per-area scripts that offer ``--json``; keep their output verbatim."""
    out = []
    for script in sorted((REPO / "bench").glob("bench_*.py")):
        if '"--json"' not in script.read_text():
            out.append((script.name, "(no --json mode: its figures are measured above)"))
            continue
        args = [PY, str(script), "--json"] + (["--quick"] if quick and '"--quick"' in
                                               script.read_text() else [])
        p = subprocess.run(args, capture_output=True, text=True, timeout=1800)
        body = p.stdout.strip() if p.returncode == 0 else f"failed (rc {p.returncode}): " \
            f"{p.stderr.strip()[-500:]}"
        out.append((script.name, body))
    return out


# -- report -------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs (~1.5 min)")
    ap.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    ap.add_argument("--no-area-scripts", action="store_true",
                    help="skip running the per-area scripts that have --json")
    args = ap.parse_args()
    q = args.quick
    started = time.time()
    mach = machine()
    w = World()
    sections: list[str] = []

    def log(msg: str) -> None:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    try:
        log("start-up")
        st = bench_startup(w, 10 if q else 30)
        bare = st[0][1]
        lines = ["| command | median ms | p90 ms | median − bare interpreter |",
                 "|---|---:|---:|---:|"]
        for name, m, p in st:
            extra_ms = "" if name.startswith("python -I") else f"{(m - bare) * 1000:+.1f}"
            lines.append(f"| `{name}` | {ms(m)} | {ms(p)} | {extra_ms} |")
        sections.append("## 1. CLI start-up\n\nEach command through the console script "
                        f"`{' '.join(agent_doc_cmd())}` ({10 if q else 30} runs each, "
                        "interleaved; the hot commands with `--help`: dispatcher, argparse and "
                        "the command's own module).\n\n" + "\n".join(lines))
        log("route")
        m, p, n = bench_route(w, 10 if q else 30)
        sections.append("## 2. `route` latency\n\nFrom spawning `agent-doc route doc.md` until "
                        "the program in the claimed pane has read `/agent-doc doc.md` "
                        f"(n={n}).\n\n| median ms | p90 ms |\n|---:|---:|\n| {ms(m)} | {ms(p)} |")
        log("diff")
        rows = bench_diff(w, 3 if q else 7, 2 if q else 5)
        lines = ["| document | edits | `diff.compute` median ms | p90 ms | `agent-doc diff` CLI "
                 "median ms | p90 ms |", "|---|---|---:|---:|---:|---:|"]
        for label, _n, kind, lm, lp, cm, cp in rows:
            lines.append(f"| {label} | {kind} | {ms(lm)} | {ms(lp)} | {ms(cm)} | {ms(cp)} |")
        sections.append("## 3. `diff`\n\nSynthetic Markdown (headings, lists, code fences); an "
                        "edit replaces, inserts or deletes one line at a random place. In "
                        "process: comment stripping included; CLI: end to end against a "
                        "snapshot on disk.\n\n" + "\n".join(lines))
        log("run cycle")
        cyc = bench_cycle(w, 5 if q else 15)
        lines = ["| | median ms | p90 ms |", "|---|---:|---:|"]
        for k, (m, p) in cyc.items():
            lines.append(f"| {k} | {ms(m)} | {ms(p)} |")
        sections.append("## 4. Tool overhead per `run` cycle\n\n`bench/instant_claude` (a "
                        "/bin/sh `claude` that answers at once) alone on a prompt of the "
                        "document's size, against `agent-doc run --no-git` with it on a "
                        "1,000-line document (a new user line before each run). "
                        "The overhead is everything `run` adds beyond the agent: start-up, "
                        "locks, diff, prompt, pending journal, write-back, snapshot.\n\n"
                        + "\n".join(lines))
        log("registry")
        reg = bench_registry(w, 120 if q else 400)
        lines = ["| processes | transactions/s | latency median ms | p90 ms |",
                 "|---:|---:|---:|---:|"]
        for procs, tps, m, p in reg:
            lines.append(f"| {procs} | {tps:.0f} | {ms(m)} | {ms(p)} |")
        sections.append("## 5. Registry transactions\n\nP processes, each adding keys in "
                        "`Registry.transaction()` (registry lock, load, change, durable atomic "
                        "write with fsync of file and folder). Latency includes waiting for the "
                        "lock. All keys are checked present afterwards.\n\n" + "\n".join(lines))
        log("watch reaction")
        deb = 500
        m, p, n = bench_watch(w, 4 if q else 10, deb)
        sections.append(f"## 6. `watch` reaction time\n\nIn-place save → the fake agent starts "
                        f"(its first line), minus the debounce ({deb} ms, the default); n={n}. "
                        "Includes the watcher's notification, the cycle's steps before the "
                        "call and the fake agent's Python start-up.\n\n| debounce + median ms "
                        f"| debounce + p90 ms |\n|---:|---:|\n| {ms(m)} | {ms(p)} |")
        log("watch memory")
        rss, hwm = bench_watch_rss(w, 100)
        sections.append("## 7. `watch` daemon memory\n\n100 registered documents in 10 "
                        "folders, 3 s after start-up.\n\n| RSS (VmRSS) | peak (VmHWM) |\n"
                        f"|---:|---:|\n| {rss / 1024:.1f} MiB | {hwm / 1024:.1f} MiB |")
    finally:
        w.close()
    extra = [] if args.no_area_scripts else area_scripts_json(q)
    took = time.time() - started
    head = [
        "# Benchmark results",
        "",
        f"Written by `python bench/run_all.py{' --quick' if q else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} in {took:.0f} s. "
        "Re-run that command to refresh this file. Wall times; median and p90.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in mach],
        "",
        "Other jobs may have been running on this machine at the same time (the load average "
        "above says how busy it was); figures are medians for that reason.",
    ]
    body = "\n\n".join(sections)
    tail = ""
    if extra:
        tail = "\n\n## Appendix: per-area scripts\n\n" + "\n\n".join(
            f"### {name}\n\n```\n{text}\n```" if text.startswith(("{", "[")) else
            f"### {name}\n\n{text}" for name, text in extra)
    Path(args.out).write_text("\n".join(head) + "\n\n" + body + tail + "\n")
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
