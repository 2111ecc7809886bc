"""The "editor" of the torture part: saves documents the way editors do, without any lock.

Run as ``python -m stress.editor ROOT IDS_LOG SEED DEADLINE MODE DOC...`` (MODE: ``mixed``,
``rename`` or ``inplace``). Until DEADLINE (epoch
seconds) it picks a document, appends one line ``user-edit <id>`` and saves it either **in
place** (truncate + write, like ``:w`` with ``backupcopy=yes``; 30% of them in 4 KiB blocks
1 ms apart, like a large file on a slow disk) or **by rename** (write a
sibling file, then ``rename`` over the document, like most IDEs' "safe write"). Like an editor
that reloads files changed on disk, it re-reads the file just before saving and starts over if
it changed since it was read (a rename save writes its sibling file first, so only the rename
follows the check). Each id is logged (``DOC<TAB>ID<TAB>TIME``) to IDS_LOG after its save
completed, so the suite can check that every logged id is still in its document at the end.

With ``STRESS_EDITOR_TRACE`` set to a file, every save also appends one JSON line there: the
document, the id, how it was saved, the times of the read its edit was based on, of the
last check and of the save, and the sha256 of what it read and of what it wrote — so a lost
answer can be traced to the one save that was based on a version without it (the suite
compares these with agent-doc's own trace, ``AGENT_DOC_TRACE``).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def save_in_place(path: str, data: bytes, slow: bool) -> None:
    """Truncate and rewrite; ``slow`` writes 4 KiB blocks with a 1 ms pause between them, as
    an editor saving a large file to a slow disk does (vim writes 8 KiB blocks)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[:4096] if slow else view):]
            if slow and view:
                time.sleep(0.001)
    finally:
        os.close(fd)


def prepare_rename(path: str, data: bytes) -> str:
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.swx")
    with open(tmp, "wb") as fh:
        fh.write(data)
    return tmp


def _trace(path: str | None, **fields: object) -> None:
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(fields) + "\n").encode())
    finally:
        os.close(fd)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    root, ids_log, seed, deadline = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    mode = sys.argv[5]
    docs = sys.argv[6:]
    p_inplace = {"mixed": 0.5, "rename": 0.0, "inplace": 1.0}[mode]
    rng = random.Random(seed)
    trace = os.environ.get("STRESS_EDITOR_TRACE")
    n = 0
    retries = 0
    while time.time() < deadline:
        time.sleep(rng.uniform(0.03, 0.15))
        rel = rng.choice(docs)
        path = os.path.join(root, rel)
        eid = f"e{seed}-{n}"
        for _attempt in range(50):
            t_read = time.time()
            before = _read(path)
            if before is None:
                break
            sep = b"" if before.endswith(b"\n") or not before else b"\n"
            new = before + sep + f"user-edit {eid}\n".encode()
            time.sleep(rng.uniform(0, 0.01))  # "typing"
            in_place = rng.random() < p_inplace
            tmp = None if in_place else prepare_rename(path, new)
            t_check = time.time()
            if _read(path) != before:  # changed on disk: reload and redo the edit
                retries += 1
                continue
            t_save = time.time()
            slow = tmp is None and rng.random() < 0.3
            if tmp is None:
                save_in_place(path, new, slow=slow)
            else:
                os.rename(tmp, path)
            _trace(trace, doc=rel, id=eid, how="inplace-slow" if slow else
                   "inplace" if tmp is None else "rename", t_read=t_read, t_check=t_check,
                   t_save=t_save, t_done=time.time(), read=_sha(before), written=_sha(new))
            with open(ids_log, "a") as fh:
                fh.write(f"{rel}\t{eid}\t{time.time():.6f}\n")
            n += 1
            break
    print(f"{n} {retries}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
