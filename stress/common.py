"""Shared machinery of the stress suite: an isolated environment, a CLI runner, a tally of
invariant checks, and the state probes (registry parse, temp files, held locks).

Everything the suite observes it observes from outside, the way a user would: the commands
run as real ``python -m agent_doc`` subprocesses and the checks read the files they leave. The
package imports ``agent_doc``/``safefile`` only to compute paths (snapshot names, lock folder)
and to parse frontmatter, never to perform the operations under test.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
FAKES = REPO / "tests" / "fakes"
if str(SRC) not in sys.path:  # the suite may run without the editable install
    sys.path.insert(0, str(SRC))

#: printed when a check fails: at most this many examples per invariant
MAX_EXAMPLES = int(os.environ.get("STRESS_EXAMPLES", "4"))

#: the environments not closed yet: a violation keeps their scratch folders (see Tally.check)
_LIVE_ENVS: list[Env] = []
_LIVE_LOCK = threading.Lock()


@dataclass
class Row:
    part: str
    invariant: str
    checks: int = 0
    violations: int = 0
    examples: list[str] = field(default_factory=list)


class Tally:
    """Counts checks and violations per (part, invariant); thread-safe."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Row] = {}
        self._lock = threading.Lock()
        self.notes: list[str] = []

    def row(self, part: str, invariant: str) -> Row:
        key = (part, invariant)
        with self._lock:
            if key not in self._rows:
                self._rows[key] = Row(part, invariant)
            return self._rows[key]

    def check(self, part: str, invariant: str, ok: bool, detail: str = "", n: int = 1) -> bool:
        """Record ``n`` checks of one invariant; ``ok`` False counts one violation."""
        row = self.row(part, invariant)
        with self._lock:
            row.checks += n
            if not ok:
                row.violations += 1
                if len(row.examples) < MAX_EXAMPLES:
                    row.examples.append(detail[:3000])
        if not ok:
            self._keep_scratch(part, invariant)
        return ok

    def _keep_scratch(self, part: str, invariant: str) -> None:
        """A violation keeps the scratch folder of every environment still open (the project,
        the logs, the traces) and says where it is, at once and in the final notes."""
        with _LIVE_LOCK:
            fresh = [e for e in _LIVE_ENVS if e.kept_for is None]
            for e in fresh:
                e.kept_for = f"[{part}] {invariant}"
        for e in fresh:
            print(f"[stress] violation [{part}] {invariant}: keeping the scratch folder "
                  f"{e.base}", file=sys.stderr, flush=True)
            self.note(f"scratch folder kept (violation [{part}] {invariant}): {e.base} "
                      f"(traces: {e.trace_path}, {e.editor_trace_path})")

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def rows(self) -> list[Row]:
        return list(self._rows.values())

    def failed(self) -> bool:
        return any(r.violations for r in self._rows.values())

    def table(self) -> str:
        rows = self.rows()
        w_part = max([4, *(len(r.part) for r in rows)])
        w_inv = max([9, *(len(r.invariant) for r in rows)])
        head = (f"{'part'.ljust(w_part)}  {'invariant'.ljust(w_inv)}  {'checks':>8}  "
                f"{'violations':>10}")
        out = [head, "-" * len(head)]
        for r in rows:
            out.append(
                f"{r.part.ljust(w_part)}  {r.invariant.ljust(w_inv)}  {r.checks:>8}  "
                f"{r.violations:>10}"
            )
        return "\n".join(out)

    def as_json(self) -> dict[str, object]:
        return {
            "ok": not self.failed(),
            "rows": [r.__dict__ for r in self.rows()],
            "notes": self.notes,
        }


@dataclass
class Proc:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.stdout)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nrc={self.returncode}\nstdout={self.stdout[-600:]!r}\n"
            f"stderr={self.stderr[-900:]!r}"
        )


