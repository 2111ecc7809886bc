"""Benchmark: start-up time of the CLI against the bare interpreter, plus import offenders.

Usage: ``.venv/bin/python bench/bench_startup.py [--runs N] [--top K]``, or
``.venv/bin/python bench/bench_startup.py --imports [--write]`` for the import-cost table
(``bench/IMPORTS.md``, the one place the code's "costs N ms" figures live).

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

``--imports``: the cost of importing each module that the start-up discipline keeps off (or
allows on) the hotkey path, alone in a fresh interpreter — the *cumulative* ``-X importtime``
of ``import M`` (M and what it pulls in that the bare interpreter has not loaded), median of
``--runs`` runs — on every CPython 3.11–3.13 this checkout has a venv for (``.venv``,
``.venv-3.12``, ``.venv-3.13``, as ``.ci/run`` makes them). ``--write`` writes the table to
``bench/IMPORTS.md``.
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


#: (module, why it is in the table): the expensive modules kept off the hotkey path, the cheap
#: private modules fastpath uses instead, and our own layers
IMPORT_ROWS: list[tuple[str, str]] = [
    ("re", "kept off route/claim/focus (document.py, registry.py read without it)"),
    ("enum", "pulled in by re, signal, json"),
    ("json", "kept off route/claim/focus: fastpath.json_loads / json_quote"),
    ("_json", "fastpath: the C scanner and string encoder json itself uses"),
    ("hashlib", "kept off the hot path: fastpath.sha256"),
    ("_sha2", "fastpath.sha256 (3.12+)"),
    ("_sha256", "fastpath.sha256 (3.11)"),
    ("signal", "kept off the hot path: fastpath.signal_module"),
    ("_signal", "fastpath.signal_module"),
    ("ctypes", "renameat2 fallback"),
    ("_ctypes", "fastpath.load_renameat2"),
    ("atexit", "fastpath.fast_exit asks it"),
    ("typing", "names only under TYPE_CHECKING"),
    ("dataclasses", "Record/FrozenRecord and __slots__ classes instead"),
    ("pathlib", "plain str paths on the hot path"),
    ("subprocess", "procrun (posix_spawn) instead"),
    ("threading", "only a busy lock or the daemon needs it"),
    ("argparse", "fastargs parses the hotkey command lines"),
    ("importlib", "__import__ + sys.modules instead"),
    ("uuid", "document.new_session_id builds one from os.urandom"),
    ("tomllib", "config: only when a config file exists"),
    ("yaml", "frontmatter the hand scanner cannot read"),
    ("merge3", "the 3-way merge (run, write)"),
    ("httpx", "the OpenAI backend, when a request is made"),
    ("watchfiles", "watch"),
    ("fastpath", "ours, layer 1"),
    ("safefile", "ours, layer 1"),
    ("procrun", "ours, layer 1"),
    ("tmux_router.registry", "ours"),
    ("tmux_router.tmux", "ours"),
    ("agent_doc.cli", "the dispatcher (--version)"),
    ("agent_doc.document", "ours, on every hotkey command"),
    ("agent_doc.routing.route", "route's engine (the package itself imports nothing)"),
    ("agent_doc.cycle", "run"),
    ("agent_doc.writeback", "run, write, recover: the write-back (steps 6-9)"),
    ("agent_doc.journal", "run, write, recover: the pending journal"),
    ("agent_doc.stream", "a streamed answer's region and flush rate"),
]


def import_cost_us(py: str, module: str, env: dict[str, str], runs: int) -> float | None:
    """Median cumulative import time (us) of ``module`` alone in a fresh ``py``; 0 when the
    bare interpreter has it already, None when it cannot be imported."""
    costs = []
    for _ in range(runs):
        p = subprocess.run([py, "-X", "importtime", "-c", f"import {module}"],
                           capture_output=True, text=True, env=env, check=False)
        if p.returncode != 0:
            return None
        found = 0
        for line in p.stderr.splitlines():
            if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == module:
                found = int(line.split("|")[1])
        costs.append(found)
    return statistics.median(costs)


def import_table(runs: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(REPO / "src")
    pys: list[tuple[str, str]] = []
    for venv in [REPO / ".venv", *sorted(REPO.glob(".venv-3.*"))]:
        exe = venv / "bin" / "python"
        if not exe.exists():
            continue
        version = subprocess.run([str(exe), "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        if version not in {v for v, _ in pys}:
            pys.append((version, str(exe)))
    pys.sort(key=lambda vp: tuple(int(x) for x in vp[0].split(".")[:2]))
    load = os.getloadavg()
    lines = [
        "# Import costs",
        "",
        "What importing each module costs, alone in a fresh interpreter: the cumulative "
        "`python -X importtime -c 'import M'` (M and everything it pulls in that the bare "
        f"interpreter has not loaded), median of {runs} runs, in ms. **Regenerate** with "
        "`.venv/bin/python bench/bench_startup.py --imports --write` (it uses every "
        "`.venv`, `.venv-3.12`, `.venv-3.13` present, as `.ci/run` makes them). Code comments "
        "point here instead of quoting figures; docs/ARCHITECTURE.md says which modules the "
        "hotkey commands may import.",
        "",
        f"Machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} at the start; written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
        " `0` = already loaded by the bare interpreter; `—` = not importable there.",
        "",
        "| module | " + " | ".join(f"{v}" for v, _ in pys) + " | why it is here |",
        "|---|" + "---:|" * len(pys) + "---|",
    ]
    for module, why in IMPORT_ROWS:
        cells = []
        for _v, exe in pys:
            us = import_cost_us(exe, module, env, runs)
            cells.append("—" if us is None else f"{us / 1e3:.2f}")
        lines.append(f"| `{module}` | " + " | ".join(cells) + f" | {why} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=None,
                    help="runs per command (default 60; --imports: 9 per module)")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--imports", action="store_true", help="print the import-cost table")
    ap.add_argument("--write", action="store_true", help="with --imports: write bench/IMPORTS.md")
    args = ap.parse_args()
    if args.imports:
        table = import_table(args.runs or 9)
        if args.write:
            (REPO / "bench" / "IMPORTS.md").write_text(table, encoding="utf-8")
        print(table, end="")
        return 0
    args.runs = args.runs or 60
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
