"""badinput: a corpus of broken inputs and environments, each run through the real CLI.

Every case states its expected exit code and checks three things:

* **exit code** as expected (1 for an error the user must fix, 0 where the command copes);
* **the message names the file and says what to do** — stderr contains the offending path
  (its name) and a ``hint:`` line (or, for warnings, names both paths involved);
* **nothing lost** — the document's bytes are unchanged unless the command succeeded, and
  whatever the command set aside (corrupt registry, pending response) still holds the data.

Cases: malformed / unterminated / empty frontmatter, an empty document, invalid UTF-8, a 50 MB
document, a corrupt registry, a corrupt snapshot, a corrupt pending response, a corrupt
``components.toml`` and ``config.toml``, a read-only document and a read-only folder (run
without ``CAP_DAC_OVERRIDE`` through ``setpriv`` when we are root, since root ignores
permission bits), the document deleted or replaced during a run, names with spaces, quotes, a
newline, ``;`` and unicode, a symlinked document, tmux missing from PATH, no tmux server, a
dead agent command, agents that print garbage / fail / return an error / return nothing, a
missing file and a folder given as FILE.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from stress.common import Env, Proc, Tally, doc_text, pending_path, read_or_none, snapshot_path

PART = "badinput"
#: a message "says what to do" when it has a hint line or an imperative action
HINT_WORDS = ("hint:", "retry", "run `", "convert", "install", "start ", "fix ", "remove ",
              "delete ", "add ", "use ", "check ", "restore", "re-claim", "set ")


class BadInput:
    def __init__(self, tally: Tally, *, seed: int, keep: bool = False,
                 big_mb: int = 50) -> None:
        self.big_mb = big_mb
        self.tally = tally
        self.seed = seed
        self.keep = keep
        self.n = 0

    # -- helpers ------------------------------------------------------------------------
    def project(self, name: str) -> Path:
        self.n += 1
        root = self.env.base / f"{self.n:02d}-{name}"
        (root / ".agent-doc").mkdir(parents=True)
        return root

    def doc(self, root: Path, name: str = "notes.md", body: str = "question one") -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc_text(str(uuid.uuid4()), "bad input", [body]))
        return path

    def cli(self, root: Path, *args: str, env: dict[str, str] | None = None,
            input: str | None = None, unprivileged: bool = False, timeout: float = 180) -> Proc:
        if unprivileged and os.geteuid() == 0:
            # root bypasses permission bits; drop the capabilities that let it
            full = dict(self.env.env)
            full.update(env or {})
            argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner",
                    sys.executable, "-m", "agent_doc", *args]
            t0 = time.monotonic()
            p = subprocess.run(argv, cwd=root, env=full, capture_output=True, text=True,
                               input=input, timeout=timeout)
            return Proc(argv[3:], p.returncode, p.stdout, p.stderr, time.monotonic() - t0)
        return self.env.cli(*args, cwd=root, env=env, input=input, timeout=timeout)

    def error(self, case: str, p: Proc, *, rc: int = 1, names: list[str],
              unchanged: dict[Path, bytes | None], hint: bool = True) -> None:
        """An error case: exit ``rc``, names every string of ``names``, files unchanged."""
        t = self.tally
        t.check(PART, "expected exit code", p.returncode == rc,
                f"[{case}] want rc={rc}\n{p.describe()}")
        missing = [n for n in names if n not in p.stderr]
        has_hint = (not hint) or any(w in p.stderr for w in HINT_WORDS)
        t.check(PART, "message names the file and says what to do", not missing and has_hint,
                f"[{case}] missing {missing or ''}{'' if has_hint else ' and no hint'}\n"
                f"{p.describe()}")
        self.unchanged(case, unchanged, p)

    def ok(self, case: str, p: Proc) -> bool:
        return self.tally.check(PART, "expected exit code", p.returncode == 0,
                                f"[{case}] want rc=0\n{p.describe()}")

    def unchanged(self, case: str, files: dict[Path, bytes | None], p: Proc | None) -> None:
        changed = [str(f) for f, b in files.items() if read_or_none(f) != b]
        self.tally.check(PART, "nothing lost (bytes unchanged unless it succeeded)",
                         not changed, f"[{case}] changed: {changed}\n"
                         + (p.describe() if p else ""))

    def lost(self, case: str, ok: bool, detail: str) -> None:
        self.tally.check(PART, "nothing lost (bytes unchanged unless it succeeded)", ok,
                         f"[{case}] {detail}")

    # -- cases --------------------------------------------------------------------------
    def case_frontmatter(self) -> None:
        bad = {
            "malformed frontmatter": "---\nagent_doc_session: [unclosed\nagent: claude\n---\n"
                                     "\nquestion\n",
            "unterminated frontmatter": "---\nagent: claude\nresume: x\n\nquestion\n",
            "frontmatter not a mapping": "---\n- a\n- b\n---\n\nquestion\n",
            "duplicate key": "---\nagent: claude\nagent: other\n---\n\nquestion\n",
        }
        for case, text in bad.items():
            root = self.project("fm")
            doc = root / "notes.md"
            doc.write_text(text)
            before = doc.read_bytes()
            for cmd in (["run", "--no-git", "notes.md"], ["claim", "--pane", self.pane, "notes.md"],
                        ["patch", "notes.md", "log", "x"], ["reset", "notes.md"]):
                p = self.cli(root, *cmd)
                if case == "unterminated frontmatter" and p.returncode == 0:
                    # a "---" line with no closing one may be read as plain text; then the
                    # command must have kept every byte the user wrote
                    self.lost(f"{case}: {cmd[0]}", before in doc.read_bytes()
                              or doc.read_bytes().endswith(before.split(b"\n", 1)[1]),
                              f"document now {doc.read_bytes()!r}")
                    continue
                self.error(f"{case}: {cmd[0]}", p, names=["notes.md"],
                           unchanged={doc: before})

    def case_empty(self) -> None:
        for case, text in (("empty frontmatter", "---\n---\n\nquestion\n"),
                           ("empty document", "")):
            root = self.project("empty")
            doc = root / "notes.md"
            doc.write_text(text)
            p = self.cli(root, "run", "--no-git", "notes.md")
            if self.ok(case, p):
                new = doc.read_text()
                self.lost(case, "agent_doc_session:" in new and text.split("---\n")[-1] in new,
                          f"document now {new!r}")

    def case_utf8(self) -> None:
        root = self.project("utf8")
        doc = root / "notes.md"
        raw = doc_text(str(uuid.uuid4()), "bad", ["caf\u00e9"]).encode().replace(
            "é".encode(), b"\xe9\xff")
        doc.write_bytes(raw)
        for cmd in (["run", "--no-git", "notes.md"], ["diff", "notes.md"],
                    ["patch", "notes.md", "log", "x"], ["write", "notes.md"],
                    ["reset", "notes.md"]):
            p = self.cli(root, *cmd, input="an answer\n")
            self.error(f"invalid UTF-8: {cmd[0]}", p, names=["notes.md"], unchanged={doc: raw})

    def case_big(self) -> None:
        root = self.project("big")
        doc = root / "big.md"
        head = doc_text(str(uuid.uuid4()), "big", [])
        line = "a line of a big document, long enough to make fifty megabytes quickly ....\n"
        with open(doc, "w") as fh:
            fh.write(head)
            fh.write(line * (self.big_mb * 1024 * 1024 // len(line)))
        size = doc.stat().st_size
        p = self.cli(root, "diff", "big.md")
        self.ok(f"{self.big_mb} MB document: diff", p)
        p = self.cli(root, "run", "--no-git", "big.md")
        if self.ok(f"{self.big_mb} MB document: run", p):
            data = doc.read_bytes()
            self.lost(f"{self.big_mb} MB document: run",
                      len(data) > size and data.count(b"\n## Assistant") == 1
                      and data.endswith(b"\n\n## User\n\n")
                      and data.count(line.encode()) == self.big_mb * 1024 * 1024 // len(line),
                      f"size {size} -> {len(data)}")
        self.tally.note(f"badinput: {self.big_mb} MB document: run took {p.seconds:.1f}s")
        doc.unlink()

    def case_corrupt_registry(self) -> None:
        root = self.project("registry")
        self.doc(root)
        reg = root / ".agent-doc" / "sessions.json"
        junk = b'{"abc": {"pane": "%1", "file": "notes.md"'  # torn
        reg.write_bytes(junk)
        p = self.cli(root, "resync")
        self.ok("corrupt registry: resync", p)
        p2 = self.cli(root, "claim", "--pane", self.pane, "notes.md")
        self.ok("corrupt registry: claim afterwards", p2)
        aside = sorted((root / ".agent-doc").glob("sessions.json.corrupt-*"))
        ok = len(aside) == 1 and aside[0].read_bytes() == junk
        self.lost("corrupt registry", ok, f"set aside: {aside}")
        names = ["sessions.json"] + ([aside[0].name] if aside else ["sessions.json.corrupt-"])
        missing = [n for n in names if n not in p.stderr]
        has_hint = any(w in p.stderr for w in HINT_WORDS)
        self.tally.check(PART, "message names the file and says what to do",
                         not missing and has_hint,
                         f"[corrupt registry] warning lacks {missing} "
                         f"{'' if has_hint else 'and a hint'}\n{p.describe()}")
        p = self.cli(root, "status", "--json")
        self.ok("corrupt registry: status afterwards", p)

    def case_corrupt_snapshot(self) -> None:
        root = self.project("snapshot")
        doc = self.doc(root)
        snap = snapshot_path(doc)
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_bytes(b"\xff\xfe garbage \x00")
        p = self.cli(root, "diff", "notes.md")
        self.ok("corrupt snapshot: diff", p)
        self.tally.check(PART, "message names the file and says what to do",
                         snap.name in p.stderr and "notes.md" in p.stderr,
                         f"[corrupt snapshot] warning should name {snap.name} and notes.md\n"
                         f"{p.describe()}")
        p = self.cli(root, "run", "--no-git", "notes.md")
        if self.ok("corrupt snapshot: run", p):
            self.lost("corrupt snapshot: run", "question one" in doc.read_text(), "")

    def case_corrupt_pending(self) -> None:
        root = self.project("pending")
        doc = self.doc(root)
        pend = pending_path(doc)
        pend.parent.mkdir(parents=True, exist_ok=True)
        junk = b'{"response": "half an ans'
        pend.write_bytes(junk)
        before = doc.read_bytes()
        for cmd in (["recover", "notes.md"], ["run", "--no-git", "notes.md"]):
            p = self.cli(root, *cmd)
            self.error(f"corrupt pending: {cmd[0]}", p, names=[pend.name],
                       unchanged={doc: before, pend: junk})

    def case_corrupt_configs(self) -> None:
        root = self.project("components")
        doc = root / "notes.md"
        doc.write_text(doc_text(str(uuid.uuid4()), "c", ["q"], component=True))
        comp = root / ".agent-doc" / "components.toml"
        comp.write_text('[log]\nmode = "append\n')
        before = doc.read_bytes()
        p = self.cli(root, "patch", "notes.md", "log", "entry")
        self.error("corrupt components.toml: patch", p, names=["components.toml"],
                   unchanged={doc: before})
        root = self.project("config")
        doc = self.doc(root)
        cfg = root / ".agent-doc" / "config.toml"
        cfg.write_text("default_agent = \n[agents.x\n")
        before = doc.read_bytes()
        p = self.cli(root, "run", "--no-git", "notes.md")
        self.error("corrupt config.toml: run", p, names=["config.toml"],
                   unchanged={doc: before})
        p = self.cli(root, "status")
        self.ok("corrupt config.toml: status (needs no agent)", p)

    def case_readonly(self) -> None:
        root = self.project("ro-doc")
        doc = self.doc(root)
        doc.chmod(0o444)
        before = doc.read_bytes()
        p = self.cli(root, "run", "--no-git", "notes.md", unprivileged=True)
        self.error("read-only document: run", p, names=["notes.md"], unchanged={doc: before})
        pend = read_or_none(pending_path(doc))
        if p.returncode != 0 and pend is not None:  # the answer must not be lost either
            self.lost("read-only document: run", b"Answer from fake claude" in pend,
                      f"pending: {pend[:200]!r}")
        p = self.cli(root, "patch", "notes.md", "log", "x", unprivileged=True)
        self.error("read-only document: patch", p, names=["notes.md"], unchanged={doc: before})
        doc.chmod(0o644)
        root = self.project("ro-dir")
        sub = root / "docs"
        doc = self.doc(root, "docs/notes.md")
        sub.chmod(0o555)
        before = doc.read_bytes()
        try:
            p = self.cli(root, "run", "--no-git", "docs/notes.md", unprivileged=True)
            self.error("read-only folder: run", p, names=["notes.md"], unchanged={doc: before})
            p = self.cli(root, "init", "docs/new.md", unprivileged=True)
            self.error("read-only folder: init", p, names=["new.md"], unchanged={})
        finally:
            sub.chmod(0o755)

    def case_deleted_replaced(self) -> None:
        for case in ("deleted", "replaced"):
            root = self.project(case)
            doc = self.doc(root)
            p = self.env.popen(["run", "--no-git", "notes.md"], cwd=root,
                               env={"FAKE_CLAUDE_SLEEP": "1.5"})
            time.sleep(1.0)
            replaced = doc_text(str(uuid.uuid4()), "replaced", ["a new document"])
            if case == "deleted":
                doc.unlink()
            else:
                tmp = root / "new.tmp"
                tmp.write_text(replaced)
                os.replace(tmp, doc)
            out, err = p.communicate(timeout=120)
            proc = Proc(["run", "notes.md"], p.returncode, out.decode(), err.decode(), 0)
            if case == "deleted":
                self.error("document deleted during run", proc, names=["notes.md"],
                           unchanged={doc: None})
                pend = read_or_none(pending_path(doc))
                self.lost("document deleted during run: the answer is kept",
                          pend is not None and b"Answer from fake claude" in pend,
                          f"pending file: {pend!r}")
            else:
                if self.ok("document replaced during run", proc):
                    text = doc.read_text()
                    self.lost("document replaced during run", "a new document" in text
                              and "Answer from fake claude" in text, f"document: {text!r}")

    def case_names(self) -> None:
        names = ["my notes.md", "it's \"quoted\".md", "semi;colon $(x).md", "ünïcødé 文書.md",
                 "-dash.md"]
        root = self.project("names")
        pane_log = self.env.base / "names-pane.log"
        pane_log.touch()
        pane = self.env.tmux("-f", "/dev/null", "new-session", "-d", "-s", "names", "-x", "200",
                             "-y", "50", "-P", "-F", "#{pane_id}",
                             self.env.echo_pane_cmd(pane_log))
        for name in names:
            arg = f"./{name}" if name.startswith("-") else name
            ok = self.ok(f"name {name!r}: init", self.cli(root, "init", arg, "T"))
            with open(root / name, "a") as fh:
                fh.write("question\n")
            ok = self.ok(f"name {name!r}: run", self.cli(root, "run", "--no-git", arg)) and ok
            ok = self.ok(f"name {name!r}: claim", self.cli(root, "claim", "--pane", pane, arg)) \
                and ok
            ok = self.ok(f"name {name!r}: route", self.cli(root, "route", arg)) and ok
            if ok:
                text = (root / name).read_text()
                self.lost(f"name {name!r}", "question\n" in text and "## Assistant" in text,
                          text)
        time.sleep(0.5)
        got = pane_log.read_bytes().decode("utf-8", "replace").splitlines()
        want = [f"/agent-doc {'./' + n if n.startswith('-') else n}" for n in names]
        self.tally.check(PART, "routed text arrives exactly", got == want,
                         f"[names] pane received {got!r}, expected {want!r}")
        # a newline in a name: init may create it; route must refuse to type it
        nl = "new\nline.md"
        (root / nl).write_text(doc_text(str(uuid.uuid4()), "nl", ["q"]))
        before = (root / nl).read_bytes()
        p = self.cli(root, "route", "--pane", pane, nl)
        self.error("name with a newline: route", p, names=["new"], unchanged={root / nl: before})
        time.sleep(0.3)
        self.tally.check(PART, "routed text arrives exactly",
                         pane_log.read_bytes().decode("utf-8", "replace").splitlines() == want,
                         "[newline name] something was typed into the pane")
        self.env.tmux("kill-session", "-t", "=names", check=False)

    def case_symlink(self) -> None:
        root = self.project("symlink")
        real = self.doc(root, "real/target.md")
        link = root / "link.md"
        link.symlink_to("real/target.md")
        p = self.cli(root, "run", "--no-git", "link.md")
        if self.ok("symlinked document: run", p):
            self.lost("symlinked document", link.is_symlink() and "## Assistant" in
                      real.read_text(), f"link is symlink: {link.is_symlink()}")
            p = self.cli(root, "run", "--no-git", "real/target.md")
            self.ok("symlinked document: run through the target", p)
            self.tally.check(PART, "symlink and target share one snapshot",
                             "Nothing changed" in p.stderr or "nothing changed" in p.stderr,
                             f"[symlink] second run through the target should find nothing "
                             f"changed\n{p.describe()}")

    def case_tmux(self) -> None:
        root = self.project("tmux")
        doc = self.doc(root)
        before = doc.read_bytes()
        bindir = self.env.base / "no-tmux-bin"
        bindir.mkdir(exist_ok=True)
        for tool in ("sh", "git", "claude"):
            src = shutil.which(tool, path=self.env.env["PATH"])
            if src and not (bindir / tool).exists():
                (bindir / tool).symlink_to(src)
        env = {"PATH": str(bindir)}
        for cmd in (["route", "notes.md"], ["claim", "--pane", "%0", "notes.md"]):
            p = self.cli(root, *cmd, env=env)
            self.error(f"tmux missing: {cmd[0]}", p, names=["tmux"], unchanged={doc: before})
        # no server: a fresh TMUX_TMPDIR with nothing running
        env = {"TMUX_TMPDIR": str(self.env.base / "no-server")}
        (self.env.base / "no-server").mkdir(exist_ok=True)
        for cmd in (["route", "notes.md"], ["claim", "--pane", "%0", "notes.md"]):
            p = self.cli(root, *cmd, env=env)
            self.error(f"no tmux server: {cmd[0]}", p, names=["tmux"],
                       unchanged={doc: before})

    def case_agents(self) -> None:
        modes: list[tuple[str, dict[str, str], list[str]]] = [
            ("agent prints garbage", {"FAKE_CLAUDE_MODE": "garbage"}, ["notes.md"]),
            ("agent exits 1", {"FAKE_CLAUDE_MODE": "exit1"}, ["notes.md"]),
            ("agent reports an error", {"FAKE_CLAUDE_MODE": "is_error"}, ["notes.md"]),
        ]
        for case, env, names in modes:
            root = self.project("agent")
            doc = self.doc(root)
            before = doc.read_bytes()
            p = self.cli(root, "run", "--no-git", "notes.md", env=env)
            self.error(case, p, names=names, unchanged={doc: before})
            self.tally.check(PART, "nothing lost (bytes unchanged unless it succeeded)",
                             read_or_none(pending_path(doc)) is None,
                             f"[{case}] a pending file was written for a failed call")
        root = self.project("dead-agent")
        doc = self.doc(root)
        (root / ".agent-doc" / "config.toml").write_text(
            '[agents.ghost]\ncommand = "/nonexistent/ghost-agent"\n')
        self.cli(root, "trust", str(root))  # so the failure is the missing program's, not trust's
        before = doc.read_bytes()
        p = self.cli(root, "run", "--no-git", "--agent", "ghost", "notes.md")
        self.error("dead agent command", p, names=["ghost"], unchanged={doc: before})

    def case_missing(self) -> None:
        root = self.project("missing")
        for cmd in ("run", "diff", "patch", "claim", "route", "reset", "write", "recover"):
            args = [cmd, "nope.md"] + (["log", "x"] if cmd == "patch" else [])
            p = self.cli(root, *args, input="x\n")
            self.error(f"missing file: {cmd}", p, names=["nope.md"], unchanged={})
        (root / "folder.md").mkdir()
        p = self.cli(root, "run", "folder.md")
        self.error("a folder as FILE: run", p, names=["folder.md"], unchanged={})

    # -- driver -------------------------------------------------------------------------
    def run(self) -> None:
        self.env = Env("badinput", keep=self.keep)
        self.pane = self.env.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x",
                                  "200", "-y", "50", "-P", "-F", "#{pane_id}", "cat")
        cases: list[Callable[[], None]] = [
            self.case_frontmatter, self.case_empty, self.case_utf8, self.case_corrupt_registry,
            self.case_corrupt_snapshot, self.case_corrupt_pending, self.case_corrupt_configs,
            self.case_readonly, self.case_deleted_replaced, self.case_names,
            self.case_symlink, self.case_tmux, self.case_agents, self.case_missing,
            self.case_big,
        ]
        try:
            for case in cases:
                try:
                    case()
                except Exception as exc:
                    self.tally.check(PART, "harness ran without error", False,
                                     f"{case.__name__}: {exc!r}")
        finally:
            self.env.close()


def run(tally: Tally, *, seed: int, keep: bool = False, big_mb: int = 50) -> None:
    BadInput(tally, seed=seed, keep=keep, big_mb=big_mb).run()



