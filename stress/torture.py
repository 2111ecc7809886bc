"""torture: many concurrent commands on one project, an editor, the watch daemon, a reader.

``procs`` worker threads each run one real ``python -m agent_doc`` process at a time, so up
to ``procs`` CLI processes run concurrently, in random mixes of ``claim``, ``route`` (into
live panes of an isolated tmux server running :mod:`stress.echo`), ``resync``, ``sync``,
``patch``, ``run``, ``write``, and the read-only ``status``, ``diff`` and ``prompt --all``.
Beside them: ``watch`` (the daemon, with its own fake-agent log), :mod:`stress.editor` (saves
in place and by rename, appending lines with unique ids) and :mod:`stress.reader` (parses
registry/snapshots/pending files in a loop).

Invariants checked during and after the run:

* every registry / snapshot / pending read parses (reader loop);
* every command exits 0 (all panes stay alive, so no command has a reason to fail), and the
  read-only ones print valid JSON (``status --json``, ``prompt --all``);
* ``resync`` removes nothing (no pane died) and the final registry holds, for every document,
  a claim that was not superseded (last claim wins);
* every ``route`` reports a pane, and every pane received exactly the lines routed to it,
  intact (one ``/agent-doc FILE`` per line, no interleaving);
* every agent call is answered exactly once, in its document: the fake's logs (one for the
  commands, one for the daemon) against the documents; every ``write`` response and every
  ``patch`` entry is present exactly once;
* no user edit lost: every id the editor saved is in its document exactly once;
* no conflict markers (all edits are appends or component patches, never overlapping);
* no pending response left, no temporary file left, no lock held at the end;
* ``watch --stop`` stops the daemon; every document's frontmatter parses at the end.

Evidence when something is lost: every agent-doc write-back and repair appends a line to
``agent-doc-trace.jsonl`` and every editor save one to ``editor-trace.jsonl`` (times, sha256 of
the text read and written; :mod:`stress.common`), the fake agent logs each call (prompt sha,
the document's session, result, times). A missing answer or user line is traced to the writes
around it (:meth:`Torture.explain_answer`, :meth:`Torture.explain_edit`) in the violation's
text, and any violation keeps the scratch project and prints where it is.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from stress.common import (
    Env,
    Proc,
    Tally,
    doc_text,
    git_init,
    held,
    new_uuid,
    registry_parses,
    temp_files,
)

PART = "torture"
DOCS = ["a.md", "b.md", "my notes.md", "ünï.md", "sub/d.md"]
N_PANES = 4
WEIGHTS = {
    "run": 3,
    "write": 1,
    "patch": 2,
    "claim": 2,
    "route": 3,
    "resync": 1,
    "sync": 1,
    "status": 1,
    "diff": 1,
    "prompt": 1,
}


@dataclass
class Record:
    op: str
    doc: str
    uid: str
    proc: Proc
    t0: float
    t1: float
    w0: float  # wall clock (time.time) at start and end, to relate to the editor's saves
    w1: float
    extra: dict[str, object] = field(default_factory=dict)


class Torture:
    def __init__(self, tally: Tally, *, minutes: float, procs: int, seed: int,
                 keep: bool = False, log: bool = True, editor: str = "mixed") -> None:
        self.editor_mode = editor
        self.tally = tally
        self.seconds = max(5.0, minutes * 60)
        self.procs = procs
        self.seed = seed
        self.keep = keep
        self.verbose = log
        self.records: list[Record] = []
        self.lock = threading.Lock()
        self.counter = 0

    def say(self, text: str) -> None:
        if self.verbose:
            print(f"[torture] {text}", file=sys.stderr, flush=True)

    def uid(self) -> str:
        with self.lock:
            self.counter += 1
            return f"u{self.seed}x{self.counter}"

    # -- setup --------------------------------------------------------------------------
    def setup(self) -> None:
        self.env = env = Env("torture", keep=self.keep)
        self.root = root = env.base / "proj"
        root.mkdir()
        git_init(root, env.env)
        (root / ".agent-doc").mkdir()
        (root / ".agent-doc" / "components.toml").write_text('[log]\nmode = "append"\n')
        rng = random.Random(self.seed)
        self.sessions: dict[str, str] = {}
        for i, rel in enumerate(DOCS):
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            sid = new_uuid(rng)
            self.sessions[rel] = sid
            path.write_text(doc_text(sid, f"doc {i}", [f"question {i}"], component=True))
        subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env.env)
        subprocess.run(["git", "commit", "-q", "-m", "docs"], cwd=root, check=True, env=env.env)
        self.logs = env.base / "logs"
        self.logs.mkdir()
        # the isolated tmux server: N panes running the line-echo program
        self.panes: dict[str, Path] = {}
        log0 = self.logs / "pane0.log"
        first = env.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", "220",
                         "-y", "60", "-P", "-F", "#{pane_id}", env.echo_pane_cmd(log0))
        self.panes[first] = log0
        for i in range(1, N_PANES):
            log = self.logs / f"pane{i}.log"
            pane = env.tmux("new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}",
                            env.echo_pane_cmd(log))
            self.panes[pane] = log
        for pane, log in self.panes.items():
            log.touch()
            del pane
        # everything claimed once, so routes always have a live pane
        pane_ids = list(self.panes)
        for i, rel in enumerate(DOCS):
            self.op_claim(rel, pane_ids[i % len(pane_ids)])
        self.run_log = self.logs / "agent-run.jsonl"
        self.watch_log = self.logs / "agent-watch.jsonl"

    # -- operations ---------------------------------------------------------------------
    def _do(self, op: str, doc: str, uid: str, args: list[str], *, input: str | None = None,
            env: dict[str, str] | None = None, **extra: object) -> Record:
        t0, w0 = time.monotonic(), time.time()
        proc = self.env.cli(*args, cwd=self.root, input=input, env=env, timeout=180)
        rec = Record(op, doc, uid, proc, t0, time.monotonic(), w0, time.time(), dict(extra))
        with self.lock:
            self.records.append(rec)
        return rec

    def op_claim(self, doc: str, pane: str) -> Record:
        return self._do("claim", doc, "", ["claim", "--json", "--pane", pane, doc], pane=pane)

    def step(self, rng: random.Random) -> None:
        op = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        doc = rng.choice(DOCS)
        uid = self.uid()
        if op == "run":
            args = ["run", "--json"]
            if rng.random() < 0.7:
                args.append("--no-git")
            if rng.random() < 0.2:
                args.append("--no-wait")
            env = {
                "FAKE_CLAUDE_LOG": str(self.run_log),
                "FAKE_CLAUDE_RESULT": f"run-ans {uid} call {{pid}}",
                "FAKE_CLAUDE_SLEEP": f"{rng.uniform(0, 0.4):.3f}",
                "FAKE_CLAUDE_SESSION": _as_uuid(f"sess-{uid}"),
            }
            self._do(op, doc, uid, [*args, doc], env=env)
        elif op == "write":
            self._do(op, doc, uid, ["write", "--json", "--session-id", _as_uuid(f"ws-{uid}"), doc],
                     input=f"write-ans {uid}\n")
        elif op == "patch":
            self._do(op, doc, uid, ["patch", doc, "log", f"patch-entry {uid}"])
        elif op == "claim":
            self.op_claim(doc, rng.choice(list(self.panes)))
        elif op == "route":
            self._do(op, doc, uid, ["route", "--json", doc])
        elif op == "resync":
            self._do(op, "", uid, ["resync", "--json"])
        elif op == "sync":
            docs = rng.sample(DOCS, rng.randint(1, 3))
            cols = [",".join(docs[:2])] + ([docs[2]] if len(docs) > 2 else [])
            args = ["sync", "--json"]
            for c in cols:
                args += ["--col", c]
            self._do(op, "", uid, args)
        elif op == "diff":
            self._do(op, doc, uid, ["diff", doc])
        elif op == "prompt":  # the editor plugin's poller (every 1.5 s in the reference)
            p = self._do(op, "", uid, ["prompt", "--all"])
            try:
                ok = isinstance(json.loads(p.proc.stdout), list)
            except ValueError:
                ok = False
            self.tally.check(PART, "read-only commands print valid output", ok,
                             p.proc.describe())
        else:
            p = self._do(op, "", uid, ["status", "--json"])
            self.tally.check(PART, "read-only commands print valid output",
                             p.proc.json() is not None, p.proc.describe())

    def worker(self, n: int, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + n)
        while time.monotonic() < deadline:
            try:
                self.step(rng)
            except Exception as exc:  # a harness failure must show, not vanish
                self.tally.check(PART, "harness ran without error", False, repr(exc))
                return

    # -- the run ------------------------------------------------------------------------
    def run(self) -> None:
        self.setup()
        try:
            self._run()
        finally:
            self.env.close()

    def _run(self) -> None:
        env, root = self.env, self.root
        wall_deadline = time.time() + self.seconds
        deadline = time.monotonic() + self.seconds
        reader_out = self.logs / "reader.json"
        ids_log = self.logs / "editor-ids.log"
        ids_log.touch()
        reader = env.popen([sys.executable, "-m", "stress.reader", str(root), str(reader_out),
                            str(wall_deadline)], cwd=root, prog=None,
                           log=self.logs / "reader.log")
        editor_log = self.logs / "editor.log"
        editor = env.popen([sys.executable, "-m", "stress.editor", str(root), str(ids_log),
                            str(self.seed), str(wall_deadline), self.editor_mode, *DOCS],
                           cwd=root, prog=None,
                           log=editor_log)
        watch_log = self.logs / "watch-daemon.log"
        watch = env.popen(["watch", "--debounce", "200", *DOCS], cwd=root, env={
            "FAKE_CLAUDE_LOG": str(self.watch_log),
            "FAKE_CLAUDE_RESULT": "watch-ans call {pid}",
            "FAKE_CLAUDE_SLEEP": "0.05",
            "FAKE_CLAUDE_SESSION": "watch-session",
        }, log=watch_log)
        self.say(f"{self.procs} workers for {self.seconds:.0f}s in {root}")
        threads = [threading.Thread(target=self.worker, args=(i, deadline), daemon=True)
                   for i in range(self.procs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        editor.wait(timeout=120)
        self.tally.check(PART, "editor process ran", editor.returncode == 0,
                         editor_log.read_text(errors="replace")[-800:])
        reader.wait(timeout=120)
        # let the daemon catch up with the last saves, then stop it
        time.sleep(1.5)
        stop = env.cli("watch", "--stop", cwd=root, timeout=120)
        try:
            watch.wait(timeout=90)
            stopped = True
        except subprocess.TimeoutExpired:
            watch.kill()
            watch.wait()
            stopped = False
        w_err = watch_log.read_text(errors="replace")
        self.tally.check(PART, "watch --stop stops the daemon",
                         stop.returncode == 0 and stopped,
                         stop.describe() + f"\ndaemon rc={watch.returncode} exited={stopped}\n"
                         + w_err[-1500:])
        if watch.returncode not in (0, None):
            self.tally.check(PART, "commands exit 0", False,
                             f"watch daemon exit {watch.returncode}: " + w_err[-1500:])
        self.editor_stats = editor_log.read_text(errors="replace").split()[-2:]
        self.check_all(reader_out, ids_log)

    # -- checks -------------------------------------------------------------------------
    def check_all(self, reader_out: Path, ids_log: Path) -> None:
        t, root = self.tally, self.root
        by_op = Counter(r.op for r in self.records)
        self.say("operations: " + ", ".join(f"{k}={v}" for k, v in sorted(by_op.items())))
        t.note(f"torture: editor saves {self.editor_mode}; {self.procs} workers, "
               f"{self.seconds:.0f}s, {len(self.records)} "
               f"commands ({', '.join(f'{k} {v}' for k, v in sorted(by_op.items()))}), editor "
               f"saves/retries {'/'.join(self.editor_stats)}")
        # reader loop
        try:
            rd = json.loads(reader_out.read_text())
        except (OSError, ValueError) as exc:
            t.check(PART, "every state read parses (reader loop)", False, f"reader: {exc}")
        else:
            t.check(PART, "every state read parses (reader loop)", rd["n_failures"] == 0,
                    "\n".join(rd["failures"][:5]), n=max(1, rd["reads"]))
        # command outcomes
        for r in self.records:
            t.check(PART, "commands exit 0", r.proc.returncode == 0, r.proc.describe())
        pend = sorted((root / ".agent-doc" / "pending").glob("*.json")) \
            if (root / ".agent-doc" / "pending").exists() else []
        t.check(PART, "no pending response left", not pend, f"left: {pend}")
        for rel in DOCS:  # apply what is left so the answer checks below see everything
            if pend:
                self.env.cli("recover", rel, cwd=root)
        texts = {rel: (root / rel).read_text(encoding="utf-8") for rel in DOCS}
        # frontmatter of every document parses
        from agent_doc.document import parse

        for rel, text in texts.items():
            try:
                d = parse(text, rel)
                ok, detail = d.session == self.sessions[rel], f"{rel}: session {d.session}"
            except Exception as exc:
                ok, detail = False, f"{rel}: {exc}"
            t.check(PART, "document frontmatter parses, session kept", ok, detail)
        self.load_traces()
        self.check_answers(texts)
        self.check_editor(texts, ids_log)
        self.check_routing()
        self.check_claims()
        # conflict markers
        for rel, text in texts.items():
            bad = [ln for ln in text.splitlines() if re.match(r"^(<{7}|>{7}|={7})( |$)", ln)]
            t.check(PART, "no conflict markers (pure appends)", not bad,
                    f"{rel}: {bad[:4]}")
        tmps = temp_files(root)
        t.check(PART, "no temp files left (.*.tmp-*)", not tmps, f"{tmps[:5]}")
        locks = held(root)
        t.check(PART, "no lock held at the end", not locks, f"{locks[:5]}")
        ok, detail = registry_parses(root / ".agent-doc" / "sessions.json")
        t.check(PART, "every state read parses (reader loop)", ok, detail)

    def check_answers(self, texts: dict[str, str]) -> None:
        t = self.tally
        whole = "\n".join(texts.values())
        runs = [r for r in self.records if r.op == "run"]
        answered = 0
        for r in runs:
            info = r.proc.json() or {}
            status = info.get("status")
            key = f"run-ans {r.uid} call "
            here = texts[r.doc].count(key)
            elsewhere = whole.count(key) - here
            if status == "answered":
                answered += 1
                ok = here == 1 and elsewhere == 0
            elif r.proc.returncode == 0:
                ok = here == 0 and elsewhere == 0
            else:
                ok = here <= 1 and elsewhere == 0
            t.check(PART, "every agent call answered exactly once, in its document", ok,
                    f"run {r.uid} on {r.doc}: status={status}, in doc {here}x, elsewhere "
                    f"{elsewhere}x\n{'' if ok else self.explain_answer(key)}\n"
                    f"{r.proc.describe()}")
        # the fake's own log: every completed call's answer is in the documents
        done = _done_pids(self.run_log)
        present = len(re.findall(r"run-ans u\S+ call \d+", whole))
        t.check(PART, "every agent call answered exactly once, in its document",
                present == len(done),
                f"fake agent (commands) completed {len(done)} calls, documents hold "
                f"{present} answers")
        wdone = Counter(_done_pids(self.watch_log))
        wfound = Counter(int(m) for m in re.findall(r"watch-ans call (\d+)", whole))
        why = "".join(self.explain_answer(f"watch-ans call {pid}")
                      for pid in list(wdone - wfound)[:3])
        t.check(PART, "every agent call answered exactly once, in its document",
                wdone == wfound,
                f"fake agent (watch) completed {sum(wdone.values())} calls, documents hold "
                f"{sum(wfound.values())}; missing {dict(wdone - wfound)}, extra "
                f"{dict(wfound - wdone)}{why}", n=max(1, sum(wdone.values())))
        repairs = [e for e in self.trace if e.get("event") == "repair"]
        t.note(f"torture: {len(repairs)} answer(s) restored after a stale editor save "
               f"(agent-doc trace: {len(self.trace)} writes traced, editor trace: "
               f"{len(self.editor_trace)} saves)")
        for e in repairs[:5]:  # the evidence: which save removed the answer, and how
            self.say(f"repair by pid {e.get('pid')} ({e.get('cmd')}) of "
                     f"{self.real.get(str(e.get('doc')), e.get('doc'))}: answer "
                     f"{str(e.get('answer'))!r}" + self.explain_answer(str(e.get("answer"))))
        self.say(f"agent calls: commands {len(done)} ({answered} answered runs), "
                 f"watch {sum(wdone.values())}")
        for r in self.records:
            if r.op not in ("write", "patch"):
                continue
            key = f"write-ans {r.uid}\n" if r.op == "write" else f"patch-entry {r.uid}\n"
            here = texts[r.doc].count(key)
            want = 1 if r.proc.returncode == 0 else here
            inv = ("every write response present once" if r.op == "write"
                   else "every patch entry present")
            t.check(PART, inv, here == want and here <= 1,
                    f"{r.op} {r.uid} on {r.doc}: found {here}x\n{r.proc.describe()}")

    def check_editor(self, texts: dict[str, str], ids_log: Path) -> None:
        for line in ids_log.read_text().splitlines():
            rel, eid, when = line.split("\t")
            n = texts[rel].count(f"user-edit {eid}\n")
            detail = f"{rel}: 'user-edit {eid}' (saved at {when}) found {n}x"
            if n != 1:  # which commands were writing this document around that save?
                t = float(when)
                near = [f"{r.op} {' '.join(r.proc.argv[3:])!r} ran {r.w0 - t:+.3f}s.."
                        f"{r.w1 - t:+.3f}s"
                        for r in self.records
                        if r.doc == rel and r.op in ("run", "write", "patch", "claim", "route")
                        and r.w0 - 0.05 <= t <= r.w1 + 0.05]
                detail += "; commands on it around the save: " + ("; ".join(near) or "none "
                                                                   "(watch daemon cycle?)")
                detail += self.explain_edit(rel, eid)
            self.tally.check(PART, "no user edit lost (editor ids, exactly once)", n == 1,
                             detail)

    # -- traces -------------------------------------------------------------------------
    def load_traces(self) -> None:
        self.trace = _jsonl(self.env.trace_path)
        self.editor_trace = _jsonl(self.env.editor_trace_path)
        self.real = {str((self.root / rel).resolve()): rel for rel in DOCS}

    def _event(self, e: dict[str, object], t0: float) -> str:
        rel = self.real.get(str(e.get("doc")), e.get("doc"))
        t = float(e["t"])  # type: ignore[arg-type]
        return (f"{e.get('event')} of {rel} by pid {e.get('pid')} ({e.get('cmd')}) at "
                f"{t - t0:+.3f}s: read {str(e.get('read'))[:12]}, wrote "
                f"{str(e.get('written'))[:12]}")

    @staticmethod
    def _save(s: dict, t0: float) -> str:  # type: ignore[type-arg]
        return (f"editor save {s['id']} ({s['how']}) of {s['doc']}: read {s['t_read'] - t0:+.3f}s "
                f"(sha {s['read'][:12]}), checked {s['t_check'] - t0:+.3f}s, saved "
                f"{s['t_save'] - t0:+.3f}..{s['t_done'] - t0:+.3f}s, wrote {s['written'][:12]}")

    def _saves_near(self, rel: str, t0: float, before: float, after: float) -> list[str]:
        return [self._save(s, t0) for s in self.editor_trace
                if s.get("doc") == rel and t0 - before <= s["t_done"] <= t0 + after]

    def explain_answer(self, key: str) -> str:
        """Where an answer (a text ``key`` of its response) went: its write-back, the editor
        saves that landed after it but were based on a read made before it, and the next
        agent-doc writes of that document (did they read what the write-back wrote?)."""
        wbs = [e for e in self.trace if e.get("event") == "write-back"
               and key in str(e.get("answer", ""))]
        if not wbs:
            return f"\n  trace: no write-back of {key!r} (the answer never reached the document)"
        lines = []
        for wb in wbs:
            t0, doc, written = float(wb["t"]), wb["doc"], wb["written"]
            rel = str(self.real.get(str(doc), doc))
            lines.append(f"  trace (times relative to the write-back, t0={t0:.3f}): "
                         + self._event(wb, t0))
            for s in self.editor_trace:
                if s.get("doc") == rel and s["t_read"] < t0 <= s["t_done"] + 0.005:
                    lines.append("    STALE (read before the write-back, saved after it): "
                                 + self._save(s, t0))
            later = sorted((e for e in self.trace if e.get("doc") == doc
                            and float(e["t"]) > t0), key=lambda e: float(e["t"]))[:3]
            for e in later:
                lines.append("    next: " + self._event(e, t0) + (
                    " (= what the write-back wrote)" if e.get("read") == written else ""))
            lines += ["    " + x for x in self._saves_near(rel, t0, 0.5, 1.0)][:8]
        return "\n" + "\n".join(lines)

    def explain_edit(self, rel: str, eid: str) -> str:
        """A lost editor line: its save, and agent-doc's writes of that document right after
        it (each one's read sha: did it read what the editor wrote?)."""
        saves = [s for s in self.editor_trace if s.get("id") == eid]
        if not saves:
            return "\n  trace: no save of it in the editor trace"
        s = saves[0]
        t0 = float(s["t_done"])
        real = str((self.root / rel).resolve())
        lines = ["  trace (t0 = the save): " + self._save(s, t0)]
        for e in sorted((e for e in self.trace if e.get("doc") == real
                         and t0 - 0.5 <= float(e["t"]) <= t0 + 2.0), key=lambda e: float(e["t"])):
            lines.append("    " + self._event(e, t0) + (
                " (read the save)" if e.get("read") == s["written"] else ""))
        return "\n" + "\n".join(lines[:10])

    def check_routing(self) -> None:
        t = self.tally
        time.sleep(0.5)
        valid = {f"/agent-doc {rel}\n".encode() for rel in DOCS}
        sent: Counter[str] = Counter()
        for r in self.records:
            if r.op != "route" or r.proc.returncode != 0:
                continue
            info = r.proc.json() or {}
            ok = info.get("action") == "sent" and info.get("pane") in self.panes
            t.check(PART, "route sends to a live claimed pane", ok, r.proc.describe())
            if ok:
                sent[str(info["pane"])] += 1
        for pane, log in self.panes.items():
            lines = log.read_bytes().splitlines(keepends=True)
            bad = [ln for ln in lines if ln not in valid]
            t.check(PART, "routed lines arrive intact, once each", not bad and
                    len(lines) == sent[pane],
                    f"pane {pane}: received {len(lines)} lines, routed {sent[pane]}; "
                    f"malformed {bad[:3]}", n=max(1, len(lines)))

    def check_claims(self) -> None:
        t = self.tally
        for r in self.records:
            if r.op == "resync" and r.proc.returncode == 0:
                removed = (r.proc.json() or {}).get("removed")
                t.check(PART, "resync removes nothing while panes live", removed == [],
                        r.proc.describe())
        try:
            reg = json.loads((self.root / ".agent-doc" / "sessions.json").read_text())
        except (OSError, ValueError) as exc:
            t.check(PART, "every claim not pruned is present", False, f"registry: {exc}")
            return
        for rel in DOCS:
            claims = [r for r in self.records
                      if r.op == "claim" and r.doc == rel and r.proc.returncode == 0]
            if not claims:
                continue
            last_start = max(c.t0 for c in claims)
            ok_panes = {c.extra["pane"] for c in claims if c.t1 >= last_start}
            entry = reg.get(self.sessions[rel])
            ok = isinstance(entry, dict) and entry.get("pane") in ok_panes
            t.check(PART, "every claim not pruned is present", ok,
                    f"{rel}: registry entry {entry}, acceptable panes {sorted(ok_panes)}",
                    n=len(claims))


def _jsonl(path: Path) -> list[dict[str, object]]:
    """The JSON lines of a trace file (a torn last line is skipped)."""
    out = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _done_pids(log: Path) -> list[int]:
    done = Path(str(log) + ".done")
    if not done.exists():
        return []
    return [json.loads(line)["pid"] for line in done.read_text().splitlines() if line.strip()]


def run(tally: Tally, *, minutes: float, procs: int, seed: int, keep: bool = False,
        editor: str = "mixed") -> None:
    Torture(tally, minutes=minutes, procs=procs, seed=seed, keep=keep, editor=editor).run()


def _as_uuid(text: str) -> str:
    """A conversation id (Claude Code's are UUIDs; `run` refuses any other `resume`)."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, text))
