"""hostile_faults: the faults of a real machine (issue 11 items 4, 5, 7).

A full disk (a tiny tmpfs; root only), folders we may not write (root without
``CAP_DAC_OVERRIDE`` through ``setpriv``), a document renamed while its agent answers, the watch
daemon killed with SIGKILL while its agent runs, and git repositories mid-operation. The
invariants: a paid answer (or a ``write`` response) is never lost; a command that fails has
changed nothing; git does only what the user would.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from stress.common import Env, Proc, doc_text, git_init
from stress.hostile import Case, Skip

SETPRIV = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
NEVER_LOST = "a paid answer or a write response is never lost"
NOTHING_CHANGED = "a command that fails has changed nothing"
GIT_LIKE_USER = "git does only what the user would"


def _project(env: Env, name: str, base: Path | None = None) -> tuple[Path, Path]:
    root = (base or env.base) / name
    (root / ".agent-doc").mkdir(parents=True)
    doc = root / "notes.md"
    doc.write_text(doc_text(str(uuid.uuid4()), name, ["A question?"]))
    return root, doc


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _unprivileged(env: Env, root: Path, *args: str, input: str | None = None,
                  extra: dict[str, str] | None = None) -> Proc:
    if os.geteuid() != 0:
        return env.cli(*args, cwd=root, input=input, env=extra)
    if shutil.which("setpriv") is None:
        raise Skip("setpriv is not installed (root would ignore permission bits)")
    full = dict(env.env)
    full.update(extra or {})
    argv = [*SETPRIV, sys.executable, "-m", "agent_doc", *args]
    p = subprocess.run(argv, cwd=root, env=full, input=input, capture_output=True, text=True,
                       timeout=120)
    return Proc(argv[3:], p.returncode, p.stdout, p.stderr, 0.0)


def _mount(env: Env, size: str) -> Path:
    if os.geteuid() != 0:
        raise Skip("mounting a tmpfs (a real full disk) needs root")
    mnt = env.base / "small"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip(f"cannot mount a tmpfs: {p.stderr.strip()}")
    return mnt


def _umount(mnt: Path) -> None:
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


# -- cases ------------------------------------------------------------------------------------


def full_disk(env: Env, rng: random.Random) -> list[str]:
    mnt = _mount(env, "2m")
    out: list[str] = []
    try:
        root, doc = _project(env, "full", mnt)
        log = env.base / "calls.jsonl"
        extra = {"FAKE_CLAUDE_LOG": str(log)}
        if env.cli("run", "--no-git", "notes.md", cwd=root, env=extra).returncode != 0:
            return ["the first run failed"]
        with doc.open("a") as fh:
            fh.write("Second question?\n")
        before = doc.read_bytes()
        filler = _fill(mnt)
        p = env.cli("run", "--no-git", "notes.md", cwd=root, env=extra)
        if p.returncode != 1 or "No space left on device" not in p.stderr:
            out.append(f"run on a full disk: want exit 1 naming the cause\n{p.describe()}")
        if _calls(log) != 1:
            out.append("the agent was called with no room to keep its answer")
        if doc.read_bytes() != before:
            out.append("the failed run changed the document")
        filler.unlink()
        p = env.cli("run", "--no-git", "notes.md", cwd=root, env=extra)
        if p.returncode != 0 or doc.read_text().count("## Assistant") != 2:
            out.append(f"after freeing space the question was not answered once\n{p.describe()}")
    finally:
        _umount(mnt)
    return out


def write_journal_unwritable(env: Env, rng: random.Random) -> list[str]:
    root, doc = _project(env, "write-ro")
    pending = root / ".agent-doc" / "pending"
    pending.mkdir()
    pending.chmod(0o555)
    before = doc.read_bytes()
    text = f"The only copy of response {rng.getrandbits(32)}."
    try:
        p = _unprivileged(env, root, "write", "notes.md", input=text + "\n")
    finally:
        pending.chmod(0o755)
    out: list[str] = []
    m = re.search(r"it is kept in (\S+\.json)", p.stderr)
    if p.returncode != 1 or m is None:
        return [f"write with an unwritable journal: want exit 1 naming where the response is"
                f"\n{p.describe()}"]
    try:
        kept = json.loads(Path(m.group(1)).read_text())["response"]
    except (OSError, ValueError, KeyError) as exc:
        kept = f"<{exc}>"
    if kept != text:
        out.append(f"the kept file does not hold the response: {kept!r}")
    if doc.read_bytes() != before:
        out.append("the failed write changed the document")
    return out


def renamed_while_answering(env: Env, rng: random.Random) -> list[str]:
    root, doc = _project(env, "renamed")
    log = env.base / "calls.jsonl"
    p = env.popen(["run", "--no-git", "notes.md"], cwd=root,
                  env={"FAKE_CLAUDE_SLEEP": "1.5", "FAKE_CLAUDE_LOG": str(log)})
    deadline = time.monotonic() + 60
    while _calls(log) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    new = root / f"renamed-{rng.randrange(1000)}.md"
    os.rename(doc, new)
    p.communicate(timeout=120)
    out: list[str] = []
    r = env.cli("recover", new.name, cwd=root)
    if r.returncode != 0 or new.read_text().count("## Assistant") != 1:
        out.append(f"recover NEWNAME did not apply the answer once\n{r.describe()}")
    if list((root / ".agent-doc" / "pending").glob("*.json")):
        out.append("a pending answer was left after recover NEWNAME")
    return out


def patch_snapshot_unwritable(env: Env, rng: random.Random) -> list[str]:
    root = env.base / "patch-ro"
    (root / ".agent-doc").mkdir(parents=True)
    (root / ".agent-doc" / "components.toml").write_text('[log]\nmode = "append"\n')
    doc = root / "notes.md"
    doc.write_text(doc_text(str(uuid.uuid4()), "patch", component=True))
    if env.cli("patch", "notes.md", "log", "one", cwd=root).returncode != 0:
        return ["the first patch failed"]
    before = doc.read_bytes()
    snaps = root / ".agent-doc" / "snapshots"
    snaps.chmod(0o555)
    try:
        p = _unprivileged(env, root, "patch", "notes.md", "log", "two")
    finally:
        snaps.chmod(0o755)
    out: list[str] = []
    if p.returncode != 0 and doc.read_bytes() != before:
        out.append(f"patch failed after changing the document\n{p.describe()}")
    if p.returncode == 0 and "warning" not in p.stderr:
        out.append("patch succeeded without the snapshot and said nothing")
    if p.returncode != 0:
        env.cli("patch", "notes.md", "log", "two", cwd=root)  # the user's retry
    if doc.read_text().count("two") != 1:
        out.append("the entry is not there exactly once after a retry")
    return out


def _group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


def daemon_sigkill(env: Env, rng: random.Random) -> list[str]:
    root, doc = _project(env, "daemon")
    log = env.base / "calls.jsonl"
    extra = {"FAKE_CLAUDE_LOG": str(log)}
    if env.cli("run", "--no-git", "notes.md", cwd=root, env=extra).returncode != 0:
        return ["the first run failed"]
    d = env.popen(["watch", "--debounce", "50", "notes.md"], cwd=root,
                  env={**extra, "FAKE_CLAUDE_MODE": "hang"}, log=env.base / "watch1.log")
    out: list[str] = []
    try:
        time.sleep(1.0 + rng.random())  # let the daemon start watching
        with doc.open("a") as fh:
            fh.write("Asked while the daemon dies\n")
        deadline = time.monotonic() + 60
        while _calls(log) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        if _calls(log) < 2:
            return ["the daemon never called the agent"]
        agent = json.loads(log.read_text().splitlines()[1])["pid"]
        os.kill(d.pid, signal.SIGKILL)
        d.wait()
        deadline = time.monotonic() + 20
        while _group_members(agent) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _group_members(agent)
        if left:
            out.append(f"the agent's group outlived the killed daemon: {left}")
            for pid in left:
                os.kill(pid, signal.SIGKILL)
    finally:
        if d.poll() is None:
            d.kill()
            d.wait()
    d2 = env.popen(["watch", "--debounce", "50", "notes.md"], cwd=root, env=extra,
                   log=env.base / "watch2.log")
    try:
        deadline = time.monotonic() + 60
        while doc.read_text().count("## Assistant") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        while "(own write)" not in (env.base / "watch2.log").read_text(errors="replace") and (
                time.monotonic() < deadline):
            time.sleep(0.05)
    finally:
        os.kill(d2.pid, signal.SIGTERM)
        d2.wait(timeout=60)
    if doc.read_text().count("## Assistant") != 2:
        out.append("the restarted daemon did not answer the missed save once")
    if _calls(log) != 3:
        out.append(f"{_calls(log)} agent calls in all, want 3 (one was killed)")
    return out


def _git(root: Path, env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, env=env.env, capture_output=True,
                          text=True)


def git_states(env: Env, rng: random.Random) -> list[str]:
    if shutil.which("git") is None:
        raise Skip("git is not installed")
    out: list[str] = []
    for state in ("detached", "rebase", "merge", "cherry-pick", "bisect"):
        root = env.base / f"git-{state}"
        root.mkdir()
        git_init(root, env.env)
        (root / "README").write_text("base\n")
        _git(root, env, "add", "README")
        _git(root, env, "commit", "-qm", "base")
        if state == "detached":
            _git(root, env, "checkout", "-q", "--detach")
        elif state == "bisect":
            _git(root, env, "bisect", "start")
        else:
            _git(root, env, "checkout", "-qb", "other")
            (root / "README").write_text("theirs\n")
            _git(root, env, "commit", "-qam", "theirs")
            _git(root, env, "checkout", "-q", "main")
            (root / "README").write_text("ours\n")
            _git(root, env, "commit", "-qam", "ours")
            _git(root, env, {"rebase": "rebase", "merge": "merge",
                             "cherry-pick": "cherry-pick"}[state], "other")
        doc = root / "notes.md"
        doc.write_text(doc_text(str(uuid.uuid4()), state, ["A question?"]))
        head = _git(root, env, "rev-parse", "HEAD").stdout
        p = env.cli("run", "notes.md", cwd=root)
        if p.returncode != 0 or "## Assistant" not in doc.read_text():
            out.append(f"[{state}] the cycle did not run\n{p.describe()}")
        if _git(root, env, "rev-parse", "HEAD").stdout != head:
            out.append(f"[{state}] a commit was made")
        if "notes.md" in _git(root, env, "diff", "--cached", "--name-only").stdout:
            out.append(f"[{state}] the document was left staged")
    # an ignored document, a failing prepare-commit-msg hook
    root = env.base / "git-ignored"
    root.mkdir()
    git_init(root, env.env)
    (root / ".git" / "info" / "exclude").write_text("private.md\n")
    doc = root / "private.md"
    doc.write_text(doc_text(str(uuid.uuid4()), "private", ["secret?"]))
    env.cli("run", "private.md", cwd=root)
    if _git(root, env, "log", "--all", "--format=%H", "--", "private.md").stdout:
        out.append("[ignored] an ignored document was committed")
    hook = root / ".git" / "hooks" / "prepare-commit-msg"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    doc = root / "notes.md"
    doc.write_text(doc_text(str(uuid.uuid4()), "hook", ["q?"]))
    p = env.cli("run", "notes.md", cwd=root)
    if p.returncode != 0:
        out.append(f"[hook] the cycle stopped\n{p.describe()}")
    if _git(root, env, "diff", "--cached", "--name-only").stdout.strip():
        out.append("[hook] the document was left staged after the failed commit")
    return out


CASES = [
    Case("full-disk", NEVER_LOST, full_disk),
    Case("write-journal-unwritable", NEVER_LOST, write_journal_unwritable),
    Case("renamed-while-answering", NEVER_LOST, renamed_while_answering),
    Case("daemon-sigkill", NEVER_LOST, daemon_sigkill),
    Case("patch-snapshot-unwritable", NOTHING_CHANGED, patch_snapshot_unwritable),
    Case("git-states", GIT_LIKE_USER, git_states),
]
