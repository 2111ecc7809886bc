"""Benchmark of the snapshot diff: ours vs difflib vs ``git diff --no-index``.

Usage::

    python bench/bench_diff.py            # 1k/10k/100k lines x (one edit, 1 %, 10 %), 7 runs
    python bench/bench_diff.py --quick    # 3 runs, no difflib at 100k lines

For every document size and amount of editing it prints the median and p90 wall time of:

* ``ours``      — :func:`agent_doc.diff.compute` in process (comment stripping included);
* ``ours CLI``  — ``python -m agent_doc diff FILE`` end to end (interpreter start-up included),
  against a snapshot on disk — what a user waits for;
* ``difflib``   — ``difflib.unified_diff(a, b, n=3)`` in a child process with a 30 s limit
  ("skipped" past it, and fewer runs when one run takes over 2 s);
* ``git``       — ``git diff --no-index -U3`` on the two files (a process, like ``ours CLI``);

the ratios ours/git and ours CLI/git, and the size of each diff in changed (+/-) lines, so a
faster but larger diff would show. Documents are synthetic Markdown (headings, paragraphs,
blank lines, lists, code fences) from a fixed seed; an "edit" replaces (50 %), inserts (25 %)
or deletes (25 %) one line at a random place.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from agent_doc import diff as D  # noqa: E402
from agent_doc.project import Project  # noqa: E402

WORDS = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be",
    "by", "this", "are", "or", "from", "at", "which", "but", "have", "an", "they", "you", "were",
    "agent", "document", "snapshot", "diff", "session", "pane", "tmux", "response", "prompt",
]

DIFFLIB_CHILD = """
import difflib, sys
a = open(sys.argv[1], encoding="utf-8").read().split("\\n")
b = open(sys.argv[2], encoding="utf-8").read().split("\\n")
a = [x + "\\n" for x in a[:-1]] + ([a[-1]] if a[-1] else [])
b = [x + "\\n" for x in b[:-1]] + ([b[-1]] if b[-1] else [])
import time
t = time.perf_counter()
out = "".join(difflib.unified_diff(a, b, "snapshot", "document", n=3))
dt = time.perf_counter() - t
changed = sum(1 for ln in out.splitlines()
              if ln[:1] in "+-" and not ln.startswith(("---", "+++")))
