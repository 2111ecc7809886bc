"""streaming: answers streamed into documents (issue 16) under editor saves, SIGKILL and Ctrl-C.

Every trial is a real ``python -m agent_doc run`` of one document with the fake streaming agent
(``tests/fakes/stream_agent.py``, a trusted ``text``-protocol agent: a seeded answer printed
line by line) with a random number of chunks and random pauses between them. Trials, at random:

* ``editor`` — the stand-in editor process (``tests/fakes/stream_editor.py``) saves every
  20–100 ms, in place or by rename, a line above and a line below the answer, and the reader
  process (``tests/fakes/stream_reader.py``) parses the file throughout;
* ``sigkill`` — ``run`` is SIGKILLed at a random point (before, during or after the stream), the
  user saves before and after, then ``diff`` and ``recover`` run;
* ``ctrl-c`` — SIGINT to ``run``'s process group (what a terminal's Ctrl-C does) at a random
  point; the user saves meanwhile.

Invariants (one row each): ``run`` exits as it should (0; 130 after Ctrl-C; 0 or killed);
every read of the reader parses (UTF-8, frontmatter, at most one marker, only the answer's
first lines); the answer was seen growing on disk; the settled document holds every user line
once, no boundary marker, no conflict, and either the whole answer once or its first lines
followed by the interrupted note (a completed run: byte-identical to the document built by
hand from the user's edits and the answer); ``diff`` never shows answer text as the user's
(before and after ``recover``); no journal is left once settled; the agent is stopped when
``run`` dies; no temporary file is left by a run that was not killed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from stress.common import FAKES, Env, Tally, new_uuid, temp_files

if str(FAKES) not in sys.path:
    sys.path.insert(0, str(FAKES))

import stream_kit as kit  # tests/fakes: shared with the tests and bench
from stream_editor import save_once

PART = "streaming"
KINDS = {"editor": 2, "sigkill": 3, "ctrl-c": 2}


class Streaming:
    def __init__(self, tally: Tally, *, trials: int, workers: int, seed: int,
                 keep: bool = False) -> None:
        self.tally, self.trials, self.workers, self.seed = tally, trials, workers, seed
        self.keep = keep
        self.outcomes: Counter[str] = Counter()
        self.lock = threading.Lock()

    def check(self, invariant: str, ok: bool, detail: str = "", n: int = 1) -> bool:
        return self.tally.check(PART, invariant, ok, detail, n=n)

    def run(self) -> None:
        self.env = Env("streaming", keep=self.keep)
        try:
            self.root = self.env.base / "proj"
            kit.setup_project(self.root, self.env.env)
            self.scratch = self.env.base / "scratch"
            self.scratch.mkdir()
            rng = random.Random(self.seed)
            plan = [(i, rng.choices(list(KINDS), weights=list(KINDS.values()))[0],
                     rng.randrange(1 << 30)) for i in range(self.trials)]
            todo = list(plan)

            def worker() -> None:
                while True:
                    with self.lock:
                        if not todo:
                            return
                        n, kind, s = todo.pop(0)
                    try:
                        getattr(self, "trial_" + kind.replace("-", "_"))(n, random.Random(s))
                    except Exception as exc:  # a harness failure must show, not vanish
                        self.check("harness ran without error", False,
                                   f"trial {n} ({kind}): {exc!r}")

            threads = [threading.Thread(target=worker, daemon=True)
                       for _ in range(max(1, self.workers))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.tally.note("streaming: " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.outcomes.items())))
        finally:
            self.env.close()

    # -- helpers --------------------------------------------------------------------------
    def _doc(self, n: int, rng: random.Random) -> tuple[Path, str]:
        doc = self.root / f"s{n}.md"
        sent = kit.doc_text(new_uuid(rng), f"Stream {n}", crlf=rng.random() < 0.1)
        doc.write_bytes(sent.encode())
        return doc, sent

    def _agent_env(self, n: int, rng: random.Random, chunks: int) -> dict[str, str]:
        pause = rng.choice([0.0, 0.002, 0.01, 0.03])
        return {"STREAM_SEED": str(10_000 + n), "STREAM_CHUNKS": str(chunks),
                "STREAM_WORDS": str(rng.randint(1, 12)), "STREAM_PAUSE": str(pause),
                "STREAM_PAUSE_MAX": str(pause + rng.choice([0.0, 0.02, 0.08])),
                "STREAM_NO_FINAL_NL": "1" if rng.random() < 0.3 else "0",
                "STREAM_STARTED": str(self.scratch / f"s{n}.started")}

    def _answer(self, env: dict[str, str]) -> str:
        return kit.answer_text(int(env["STREAM_SEED"]), int(env["STREAM_CHUNKS"]),
                               int(env["STREAM_WORDS"]))

    def _run(self, doc: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return self.env.popen(["run", "--no-git", str(doc)], cwd=self.root, env=env)

    def _wait_started(self, path: Path, proc: subprocess.Popen[bytes]) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                text = path.read_text()
                return int(text.split()[1])
            except (FileNotFoundError, IndexError):
                pass
            if proc.poll() is not None:
                return 0
            time.sleep(0.002)
        return 0

    def _stopped(self, pid: int, what: str, n: int) -> None:
        deadline = time.monotonic() + 5
        alive = True
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    alive = fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
            except FileNotFoundError:
                alive = False
            if not alive:
                break
            time.sleep(0.01)
        self.check("the agent is stopped when run dies", not alive,
                   f"trial {n}: agent pid {pid} still runs 5 s after {what}")
        if alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _diff_clean(self, doc: Path, answer: str, n: int, when: str) -> None:
        d = self.env.cli("diff", str(doc), cwd=self.root)
        shown = kit.answer_in(d.stdout, answer.split("\n"))
        self.check("diff never shows answer text as the user's",
                   d.returncode == 0 and not shown,
                   f"trial {n}, {when}: {shown[:3]}\n{d.describe()}")

    def _settled(self, doc: Path, answer: str, users: list[str], n: int, what: str) -> str:
        text = doc.read_bytes().decode("utf-8", "replace")
        s = kit.Settled(text, answer.split("\n"), users)
        users_bad = [v for v in s.violations if v.startswith("user line")]
        other = [v for v in s.violations if not v.startswith("user line")]
        self.check("no user edit lost (each user line once)", not users_bad,
                   f"trial {n} ({what}): {users_bad}\n{text}")
        self.check("settled: no marker, the answer once or its start + interrupted note",
                   not other, f"trial {n} ({what}): {other}\n{text}")
        self.check("no journal left once settled", not kit_pending(doc).exists(),
                   f"trial {n} ({what}): {kit_pending(doc)}")
        with self.lock:
            self.outcomes[f"{what} -> {s.kind}"] += 1
        return text

    # -- trials ---------------------------------------------------------------------------
    def trial_editor(self, n: int, rng: random.Random) -> None:
        doc, sent = self._doc(n, rng)
        env = self._agent_env(n, rng, rng.randint(20, 120))
        env["STREAM_FIRST_DELAY"] = "0.3"
        answer = self._answer(env)
        tmp = self.scratch / f"e{n}"
        tmp.mkdir()
        (tmp / "answer").write_text(answer)
        (tmp / "seq").write_bytes(b"\0" * 8)
        stop = tmp / "stop"
        py = sys.executable
        reader = self.env.popen([py, str(kit.READER), str(doc), str(tmp / "reader.json"),
                                 str(tmp / "seq"), str(stop), str(tmp / "answer"), "user",
                                 "lines"], cwd=self.root, prog=None, log=tmp / "reader.log")
        run = self._run(doc, env)
        editor = None
        try:
            if self._wait_started(self.scratch / f"s{n}.started", run):
                mode = rng.choice(["alternate", "inplace", "rename"])
                editor = self.env.popen(
                    [py, str(kit.EDITOR), str(doc), str(tmp / "editor.jsonl"), str(tmp / "seq"),
                     str(stop), f"{rng.uniform(0.02, 0.1):.3f}", mode], cwd=self.root,
                    prog=None, log=tmp / "editor.log")
            try:
                out, err = run.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                run.kill()
                out, err = run.communicate()
        finally:
            stop.touch()
            for p in (editor, reader):
                if p is not None:
                    p.wait(timeout=60)
        said = (out + err).decode("utf-8", "replace")[-1500:]
        self.check("run exits 0 (130 after Ctrl-C)", run.returncode == 0,
                   f"trial {n} (editor): rc {run.returncode}: {said}")
        try:
            rd = json.loads((tmp / "reader.json").read_text())
        except (OSError, ValueError) as exc:
            self.check("every read while streaming parses (reader)", False,
                       f"trial {n}: reader: {exc}")
            return
        self.check("every read while streaming parses (reader)", rd["n_failures"] == 0,
                   f"trial {n}: " + "\n".join(f[:1200] for f in rd["failures"][:3]),
                   n=max(1, rd["reads"]))
        saves = kit.read_jsonl(tmp / "editor.jsonl")
        users = [str(s[k]) for s in saves for k in ("above", "below")]
        text = self._settled(doc, answer, users, n, "editor")
        missing = [u for u in rd["user_lines"] if u not in text]
        self.check("no user edit lost (each user line once)", not missing,
                   f"trial {n}: the reader saw {missing[:3]}, gone at the end")
        expected = kit.expected_document(sent, kit.replay(sent, saves), answer)
        self.check("completed run: document = the one built by hand (byte-identical)",
                   text == expected, f"trial {n}:\n--- got\n{text}\n--- expected\n{expected}")
        tmps = [t for t in temp_files(self.root) if f"/.s{n}.md." in t]
        self.check("no temp file left by a run not killed", not tmps, f"trial {n}: {tmps}")
        self._diff_clean(doc, answer, n, "after the run")
        if int(env["STREAM_CHUNKS"]) >= 60 and float(env["STREAM_PAUSE"]) >= 0.01:
            self.check("the answer was seen growing on disk", rd["states"] > 2,
                       f"trial {n}: {rd['states']} answer lengths seen over "
                       f"{env['STREAM_CHUNKS']} chunks")

    def trial_sigkill(self, n: int, rng: random.Random) -> None:
        self._interrupt(n, rng, signal.SIGKILL)

    def trial_ctrl_c(self, n: int, rng: random.Random) -> None:
        self._interrupt(n, rng, signal.SIGINT)

    def _interrupt(self, n: int, rng: random.Random, sig: int) -> None:
        what = "sigkill" if sig == signal.SIGKILL else "ctrl-c"
        doc, _sent = self._doc(n, rng)
        env = self._agent_env(n, rng, rng.randint(2, 30))
        answer = self._answer(env)
        run = self._run(doc, env)
        users: list[str] = []
        pid = 0
        if rng.random() < 0.1:
            time.sleep(rng.uniform(0, 0.3))
        else:
            pid = self._wait_started(self.scratch / f"s{n}.started", run)
            span = int(env["STREAM_CHUNKS"]) * float(env["STREAM_PAUSE_MAX"]) + 0.05
            time.sleep(rng.uniform(0, span))
            if rng.random() < 0.5:
                save_once(str(doc), "user-above-0", "user-below-0",
                          in_place=rng.random() < 0.5)
                users += ["user-above-0", "user-below-0"]
        if sig == signal.SIGKILL:
            os.kill(run.pid, sig)
        else:
            os.killpg(run.pid, sig)  # the terminal's Ctrl-C: the whole foreground group
        try:
            out, err = run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            out, err = run.communicate()
        said = (out + err).decode("utf-8", "replace")[-1500:]
        ok_rc = (0, -9) if sig == signal.SIGKILL else (0, 130)
        self.check("run exits 0 (130 after Ctrl-C)", run.returncode in ok_rc,
                   f"trial {n} ({what}): rc {run.returncode}: {said}")
        if not pid:
            started = self.scratch / f"s{n}.started"
            pid = int(started.read_text().split()[1]) if started.exists() else 0
        if pid:
            self._stopped(pid, what, n)
        save_once(str(doc), "user-above-1", "user-below-1", in_place=rng.random() < 0.5)
        users += ["user-above-1", "user-below-1"]
        self._diff_clean(doc, answer, n, f"after {what}, before recover")
        r = self.env.cli("recover", str(doc), cwd=self.root)
        self.check("recover exits 0", r.returncode == 0, f"trial {n}: {r.describe()}")
        self._settled(doc, answer, users, n, what)
        self._diff_clean(doc, answer, n, "after recover")


def kit_pending(doc: Path) -> Path:
    from agent_doc.project import Project

    return Path(Project.for_document(doc).pending_path(doc))


def run(tally: Tally, *, trials: int, workers: int, seed: int, keep: bool = False) -> None:
    Streaming(tally, trials=trials, workers=workers, seed=seed, keep=keep).run()
