"""crash: SIGKILL at random instants of every writing command, then check the state.

Commands: ``run``, ``write``, ``recover``, ``patch``, ``claim``, ``reset``, ``init``, ``sync``
(the trials are spread evenly over them). Each trial builds a fresh project in a known
*before* state, starts the command in its own process group, kills the whole group with
SIGKILL after a random delay, then checks (a quarter of the delays are uniform over the
command's measured duration; the rest are steered towards the start of its writes: after a
kill that found the *before* state the next kill of that command comes later, after one that
found the *after* state earlier, so most kills land among the writes — the note printed at the
end counts where they landed):

1. **state parses** — document frontmatter, ``sessions.json``, the snapshot (UTF-8 with a
   closed frontmatter) and a pending response (JSON) if any;
2. **each file equals its before- or its after-state** (the after-state is measured once per
   command by an uninterrupted calibration run; registry entries are compared by key, pane and
   file, since ``started``/``pid`` vary); for the submit cycle the pair (document, snapshot) is
   wholly before or wholly after unless a pending response is there to finish it;
3. **a pending response is recoverable** — ``recover`` exits 0 and leaves the after-state;
4. **the next command works with no manual cleanup** — the same command run again (or
   ``status`` where repeating would legitimately add a second copy) exits 0, and the state
   then equals the after-state;
5. **no temporary file is left** once the files were written again (a killed writer's
   temporary file is removed by the next write of the same file; when the next command did
   not write the document, one more ``write`` does), and **no lock is held**.

Parallel trials (``workers``) use separate projects; claim/sync trials share one isolated tmux
server, each worker with its own pane/window.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from stress.common import (
    Env,
    Tally,
    doc_text,
    held,
    kill_group,
    pending_path,
    read_or_none,
    registry_parses,
    snapshot_path,
    temp_files,
)

PART = "crash"
#: the conversation id of the cleanup `write` (any UUID)
CLEANUP_SESSION = "c1ea0000-0000-4000-8000-00000000c1ea"
COMMANDS = ["run", "write", "recover", "patch", "claim", "reset", "init", "sync"]
ANSWER = "crash answer: the agent's reply"
NEW_SESSION = "5e55e55e-0000-4000-8000-00000000a2e1"  # claude ids are UUIDs
OLD_SESSION = "0d5e55e5-0000-4000-8000-0000000001d5"
FAKE_ENV = {"FAKE_CLAUDE_RESULT": ANSWER, "FAKE_CLAUDE_SESSION": NEW_SESSION,
            "FAKE_CLAUDE_SLEEP": "0.05"}
DOC = "notes.md"
DOC2 = "other doc.md"


@dataclass
class State:
    doc: bytes | None
    snap: bytes | None
    pending: bytes | None
    registry: frozenset[tuple[str, str, str]] | None  # (key, pane, file)
    doc2: bytes | None


@dataclass
class Trial:
    n: int
    cmd: str
    root: Path
    pane: str
    window: str


class Crash:
    def __init__(self, tally: Tally, *, trials: int, workers: int, seed: int,
                 keep: bool = False) -> None:
        self.tally = tally
        self.trials = trials
        self.workers = workers
        self.seed = seed
        self.keep = keep
        self.after: dict[str, State] = {}
        self.before_states: dict[str, State] = {}
        self.durations: dict[str, float] = {}
        self.init_pattern: re.Pattern[str] | None = None
        self.stats: Counter[str] = Counter()
        self.center: dict[str, float] = {}  # per command: estimated start of its writes
        self.lock = threading.Lock()

    # -- the world ----------------------------------------------------------------------
    def setup(self) -> None:
        self.env = env = Env("crash", keep=self.keep)
        self.slots: list[tuple[str, str]] = []  # (pane, window) per worker
        pane = env.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", "200",
                        "-y", "50", "-P", "-F", "#{pane_id}", "cat")
        window = env.tmux("display-message", "-p", "-t", pane, "#{window_id}")
        self.slots.append((pane, window))
        for _ in range(1, self.workers + 1):  # +1: the calibration slot
            out = env.tmux("new-window", "-d", "-t", "=main:", "-P", "-F",
                           "#{pane_id} #{window_id}", "cat")
            p, w = out.split()
            self.slots.append((p, w))
        # a second pane per window for sync's second document
        self.second: dict[str, str] = {}
        for p, w in self.slots:
            self.second[p] = env.tmux("split-window", "-d", "-t", p, "-P", "-F", "#{pane_id}",
                                      "cat")
            del w

    def pane_pid(self, pane: str) -> int:
        return int(self.env.tmux("display-message", "-p", "-t", pane, "#{pane_pid}"))

    def make_trial(self, n: int, cmd: str, slot: tuple[str, str]) -> Trial:
        root = self.env.base / f"t{n}" / "proj dir"
        (root / ".agent-doc").mkdir(parents=True)
        sid = "6f1c0d9e-8a52-4c4b-9e43-5b0e2f7d1a11"
        sid2 = "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
        doc, doc2 = root / DOC, root / DOC2
        t = Trial(n, cmd, root, slot[0], slot[1])
        if cmd == "init":
            return t
        doc.write_text(doc_text(sid, "crash", ["question one"], resume=OLD_SESSION,
                                component=True))
        snapshot_path(doc).parent.mkdir(parents=True, exist_ok=True)
        snapshot_path(doc).write_text(doc_text(sid, "crash", [], resume=OLD_SESSION,
                                               component=True))
        doc2.write_text(doc_text(sid2, "other", ["hello"]))
        if cmd == "recover":
            from agent_doc.journal import write_pending
            from agent_doc.project import Project

            write_pending(Project.for_document(doc), doc, sent=doc.read_text(),
                          response=ANSWER, session_id=NEW_SESSION, agent="claude")
        if cmd in ("claim", "sync"):
            from tmux_router.registry import dumps, make_entry

            entries = {sid2: make_entry(self.second[t.pane], pid=self.pane_pid(
                self.second[t.pane]), cwd=str(root), file=DOC2, window=t.window)}
            if cmd == "sync":
                entries[sid] = make_entry(t.pane, pid=self.pane_pid(t.pane), cwd=str(root),
                                          file=DOC, window=t.window)
            (root / ".agent-doc" / "sessions.json").write_text(dumps(entries))
        return t

    def argv(self, t: Trial) -> tuple[list[str], str | None]:
        return {
            "run": (["run", "--no-git", DOC], None),
            "write": (["write", "--session-id", NEW_SESSION, DOC], ANSWER + "\n"),
            "recover": (["recover", DOC], None),
            "patch": (["patch", DOC, "log", "crash entry"], None),
            "claim": (["claim", "--pane", t.pane, DOC], None),
            "reset": (["reset", DOC], None),
            "init": (["init", DOC, "Crash title"], None),
            "sync": (["sync", "--window", t.window, "--col", f"{DOC},{DOC2}"], None),
        }[t.cmd]

    def state(self, t: Trial) -> State:
        doc = t.root / DOC
        reg_path = t.root / ".agent-doc" / "sessions.json"
        registry: frozenset[tuple[str, str, str]] | None = None
        try:
            data = json.loads(reg_path.read_text())
            names = {t.pane: "PANE", self.second[t.pane]: "SECOND"}  # slot-independent
            registry = frozenset((k, names.get(v.get("pane", ""), v.get("pane", "")),
                                  v.get("file", "")) for k, v in data.items())
        except (OSError, ValueError, AttributeError):
            registry = None
        return State(read_or_none(doc), read_or_none(snapshot_path(doc)),
                     read_or_none(pending_path(doc)), registry, read_or_none(t.root / DOC2))

    # -- calibration --------------------------------------------------------------------
    def calibrate(self) -> None:
        slot = self.slots[-1]
        for i, cmd in enumerate(COMMANDS):
            times = []
            for k in range(2):
                t = self.make_trial(-(10 * i + k + 1), cmd, slot)
                before = self.state(t)
                args, stdin = self.argv(t)
                p = self.env.cli(*args, cwd=t.root, input=stdin, env=FAKE_ENV)
                if p.returncode != 0:
                    raise RuntimeError(f"calibration of {cmd} failed:\n{p.describe()}")
                times.append(p.seconds)
            self.before_states[cmd] = before
            self.after[cmd] = self.state(t)
            self.durations[cmd] = statistics.median(times)
            if cmd == "init":
                text = (t.root / DOC).read_text()
                pat = re.escape(text)
                pat = re.sub(r"[0-9a-f]{8}\\-[0-9a-f]{4}\\-[0-9a-f]{4}\\-[0-9a-f]{4}\\-"
                             r"[0-9a-f]{12}", r"[0-9a-f-]{36}", pat)
                self.init_pattern = re.compile(pat + r"\Z")
        self.tally.note("crash: command durations (s) " + ", ".join(
            f"{c} {d:.2f}" for c, d in self.durations.items()))

    # -- one trial ----------------------------------------------------------------------
    def trial(self, n: int, cmd: str, slot: tuple[str, str], rng: random.Random) -> None:
        t = self.make_trial(n, cmd, slot)
        args, stdin = self.argv(t)
        dur = self.durations[cmd]
        with self.lock:
            center = self.center.setdefault(cmd, 0.9 * dur)
        if rng.random() < 0.25:
            delay = rng.uniform(0.0, 1.1 * dur)
        else:  # around the estimated start of the write phase
            delay = max(0.0, center + rng.uniform(-0.12, 0.12) * dur)
        p = self.env.popen(args, cwd=t.root, env=FAKE_ENV,
                           stdin=-1 if stdin is not None else None)
        if stdin is not None and p.stdin is not None:
            try:
                p.stdin.write(stdin.encode())
                p.stdin.close()
            except BrokenPipeError:
                pass
        time.sleep(delay)
        finished = p.poll() is not None
        kill_group(p)
        p.wait()
        if p.stdout:
            p.stdout.close()
        if p.stderr:
            p.stderr.close()
        with self.lock:
            self.stats[f"{cmd} {'completed' if finished else 'killed'}"] += 1
        label = f"trial {n} ({cmd}, killed after {delay:.3f}s of ~{dur:.2f}s) in {t.root}"
        st = self.state(t)
        self.check_parses(t, st, label)
        self.check_before_or_after(t, st, label)
        if st.pending is not None:
            r = self.env.cli("recover", DOC, cwd=t.root, env=FAKE_ENV)
            st2 = self.state(t)
            after = self.after[cmd]
            ok = (r.returncode == 0 and st2.pending is None and st2.doc == after.doc
                  and st2.snap == after.snap)
            self.tally.check(PART, "pending response recoverable with `recover`", ok,
                             f"{label}\n{r.describe()}\n" + self.diff_state(st2, after))
        self.next_command(t, label)

    def next_command(self, t: Trial, label: str) -> None:
        cmd = t.cmd
        st = self.state(t)
        before = self.before_states[cmd]
        args, stdin = self.argv(t)
        if cmd == "write" and st.doc != before.doc:
            args, stdin = ["status", "--json"], None  # writing again would add a 2nd copy
        if cmd == "init" and st.doc is not None:
            args, stdin = ["reset", DOC], None
        r = self.env.cli(*args, cwd=t.root, input=stdin, env=FAKE_ENV)
        self.tally.check(PART, "next command works with no manual cleanup", r.returncode == 0,
                         f"{label}\nnext: {r.describe()}")
        st = self.state(t)
        after = self.after[cmd]
        if cmd == "init":
            text = (st.doc or b"").decode("utf-8", "replace")
            ok = self.init_pattern is not None and bool(self.init_pattern.match(text))
            detail = f"document: {text!r}"
        else:
            ok = (st.doc == after.doc and st.snap == after.snap and st.pending is None
                  and st.registry == after.registry and st.doc2 == after.doc2)
            detail = self.diff_state(st, after)
        self.tally.check(PART, "state converges to the after-state", ok, f"{label}\n{detail}")
        tmps = temp_files(t.root)
        if tmps:  # left by the killed writer: the next write of the same file removes them
            import os as _os

            # a temp file under .agent-doc/ (a snapshot, journal or repair record) belongs to
            # the document: its next write-back rewrites those files and so removes it; a kept
            # displaced save (.NAME.agent-doc-displaced-...) is merged by NAME's next write-back
            names = sorted({DOC if f"{_os.sep}.agent-doc{_os.sep}" in p
                            else _os.path.basename(p)[1:].split(".tmp-", 1)[0].split(
                                ".agent-doc-displaced-", 1)[0] for p in tmps})
            failed = []
            for name in names or [DOC]:
                # `--session-id` must be a Claude conversation id (a UUID) since issue 12
                w = self.env.cli("write", "--session-id", CLEANUP_SESSION, name,
                                 input="cleanup\n", cwd=t.root)
                if w.returncode != 0:
                    failed.append(f"(cleanup write of {name} failed: {w.describe()})")
            tmps = temp_files(t.root) + failed
        self.tally.check(PART, "no temp file left once the file is written again", not tmps,
                         f"{label}\n{tmps}")
        locks = held(t.root)
        self.tally.check(PART, "no lock held", not locks, f"{label}\n{locks}")

    def check_parses(self, t: Trial, st: State, label: str) -> None:
        from agent_doc.document import parse

        problems = []
        for name, raw in (("document", st.doc), ("snapshot", st.snap),
                          ("other document", st.doc2)):
            if raw is None:
                continue
            try:
                parse(raw.decode("utf-8"), name)
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__name__}: {exc}: {raw[:160]!r}")
        if st.pending is not None:
            try:
                rec = json.loads(st.pending)
                if not isinstance(rec, dict) or "response" not in rec:
                    problems.append(f"pending: unexpected {st.pending[:160]!r}")
            except ValueError as exc:
                problems.append(f"pending: {exc}: {st.pending[:160]!r}")
        ok, detail = registry_parses(t.root / ".agent-doc" / "sessions.json")
        if not ok:
            problems.append(detail)
        self.tally.check(PART, "state parses after SIGKILL", not problems,
                         f"{label}\n" + "\n".join(problems))

    def check_before_or_after(self, t: Trial, st: State, label: str) -> None:
        before, after = self.before_states[t.cmd], self.after[t.cmd]
        bad = []
        if t.cmd == "init":
            if st.doc is not None:
                text = st.doc.decode("utf-8", "replace")
                if not (self.init_pattern and self.init_pattern.match(text)):
                    bad.append(f"document is neither absent nor complete: {text!r}")
        else:
            for name in ("doc", "snap", "registry", "doc2"):
                now, b, a = getattr(st, name), getattr(before, name), getattr(after, name)
                if now != b and now != a:
                    bad.append(f"{name}: neither before nor after:\n  now    {now!r}\n  "
                               f"before {b!r}\n  after  {a!r}")
            if t.cmd in ("run", "write", "recover") and st.pending is None:
                pair = (st.doc, st.snap)
                if pair not in ((before.doc, before.snap), (after.doc, after.snap)):
                    bad.append("document and snapshot are half-updated and no pending "
                               f"response is left to finish them: doc is "
                               f"{'after' if st.doc == after.doc else 'before'}, snapshot is "
                               f"{'after' if st.snap == after.snap else 'before'}")
        self.tally.check(PART, "each file equals its before- or after-state", not bad,
                         f"{label}\n" + "\n".join(bad))
        # where did the kill land? (how many trials hit the write phase)
        if st.pending is not None and t.cmd != "recover":
            where = "pending left"
        elif t.cmd == "init":
            where = "after" if st.doc is not None else "before"
        elif (st.doc, st.snap, st.registry, st.doc2) == (before.doc, before.snap,
                                                         before.registry, before.doc2):
            where = "before"
        elif (st.doc, st.snap, st.registry, st.doc2) == (after.doc, after.snap, after.registry,
                                                         after.doc2):
            where = "after"
        else:
            where = "part-way"
        with self.lock:
            self.stats[f"state {where}"] += 1
            # steer the kill instants towards the writes: later after "before", earlier after
            # "after" (a kill that found files part-way or a pending answer hit the spot)
            step = {"before": 0.04, "after": -0.04}.get(where, 0.0) * self.durations[t.cmd]
            c = self.center.get(t.cmd, 0.9 * self.durations[t.cmd]) + step
            self.center[t.cmd] = min(max(c, 0.1 * self.durations[t.cmd]),
                                     2.0 * self.durations[t.cmd])

    @staticmethod
    def diff_state(st: State, want: State) -> str:
        out = []
        for name in ("doc", "snap", "pending", "registry", "doc2"):
            a, b = getattr(st, name), getattr(want, name)
            if a != b:
                out.append(f"{name}: got {a!r}\n   want {b!r}")
        return "\n".join(out) or "(equal)"

    # -- driver -------------------------------------------------------------------------
    def run(self) -> None:
        self.setup()
        try:
            self.calibrate()
            plan = [COMMANDS[i % len(COMMANDS)] for i in range(self.trials)]
            random.Random(self.seed).shuffle(plan)
            queue = list(enumerate(plan))
            qlock = threading.Lock()

            def worker(w: int) -> None:
                rng = random.Random(self.seed * 7919 + w)
                while True:
                    with qlock:
                        if not queue:
                            return
                        n, cmd = queue.pop()
                    try:
                        self.trial(n, cmd, self.slots[w], rng)
                    except Exception as exc:
                        self.tally.check(PART, "harness ran without error", False,
                                         f"trial {n} ({cmd}): {exc!r}")

            print(f"[crash] {self.trials} trials, {self.workers} in parallel", file=sys.stderr,
                  flush=True)
            threads = [threading.Thread(target=worker, args=(w,)) for w in range(self.workers)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            killed = sum(v for k, v in self.stats.items() if k.endswith("killed"))
            self.tally.note("crash: state found after the kill: " + ", ".join(
                f"{k[6:]} {v}" for k, v in sorted(self.stats.items()) if k.startswith("state")))
            self.tally.note(f"crash: {self.trials} trials, {killed} killed mid-command ("
                            + ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items())
                                        if not k.startswith("state"))
                            + ")")
        finally:
            self.env.close()


def run(tally: Tally, *, trials: int, workers: int, seed: int, keep: bool = False) -> None:
    Crash(tally, trials=trials, workers=workers, seed=seed, keep=keep).run()