print(dt, changed)
"""


def make_doc(n: int, rng: random.Random) -> list[str]:
    out: list[str] = []
    in_code = False
    while len(out) < n:
        r = rng.random()
        if in_code:
            if r < 0.15:
                out.append("```\n")
                in_code = False
            else:
                out.append("    " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
                           + f"({len(out)})\n")
        elif r < 0.12:
            out.append("\n")
        elif r < 0.15:
            out.append(f"{'#' * rng.randint(1, 3)} Section {len(out)}\n")
        elif r < 0.16:
            out.append("```python\n")
            in_code = True
        elif r < 0.30:
            out.append(f"- item {rng.choice(WORDS)} {len(out)}\n")
        else:
            out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14)))
                       + f" {len(out)}.\n")
    return out


def edit(lines: list[str], k: int, rng: random.Random) -> list[str]:
    b = list(lines)
    for _ in range(k):
        p = rng.randrange(len(b))
        r = rng.random()
        if r < 0.5:
            b[p] = "edited: " + b[p]
        elif r < 0.75:
            b.insert(p, f"inserted line {rng.random():.6f}\n")
        else:
            del b[p]
    return b


def stats(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    p90 = s[max(0, math.ceil(0.9 * len(s)) - 1)]
    return statistics.median(s), p90


def changed_lines(udiff: str) -> int:
    return sum(1 for ln in udiff.splitlines()
               if ln[:1] in "+-" and not ln.startswith(("---", "+++")))


def time_ours(base: str, cur: str, runs: int) -> tuple[list[float], int]:
    samples = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = D.compute(base, cur)
        samples.append(time.perf_counter() - t)
    return samples, changed_lines(out or "")


def time_cli(doc: Path, runs: int, pycache: Path) -> list[float]:
    # as installed: byte-code cached (in a private folder, not the source tree)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "agent_doc", "diff", str(doc)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # warm-up
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "agent_doc", "diff", str(doc)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        samples.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"agent-doc diff failed: {p.stderr.decode()}")
    return samples


def time_git(fa: Path, fb: Path, runs: int) -> tuple[list[float], int]:
    samples = []
    out = b""
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(["git", "diff", "--no-index", "--no-color", "-U3", str(fa), str(fb)],
                           stdout=subprocess.PIPE)
        samples.append(time.perf_counter() - t)
        out = p.stdout
    return samples, changed_lines(out.decode("utf-8"))


def time_difflib(fa: Path, fb: Path, runs: int, limit: float) -> tuple[list[float], int] | None:
    samples: list[float] = []
    changed = 0
    for _ in range(runs):
        try:
            p = subprocess.run([sys.executable, "-c", DIFFLIB_CHILD, str(fa), str(fb)],
                               capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return None
        dt, changed_s = p.stdout.split()
        samples.append(float(dt))
        changed = int(changed_s)
        if float(dt) > 2.0 and len(samples) >= 1:
            break  # slow: one run is enough to make the point
    return samples, changed


def ms(x: float) -> str:
    return f"{x * 1000:8.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 runs, no difflib at 100k lines")
    ap.add_argument("--runs", type=int, default=None, help="runs per cell (default 7, quick 3)")
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated line counts")
    ns = ap.parse_args()
    runs = ns.runs or (3 if ns.quick else 7)
    sizes = [int(x) for x in ns.sizes.split(",")]
    have_git = shutil.which("git") is not None
    rng = random.Random(20240601)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {runs} runs per cell; "
          "times in ms (median / p90); 'chg' = changed lines in the diff")
    header = (f"{'lines':>7} {'edits':>9} | {'ours':>17} {'chg':>6} | {'ours CLI':>17} | "
              f"{'difflib':>17} {'chg':>6} | {'git':>17} {'chg':>6} | {'ours/git':>8} "
              f"{'CLI/git':>8}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        root = Path(tmp)
        (root / ".agent-doc").mkdir()
        for n in sizes:
            base_lines = make_doc(n, rng)
            base = "".join(base_lines)
            for label, k in (("one edit", 1), ("1%", n // 100), ("10%", n // 10)):
                cur_lines = list(base_lines)
                if k == 1:
                    cur_lines[n // 2] = "edited: " + cur_lines[n // 2]
                else:
                    cur_lines = edit(base_lines, k, rng)
                cur = "".join(cur_lines)
                fa, fb = root / "snapshot.md", root / "document.md"
                fa.write_text(base, encoding="utf-8")
                fb.write_text(cur, encoding="utf-8")
                Path(Project.for_document(fb).snapshot_path(fb)).parent.mkdir(
                    parents=True, exist_ok=True)
                Path(Project.for_document(fb).snapshot_path(fb)).write_text(base,
                                                                            encoding="utf-8")
                ours, ours_chg = time_ours(base, cur, runs)
                cli = time_cli(fb, runs, root / "pycache")
                if ns.quick and n >= 100_000:
                    dl = None
                    dl_text = f"{'skipped (quick)':>17} {'':>6}"
                else:
                    dl = time_difflib(fa, fb, runs, 30.0)
                    if dl is None:
                        dl_text = f"{'skipped (>30 s)':>17} {'':>6}"
                    else:
                        m, p = stats(dl[0])
                        dl_text = f"{ms(m)}/{ms(p).strip():>8} {dl[1]:>6}"
                if have_git:
                    git, git_chg = time_git(fa, fb, runs)
                    gm, gp = stats(git)
                    git_text = f"{ms(gm)}/{ms(gp).strip():>8} {git_chg:>6}"
                else:
                    gm = float("nan")
                    git_text = f"{'no git':>17} {'':>6}"
                om, op = stats(ours)
                cm, cp = stats(cli)
                print(f"{n:>7} {label:>9} | {ms(om)}/{ms(op).strip():>8} {ours_chg:>6} | "
                      f"{ms(cm)}/{ms(cp).strip():>8} | {dl_text} | {git_text} | "
                      f"{om / gm:8.2f} {cm / gm:8.2f}", flush=True)
        pathological(root, runs, have_git)
    return 0


def pathological(root: Path, runs: int, have_git: bool) -> None:
    """Inputs that defeat anchoring: the time must stay bounded, the diff reasonable."""
    rng = random.Random(7)
    n = 100_000
    cases: list[tuple[str, list[str], list[str]]] = []
    cases.append(("two-line alphabet, random",
                  [rng.choice("xy") + "\n" for _ in range(n)],
                  [rng.choice("xy") + "\n" for _ in range(n)]))
    same = ["same line\n"] * n
    edited = list(same)
    for _ in range(n // 10):
        edited[rng.randrange(n)] = "other line\n"
    cases.append(("identical lines, 10% edited", same, edited))
    one = list(same)
    one[n // 2] = "other line\n"
    cases.append(("identical lines, one edit", same, one))
    uniq = [f"line {i}\n" for i in range(n)]
    shuffled = list(uniq)
    rng.shuffle(shuffled)
    cases.append(("unique lines, shuffled", uniq, shuffled))
    print()
    print(f"pathological inputs, {n} lines ({runs} runs; ms median / p90; chg = changed lines)")
    header = f"{'case':>28} | {'ours':>17} {'chg':>7} | {'git':>17} {'chg':>7}"
    print(header)
    print("-" * len(header))
    for name, a, b in cases:
        base, cur = "".join(a), "".join(b)
        ours, chg = time_ours(base, cur, runs)
        om, op = stats(ours)
        if have_git:
            fa, fb = root / "pa.txt", root / "pb.txt"
            fa.write_text(base)
            fb.write_text(cur)
            git, git_chg = time_git(fa, fb, runs)
            gm, gp = stats(git)
            git_text = f"{ms(gm)}/{ms(gp).strip():>8} {git_chg:>7}"
        else:
            git_text = "no git"
        print(f"{name:>28} | {ms(om)}/{ms(op).strip():>8} {chg:>7} | {git_text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
