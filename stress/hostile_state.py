"""hostile_state: symlinks, FIFOs and foreign files under ``.agent-doc/`` or as the document;
modes of copies of a document (issue 11, items 2, 6, 8).

Each case builds a project as a hostile clone could ship it (committed links under
``.agent-doc/`` pointing at a victim outside the project, ``.agent-doc`` itself a link) or as a
confused machine could leave it (FIFOs where files should be), runs the real CLI as a user
would, and reports what broke: a victim file outside the project changed, a command hung (a
timeout that no working command comes near), a traceback, an error that does not name the
file; or a copy of a private document readable by others.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from stress.common import Env, Proc, new_uuid
from stress.hostile import Case

#: a command that has not answered after this long is hung (they take well under 2 s)
HANG = 30.0

DOC = (
    "---\nagent_doc_session: {sid}\nagent: offline\n---\n\n# Session: hostile\n\n"
    "<!-- agent:log -->\n<!-- /agent:log -->\n\n## User\n\nQuestion one?\n"
)
VICTIM = b"a file outside the project that agent-doc must never touch\n" * 4


def _project(base: Path, rng: random.Random) -> tuple[Path, Path, Path, str]:
    """(project, document, outside folder, document hash) — ``.agent-doc`` with its folders."""
    root = base / "proj"
    for sub in ("snapshots", "locks", "pending"):
        (root / ".agent-doc" / sub).mkdir(parents=True)
    outside = base / "outside"
    outside.mkdir()
    doc = root / "notes.md"
    doc.write_text(DOC.format(sid=new_uuid(rng)))
    from agent_doc.project import Project

    h = os.path.basename(Project.for_document(doc).snapshot_path(doc))[: -len(".md")]
    return root, doc, outside, h


def _tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    out: dict[str, tuple[bytes, int]] = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
            out[str(p.relative_to(folder))] = (data, os.lstat(p).st_mode)
    return out


def _commands(doc: Path) -> list[tuple[list[str], str | None]]:
    d = str(doc)
    return [
        (["diff", d], None),
        (["run", d, "--agent", "offline", "--no-git"], None),
        (["patch", d, "log", "an entry"], None),
        (["write", d], "A written answer.\n"),
        (["reset", d], None),
        (["recover", d], None),
        (["outline", d], None),
        (["resync"], None),
        (["status"], None),
        (["claims"], None),
        (["watch", "--status"], None),
    ]


def _judge(p: Proc, name: str, what: str) -> str | None:
    """A problem with one command's outcome, or None: it must answer, with no traceback, and
    a failure must name ``name`` and say it is ``what``."""
    cmd = " ".join(p.argv[1:3])
    if p.returncode == -999:
        return f"`{cmd}` hung ({what} {name})"
    if "Traceback" in p.stderr:
        return f"`{cmd}` crashed:\n{p.stderr[-600:]}"
    if p.returncode != 0 and not (name in p.stderr and what in p.stderr):
        return f"`{cmd}` failed without naming {name} as {what}: {p.stderr[-400:]!r}"
    return None


STATE_FILES = [
    "sessions.json", "sessions.json.lock", "claims.log", "watch.pid", "snapshots/{h}.md",
    "snapshots/{h}.md.lock", "locks/{h}.lock", "locks/{h}.submit.lock", "locks/watch.lock",
    "pending/{h}.json",
]
STATE_FOLDERS = {
    "snapshots": ["{h}.md", "{h}.md.lock"],
    "locks": ["{h}.lock", "{h}.submit.lock", "watch.lock"],
    "pending": ["{h}.json"],
    "": ["sessions.json", "sessions.json.lock", "claims.log", "watch.pid"],  # .agent-doc
}


def _links(env: Env, rng: random.Random, *, folder: bool) -> list[str]:
    root, doc, outside, h = _project(env.base, rng)
    state = root / ".agent-doc"
    if folder:
        sub = rng.choice(sorted(STATE_FOLDERS))
        for name in STATE_FOLDERS[sub]:
            (outside / name.format(h=h)).write_bytes(VICTIM)
        link = state / sub if sub else state
        if sub:
            (state / sub).rmdir()
        else:
            for s in ("snapshots", "locks", "pending"):
                (state / s).rmdir()
            state.rmdir()
        link.symlink_to(outside, target_is_directory=True)
    else:
        (outside / "victim").write_bytes(VICTIM)
        link = state / rng.choice(STATE_FILES).format(h=h)
        link.symlink_to(outside / "victim")
    before = _tree(outside)
    problems: list[str] = []
    pane = env.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-P", "-F",
                    "#{pane_id}")
    commands = [*_commands(doc), (["route", str(doc), "--pane", pane], None),
                (["claim", str(doc), "--pane", pane], None)]
    rng.shuffle(commands)
    daemon_at = rng.randrange(len(commands) + 1)
    for i, (args, stdin) in enumerate([*commands, (["<watch>"], None)]):
        if args == ["<watch>"] or i == daemon_at:
            problems += _watch_start_stop(env, root, doc, str(link))
            if args == ["<watch>"]:
                break
        p = env.cli(*args, cwd=root, input=stdin, timeout=HANG)
        bad = _judge(p, str(link), "a symbolic link")
        if bad:
            problems.append(f"[{link.name}] {bad}")
        if _tree(outside) != before:
            problems.append(f"[{link.name}] `{' '.join(args[:1])}` changed a file outside the "
                            f"project through {link}")
            before = _tree(outside)
    return problems


def _watch_start_stop(env: Env, root: Path, doc: Path, name: str) -> list[str]:
    log = env.base / "watch.log"
    p = env.popen(["watch", str(doc), "--agent", "offline"], cwd=root, log=log)
    problems: list[str] = []
    try:
        deadline = time.monotonic() + HANG
        while p.poll() is None and time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "Watching" in text:
                break
            time.sleep(0.05)
        stop = env.cli("watch", "--stop", cwd=root, timeout=HANG)
        bad = _judge(stop, name, "a symbolic link")
        if bad:
            problems.append(bad)
        try:
            p.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            problems.append(f"the watch daemon did not stop:\n{log.read_text()[-600:]}")
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            problems.append(f"the watch daemon crashed:\n{text[-600:]}")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return problems


def case_state_file_links(env: Env, rng: random.Random) -> list[str]:
    return _links(env, rng, folder=False)


def case_state_folder_links(env: Env, rng: random.Random) -> list[str]:
    return _links(env, rng, folder=True)


def case_fifo_document(env: Env, rng: random.Random) -> list[str]:
    root, doc, _outside, _h = _project(env.base, rng)
    doc.unlink()
    if rng.random() < 0.5:
        os.mkfifo(doc)
    else:
        os.mkfifo(env.base / "pipe")
        doc.symlink_to(env.base / "pipe")
    problems: list[str] = []
    for args, stdin in [*_commands(doc)[:7], (["route", str(doc)], None)]:
        p = env.cli(*args, cwd=root, input=stdin, timeout=HANG)
        bad = _judge(p, str(doc), "FIFO")
        if bad:
            problems.append(bad)
        elif p.returncode == 0 and args[0] not in ("recover", "resync", "status", "claims"):
            problems.append(f"`{args[0]}` accepted a FIFO as the document")
    return problems


STATE_FIFOS = [
    ("snapshots/{h}.md", ["diff", "{d}"]),
    ("pending/{h}.json", ["recover", "{d}"]),
    ("pending/{h}.json", ["status"]),
    ("sessions.json", ["route", "{d}"]),
    ("watch.pid", ["watch", "--status"]),
    ("locks/{h}.lock", ["status"]),
    ("claims.log", ["claims"]),
    ("config.toml", ["run", "{d}", "--agent", "offline", "--no-git"]),
    ("components.toml", ["patch", "{d}", "log", "entry"]),
]


def case_fifo_state(env: Env, rng: random.Random) -> list[str]:
    problems: list[str] = []
    for place, args in rng.sample(STATE_FIFOS, 4):
        sub = env.base / f"w{rng.randrange(10**9)}"
        sub.mkdir()
        root, doc, _outside, h = _project(sub, rng)
        fifo = root / ".agent-doc" / place.format(h=h)
        os.mkfifo(fifo)
        p = env.cli(*(a.format(d=str(doc)) for a in args), cwd=root, timeout=HANG)
        bad = _judge(p, str(fifo), "FIFO")
        if bad:
            problems.append(f"[{place}] {bad}")
    return problems


def case_watch_with_a_fifo(env: Env, rng: random.Random) -> list[str]:
    root, doc, _outside, _h = _project(env.base, rng)
    fifo = root / "pipe.md"
    os.mkfifo(fifo)
    log = env.base / "watch.log"
    p = env.popen(["watch", str(fifo), str(doc), "--agent", "offline", "--debounce", "50"],
                  cwd=root, log=log)
    problems: list[str] = []
    try:
        deadline = time.monotonic() + HANG
        while "Watching 2" not in log.read_text(errors="replace"):
            if p.poll() is not None or time.monotonic() > deadline:
                return [f"the daemon did not start:\n{log.read_text()[-600:]}"]
            time.sleep(0.05)
        os.utime(fifo)
        time.sleep(0.2)
        with doc.open("a") as fh:
            fh.write("Question two?\n")
        deadline = time.monotonic() + HANG
        while "## Assistant" not in doc.read_text():
            if time.monotonic() > deadline:
                problems.append(f"the regular document was never answered:\n"
                                f"{log.read_text()[-600:]}")
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            problems.append("the daemon ignored SIGTERM")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return problems


def case_modes(env: Env, rng: random.Random) -> list[str]:
    root, doc, _outside, _h = _project(env.base, rng)
    perm = rng.choice([0o600, 0o640, 0o644])
    folder = rng.choice([0o700, 0o750, 0o755])
    doc.chmod(perm)
    from agent_doc.project import Project

    proj = Project.for_document(doc)
    snap = Path(proj.snapshot_path(doc))
    snap.write_text("a wide snapshot left by another tool\n")
    snap.chmod(0o644)
    root.chmod(folder)
    code = (
        "import os, sys, runpy; os.umask(0o022); sys.argv = ['agent-doc', *sys.argv[1:]]; "
        "runpy.run_module('agent_doc', run_name='__main__')"
    )
    problems: list[str] = []
    p = subprocess.run([sys.executable, "-c", code, "run", str(doc), "--agent", "offline",
                        "--no-git"], cwd=root, env=env.env, capture_output=True, text=True,
                       timeout=HANG)
    if p.returncode != 0:
        return [f"run failed: {p.stderr[-400:]}"]
    m = os.stat(snap).st_mode & 0o777
    if m != 0o600:  # owner-only: never more readable than any document its owner can read
        problems.append(f"snapshot of a {perm:o} document is {m:o} (umask 022)")
    return problems


CASES = [
    Case("state-file-links", "a link under .agent-doc/ never changes a file outside the project",
         case_state_file_links),
    Case("state-folder-links",
         "a linked .agent-doc (or state folder) never changes a file outside the project",
         case_state_folder_links),
    Case("fifo-document", "a FIFO as the document is refused by name, never blocks",
         case_fifo_document),
    Case("fifo-state", "a FIFO under .agent-doc/ or as a config never blocks a command",
         case_fifo_state),
    Case("watch-fifo", "watch skips a FIFO document, answers the others, stops on SIGTERM",
         case_watch_with_a_fifo),
    Case("modes", "a snapshot is no more readable than its document (umask 022)", case_modes),
]
