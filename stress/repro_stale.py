"""Stale editor saves over write-backs, provoked on purpose (issue 17), one command.

    python -m stress.repro_stale N [CMD [PAUSE_MS]]   # CMD: write (default) or run

A thread saves ``doc.md`` the way careful editors do, in a tight loop: read the file, append
``user-edit <i>``, write a sibling file, re-check that the document did not change since it was
read, rename the sibling over it (the check-then-rename window of every such editor), then pauses
PAUSE_MS (default 2; the torture's editor pauses 30-150 ms between saves). Meanwhile
``agent-doc CMD doc.md`` runs N times, each with its own answer (``write``: on stdin; ``run``:
from the fake ``claude``). A write-back that lands between the editor's check and its rename is
overwritten by a save made from a version without the answer. At the end it prints how many
answers and editor lines are in the document, how many answers agent-doc restored (its
``AGENT_DOC_TRACE`` repairs) and — for any answer still missing — the writes around it.
Exit 1 if an answer or an editor line is missing.

Before the repair (``src/agent_doc/repair.py``) the lost answers simply stayed lost; now each one
is put back by the next command's check. The last answer has no next command: a final
``agent-doc diff doc.md`` plays that part (the watch daemon would, at the change event).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from stress.common import Env


def main() -> int:
    if len(sys.argv) < 2 or not sys.argv[1].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    n = int(sys.argv[1])
    cmd = sys.argv[2] if len(sys.argv) > 2 else "write"
    pause = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.002
    env = Env("repro-stale")
    try:
        root = str(env.base / "proj")
        os.makedirs(f"{root}/.agent-doc")
        doc = f"{root}/doc.md"
        with open(doc, "w") as fh:
            fh.write(f"---\nagent_doc_session: {uuid.uuid4()}\nagent: claude\n---\n\n"
                     "# Session: t\n\n## User\n\nmy question\n")
        stop = threading.Event()
        saved: list[int] = []

        def editor() -> None:
            i = 0
            while not stop.is_set():
                with open(doc, "rb") as fh:
                    before = fh.read()
                tmp = os.path.join(root, ".doc.md.swx")
                with open(tmp, "wb") as fh:
                    fh.write(before + f"user-edit {i}\n".encode())
                with open(doc, "rb") as fh:
                    if fh.read() != before:
                        continue  # changed on disk since read: redo the edit
                os.rename(tmp, doc)
                saved.append(i)
                i += 1
                time.sleep(pause)

        th = threading.Thread(target=editor)
        th.start()
        codes = []
        errors: list[str] = []
        t0 = time.monotonic()
        for k in range(n):
            extra = {"FAKE_CLAUDE_RESULT": f"answer {k} of the repro"}
            argv = [sys.executable, "-m", "agent_doc", cmd, "--no-git" if cmd == "run" else "",
                    "doc.md"]
            p = subprocess.run([a for a in argv if a], cwd=root, env={**env.env, **extra},
                               capture_output=True, text=True, input=f"answer {k} of the repro\n")
            codes.append(p.returncode)
            if p.returncode or "warning" in p.stderr:
                errors.append(f"{cmd} {k} (exit {p.returncode}): "
                              f"{p.stderr.strip().splitlines()[-2:]}")
        stop.set()
        th.join()
        final = subprocess.run([sys.executable, "-m", "agent_doc", "diff", "doc.md"], cwd=root,
                               env=env.env, capture_output=True, text=True)
        seconds = time.monotonic() - t0
        with open(doc) as fh:
            text = fh.read()
        aside = "".join(Path(root, n).read_text() for n in os.listdir(root)
                        if n.startswith("doc.md.agent-doc-saved-"))
        lost_lines = [i for i in saved if f"user-edit {i}\n" not in text]
        kept_aside = [i for i in lost_lines if f"user-edit {i}\n" in aside]
        lost_lines = [i for i in lost_lines if i not in kept_aside]
        missing = [k for k in range(n) if codes[k] == 0
                   and f"answer {k} of the repro\n" not in text]
        doubled = [k for k in range(n) if text.count(f"answer {k} of the repro\n") > 1]
        trace = []
        if env.trace_path.exists():
            for line in env.trace_path.read_text().splitlines():
                try:
                    trace.append(json.loads(line))
                except ValueError:
                    pass
        repairs = [e for e in trace if e.get("event") == "repair"]
        for k in missing[:5]:  # what agent-doc saw of each lost answer
            key = f"answer {k} of the repro"
            for e in trace:
                if key in str(e.get("answer", "")):
                    print(f"  answer {k}: {e.get('event')} by pid {e.get('pid')} "
                          f"({e.get('cmd')}): read {str(e.get('read'))[:12]} wrote "
                          f"{str(e.get('written'))[:12]} {e.get('why') or ''}")
        for line in errors[:5]:
            print("  " + line)
        print(f"$ agent-doc {cmd} doc.md x{n} in {seconds:.0f}s ({sum(1 for c in codes if c)} "
              f"failed) while an editor saved {len(saved)} times by "
              f"check-then-rename: answers restored {len(repairs)}, answers missing "
              f"{len(missing)} {missing[:10]}, answers twice {len(doubled)}, editor lines "
              f"lost {len(lost_lines)} {lost_lines[:10]} (and {len(kept_aside)} only in the "
              f"versions a failed write-back saved aside); final diff stderr: "
              f"{final.stderr.strip()[-200:]!r}")
        bad = bool(missing or doubled or lost_lines)
        if bad:
            env.kept_for = "repro_stale: something missing"
        return 1 if bad else 0
    finally:
        env.close()


if __name__ == "__main__":
    sys.exit(main())
