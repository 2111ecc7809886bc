"""``python -m stress`` — the stress/fault suite of agent-doc (not part of the default tests).

    python -m stress [--minutes M] [--procs N] [--trials T] [--stream-trials T]
                     [--only torture|crash|badinput|hostile|streaming]
                     [--seed S] [--smoke] [--editor-saves mixed|rename|inplace] [--keep]
                     [--json]

Prints ONE table (part / invariant / checks / violations) on stdout — or one JSON object with
``--json`` — then the examples of every violated invariant and notes on stderr; exits 1 if any
invariant broke. The default size (torture 2 minutes with 16 workers, 320 crash trials, the
whole bad-input corpus) took 202 s on this 2-core machine (torture 124 s, crash 56 s,
bad input 22 s) while other test runs shared it; with 16 workers the machine kept up (about
6 commands per second in all), so 16 stays the default. ``--smoke`` is the small
size the default test run uses (tests/test_stress_smoke.py).

Run it from the repository root with the project's interpreter (``.venv/bin/python -m
stress``): the commands under test are run as ``python -m agent_doc`` with that interpreter.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time

from stress.common import Tally

DEFAULT_MINUTES = 2.0
DEFAULT_PROCS = 16
DEFAULT_TRIALS = 320
DEFAULT_STREAM_TRIALS = 120


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stress", description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=None,
                    help=f"torture duration (default {DEFAULT_MINUTES})")
    ap.add_argument("--procs", type=int, default=None,
                    help=f"concurrent torture workers (default {DEFAULT_PROCS}); also bounds "
                    "the crash part's parallel trials (procs/4, at least 1)")
    ap.add_argument("--trials", type=int, default=None,
                    help=f"crash trials in all (default {DEFAULT_TRIALS})")
    ap.add_argument("--stream-trials", type=int, default=None,
                    help=f"streaming trials (default {DEFAULT_STREAM_TRIALS}; smoke 24)")
    ap.add_argument("--only", choices=["torture", "crash", "badinput", "hostile", "streaming"],
                    action="append",
                    help="run only this part (repeatable)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    ap.add_argument("--smoke", action="store_true",
                    help="the small size: 0.3 min torture with 4 workers, 24 crash trials, "
                    "a 5 MB document instead of 50 MB")
    ap.add_argument("--editor-saves", choices=["mixed", "rename", "inplace"], default="mixed",
                    help="how the torture's editor saves: half in place (truncate+write) and "
                    "half by rename (default), or only one way")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folders")
    ap.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    args = ap.parse_args(argv)

    minutes = args.minutes if args.minutes is not None else (0.3 if args.smoke else
                                                             DEFAULT_MINUTES)
    procs = args.procs if args.procs is not None else (4 if args.smoke else DEFAULT_PROCS)
    trials = args.trials if args.trials is not None else (24 if args.smoke else DEFAULT_TRIALS)
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    stream_trials = args.stream_trials if args.stream_trials is not None else (
        24 if args.smoke else DEFAULT_STREAM_TRIALS)
    parts = args.only or ["torture", "crash", "badinput", "hostile", "streaming"]
    if not shutil.which("tmux"):
        print("stress: tmux is required (apt-get install tmux)", file=sys.stderr)
        return 2
    print(f"[stress] seed {seed}; parts {', '.join(parts)}; torture {minutes} min x {procs} "
          f"workers; {trials} crash trials", file=sys.stderr, flush=True)
    random.seed(seed)
    tally = Tally()
    started = time.monotonic()
    for part in parts:
        t0 = time.monotonic()
        if part == "torture":
            from stress import torture

            torture.run(tally, minutes=minutes, procs=procs, seed=seed, keep=args.keep,
                        editor=args.editor_saves)
        elif part == "crash":
            from stress import crash

            crash.run(tally, trials=trials, workers=max(1, min(4, procs // 4)), seed=seed,
                      keep=args.keep)
        elif part == "hostile":
            from stress import hostile

            hostile.run(tally, seed=seed, keep=args.keep)
        elif part == "streaming":
            from stress import streaming

            streaming.run(tally, trials=stream_trials, workers=max(1, min(3, procs // 4)),
                          seed=seed, keep=args.keep)
        else:
            from stress import badinput

            badinput.run(tally, seed=seed, keep=args.keep, big_mb=5 if args.smoke else 50)
        tally.note(f"{part}: {time.monotonic() - t0:.0f}s")
    tally.note(f"total: {time.monotonic() - started:.0f}s, seed {seed}")
    if args.json:
        print(json.dumps(tally.as_json(), indent=1))
    else:
        print(tally.table())
    for row in tally.rows():
        for ex in row.examples:
            print(f"\nVIOLATION [{row.part}] {row.invariant}:\n{ex}", file=sys.stderr)
    for note in tally.notes:
        print(f"[stress] {note}", file=sys.stderr)
    return 1 if tally.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
