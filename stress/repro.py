"""Minimal reproductions of the stress suite's findings, one command each.

    python -m stress.repro truncate CMD ARGS...   # an editor's in-place save is in progress
    python -m stress.repro race N CMD ARGS...     # an editor saving by rename, CMD run N times

``truncate``: the document is opened with ``O_TRUNC`` (an editor saving in place has emptied
it and not yet written it), CMD runs to completion, then the "editor" writes the document back
plus one line. Prints whether the user's text survived. Expected: it does (the command waits
for the save to finish, or refuses to write); a command that replaces the file meanwhile sends
the editor's bytes into the replaced inode, and the whole document is lost.

``race``: a thread saves the document by rename (write a sibling, re-check that the file did
not change since it was read, rename) in a tight loop, appending ``user-edit <i>``, while CMD
runs N times; prints how many of the editor's lines are missing at the end. Expected: 0.

In both, ``{k}`` in an argument is replaced by the run number; the document is ``doc.md`` in a
fresh project with a ``log`` component (``components.toml``: append mode); stdin of CMD is
``answer``. The fake ``claude`` (tests/fakes/claude) is put first on PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

from stress.common import Env


def _project(env: Env) -> tuple[str, str, bytes]:
    root = str(env.base / "proj")
    os.makedirs(f"{root}/.agent-doc")
    with open(f"{root}/.agent-doc/components.toml", "w") as fh:
        fh.write('[log]\nmode = "append"\n')
    doc = f"{root}/doc.md"
    text = (f"---\nagent_doc_session: {uuid.uuid4()}\nagent: claude\n---\n\n# Session: t\n\n"
            "<!-- agent:log -->\n<!-- /agent:log -->\n\n## User\n\nmy long question\n").encode()
    with open(doc, "wb") as fh:
        fh.write(text)
    return root, doc, text


def _run(env: Env, root: str, cmd: list[str], k: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent_doc",
                           *[c.replace("{k}", str(k)) for c in cmd]], cwd=root, env=env.env,
                          capture_output=True, text=True, input="answer\n")


def truncate(cmd: list[str]) -> int:
    env = Env("repro")
    try:
        root, doc, original = _project(env)
        fd = os.open(doc, os.O_WRONLY | os.O_TRUNC)  # the editor starts its in-place save
        p = _run(env, root, cmd)
        os.write(fd, original + b"a line typed by the user\n")  # ... and finishes it
        os.close(fd)
        with open(doc, "rb") as fh:
            final = fh.read()
        kept = b"my long question" in final and b"a line typed by the user" in final
        print(f"$ agent-doc {' '.join(cmd)}  -> exit {p.returncode}")
        print(f"  stderr: {p.stderr.strip()[-400:]!r}")
        print(f"  user's text kept: {kept}")
        print(f"  document now: {final[:300]!r}")
        return 0 if kept else 1
    finally:
        env.close()


def race(n: int, cmd: list[str]) -> int:
    env = Env("repro")
    try:
        root, doc, _ = _project(env)
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
                time.sleep(0.002)

        th = threading.Thread(target=editor)
        th.start()
        codes = [_run(env, root, cmd, k).returncode for k in range(n)]
        stop.set()
        th.join()
        with open(doc) as fh:
            text = fh.read()
        lost = [i for i in saved if f"user-edit {i}\n" not in text]
        print(f"$ agent-doc {' '.join(cmd)}  x{n} (exit codes {sorted(set(codes))}): editor "
              f"saved {len(saved)} lines, lost {len(lost)}: {lost[:12]}")
        return 1 if lost else 0
    finally:
        env.close()


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in ("truncate", "race"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "truncate":
        return truncate(sys.argv[2:])
    return race(int(sys.argv[2]), sys.argv[3:])


if __name__ == "__main__":
    sys.exit(main())