class Env:
    """An isolated world: own HOME, XDG config and state, TMUX_TMPDIR, fake `claude` first on
    PATH.

    ``base`` is a fresh temporary folder; :meth:`close` kills the isolated tmux server and
    removes the folder (unless ``keep``).
    """

    def __init__(self, name: str, keep: bool = False) -> None:
        self.keep = keep
        self.kept_for: str | None = None  # the violation that keeps the folder
        self.base = Path(tempfile.mkdtemp(prefix=f"agent-doc-stress-{name}-"))
        # per-write traces: agent-doc's write-backs and repairs (AGENT_DOC_TRACE), the stand-in
        # editor's saves (STRESS_EDITOR_TRACE); JSON lines with times and sha256 of the text
        # read and written, so a lost line or answer can be traced to one write
        self.trace_path = self.base / "agent-doc-trace.jsonl"
        self.editor_trace_path = self.base / "editor-trace.jsonl"
        # tmux socket paths are limited to ~100 bytes: keep TMUX_TMPDIR short
        self.tmux_dir = tempfile.mkdtemp(prefix="ads", dir="/tmp")
        home = self.base / "home"
        home.mkdir()
        self.fakebin = self.base / "fakebin"
        self.fakebin.mkdir()
        (self.fakebin / "claude").symlink_to(FAKES / "claude")
        # the fake's `#!/usr/bin/env python3` may hit a pyenv shim (~200 ms): pin python3
        (self.fakebin / "python3").symlink_to(os.path.realpath(sys.executable))
        env = dict(os.environ)
        for var in ("TMUX", "TMUX_PANE", "AGENT_DOC_TMUX_SOCKET", "CLAUDECODE", "GIT_DIR",
                    "GIT_WORK_TREE", "FAKE_CLAUDE_MODE", "FAKE_CLAUDE_SLEEP",
                    "FAKE_CLAUDE_RESULT", "FAKE_CLAUDE_LOG", "FAKE_CLAUDE_SESSION",
                    "FAKE_CLAUDE_APPEND_TO", "FAKE_CLAUDE_STDERR"):
            env.pop(var, None)
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_STATE_HOME=str(home / ".local" / "state"),  # the trust store (never the user's)
            TMUX_TMPDIR=self.tmux_dir,
            PATH=f"{self.fakebin}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONPATH=os.pathsep.join([str(SRC), str(REPO), os.environ.get("PYTHONPATH", "")]),
            AGENT_DOC_NO_AUTOSTART="1",
            AGENT_DOC_TRACE=str(self.trace_path),
            STRESS_EDITOR_TRACE=str(self.editor_trace_path),
            GIT_AUTHOR_NAME="Stress",
            GIT_AUTHOR_EMAIL="stress@example.invalid",
            GIT_COMMITTER_NAME="Stress",
            GIT_COMMITTER_EMAIL="stress@example.invalid",
            PYTHONDONTWRITEBYTECODE="1",
        )
        self.env = env
        with _LIVE_LOCK:
            _LIVE_ENVS.append(self)

    # -- commands -----------------------------------------------------------------------
    def cli(
        self,
        *args: str,
        cwd: str | os.PathLike[str],
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        prog: str = "agent_doc",
    ) -> Proc:
        full = dict(self.env)
        if env:
            full.update(env)
        argv = [sys.executable, "-m", prog, *args]
        t0 = time.monotonic()
        data = input.encode() if isinstance(input, str) else input
        try:
            p = subprocess.run(argv, cwd=cwd, input=data, capture_output=True, env=full,
                               timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return Proc(argv[2:], -999, _dec(exc.stdout), _dec(exc.stderr) + "\n[TIMEOUT]",
                        time.monotonic() - t0)
        return Proc(argv[2:], p.returncode, _dec(p.stdout), _dec(p.stderr),
                    time.monotonic() - t0)

    def popen(
        self,
        args: Sequence[str],
        *,
        cwd: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        prog: str | None = "agent_doc",
        log: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a process in its own session; with ``log``, stdout and stderr go to that
        file (a long-lived process must never block on a full pipe), else to pipes."""
        full = dict(self.env)
        if env:
            full.update(env)
        argv = [sys.executable, "-m", prog, *args] if prog else list(args)
        if log is not None:
            with open(log, "wb") as fh:
                return subprocess.Popen(argv, cwd=cwd, env=full, stdin=stdin, stdout=fh,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return subprocess.Popen(argv, cwd=cwd, env=full, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)

    # -- tmux ---------------------------------------------------------------------------
    def tmux(self, *args: str, check: bool = True) -> str:
        p = subprocess.run(["tmux", *args], capture_output=True, text=True, env=self.env)
        if check and p.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {p.stderr.strip()}")
        return p.stdout.strip()

    def echo_pane_cmd(self, log: Path) -> str:
        """A pane command that appends every line it reads (raw bytes) to ``log``."""
        return f"stty -echo 2>/dev/null; exec {sys.executable} -m stress.echo {log}"

    def close(self) -> None:
        if shutil.which("tmux"):
            subprocess.run(["tmux", "kill-server"], capture_output=True, env=self.env)
        shutil.rmtree(self.tmux_dir, ignore_errors=True)
        with _LIVE_LOCK:
            if self in _LIVE_ENVS:
                _LIVE_ENVS.remove(self)
        if self.kept_for is not None:
            print(f"[stress] scratch folder kept ({self.kept_for}): {self.base}",
                  file=sys.stderr, flush=True)
        elif not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)


def _dec(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "replace")


def kill_group(p: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started with ``start_new_session`` and everything it started."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def temp_files(root: Path) -> list[str]:
    """Temporary files of atomic writes (``.NAME.tmp-PID-RANDOM``) and displaced files kept by
    a write-back (``.NAME.agent-doc-displaced-...``) anywhere under ``root``."""
    found: list[str] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".") and (".tmp-" in name or ".agent-doc-displaced-" in name):
                found.append(os.path.join(dirpath, name))
    return found


def held(root: Path) -> list[tuple[str, str | None]]:
    """Lock files under ``root/.agent-doc`` that some process holds right now."""
    from safefile import held_locks

    state = root / ".agent-doc"
    return held_locks(state) if state.exists() else []


def registry_parses(path: Path) -> tuple[bool, str]:
    """(ok, detail): the registry is absent, or a JSON object of objects with a ``pane``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return True, ""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return False, f"{path}: {exc}: {raw[:200]!r}"
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("pane"), str) for v in data.values()
    ):
        return False, f"{path}: unexpected shape: {raw[:200]!r}"
    return True, ""


def new_uuid(rng: random.Random) -> str:
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def doc_text(session: str, title: str, body: Iterable[str] = (), *, resume: str | None = None,
             component: bool = False) -> str:
    lines = ["---", f"agent_doc_session: {session}", "agent: claude"]
    if resume:
        lines.append(f"resume: {resume}")
    lines += ["---", "", f"# Session: {title}", ""]
    if component:
        lines += ["<!-- agent:log -->", "<!-- /agent:log -->", ""]
    lines += ["## User", ""]
    lines += list(body)
    return "\n".join(lines) + "\n"


def git_init(root: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, env=env)
    (root / ".gitignore").write_text(".agent-doc/\n")
    subprocess.run(["git", "add", ".gitignore"], cwd=root, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=root, check=True, env=env)


def snapshot_path(doc: Path) -> Path:
    from agent_doc.project import Project

    return Path(Project.for_document(doc).snapshot_path(doc))


def pending_path(doc: Path) -> Path:
    from agent_doc.project import Project

    return Path(Project.for_document(doc).pending_path(doc))


def read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
