"""Git for session documents: the pre-commit, the ``-b`` branch and ``clean``'s squash (SPEC A9).

* :func:`commit_document` — ``git add -- DOC`` then ``git commit --no-verify -m
  "agent-doc(<stem>): <local YYYY-MM-DD HH:MM:SS>" -- DOC``. The pathspec limits the commit to
  the document: whatever else the user has staged stays staged and is not swept in (fixes C42).
  A document with no change is not an error ("nothing to commit"). git does only what the
  user would: a document git ignores is never committed (no ``add -f``); no commit is made on
  a detached HEAD or while a rebase, merge, cherry-pick, revert or bisect is in progress (a
  warning, once per process, and the status ``skipped``); when the commit itself fails
  (signing without a key, a failing ``prepare-commit-msg`` hook, no identity) the document's
  index entry is put back as it was, so it is not left staged.
* :func:`ensure_branch` — ``agent-doc/<stem>``; switches only when HEAD is not already on it, so
  an editor's open files are not checked out again on every ``-b`` run (fixes C45).
* :func:`squash_session` — folds the **consecutive** agent-doc commits *of that document* at the
  tip of the branch into one, with ``git commit-tree`` + ``git update-ref`` (the index and the
  working tree are not touched, nothing staged is swept in). It refuses, with an explanation,
  when a foreign commit sits between the tip and the document's agent-doc commits (fixes C44:
  the reference's soft reset folded every later commit of every file into one).

Where git runs: in the repository of the document's real path (``git -C <doc dir> rev-parse
--show-toplevel``), never in the working directory. A relative document path is resolved
against the working directory first, then (``commit``/``clean`` only, for an agent whose
working directory drifted) against the project root and the repository root — the reference
tried the repository root *first* and could commit a different file (fixes C43). Outside a
repository the cycle continues without git and says so once per process on stderr.

Serialisation: every git call of one repository runs under a :class:`safefile.FileLock` on
``<git dir>/agent-doc.lock``. The git dir rather than ``Project.git_lock_path`` because what is
contended — ``index.lock`` and the branch ref — belongs to the repository (per worktree), and one
repository can hold several agent-doc projects (or documents outside any ``.agent-doc/``), which
a per-project lock would not exclude; git ignores unknown files in its folder. Git processes we
do not control (an editor's git integration) can still hold ``index.lock``: those failures are
retried with exponential backoff (8 tries, about 6 s in all) before giving up with a hint.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from agent_doc.errors import AgentDocError
from agent_doc.errors import say as _say
from agent_doc.record import FrozenRecord
from fastpath import TRACE, describe_argv, trace, trace_clock
from procrun import TextFinished, run_text

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from safefile import FileLock

BRANCH_PREFIX = "agent-doc/"
SQUASH_SUBJECT = "agent-doc: squashed session for {file}"
_RETRIES = 8
_FIRST_DELAY = 0.05
_said_no_git = False


class GitError(AgentDocError):
    """A git command failed; the message names the document and quotes git."""


class Repo(FrozenRecord):
    """A git work tree: its top-level folder and its git directory."""

    toplevel: Path
    git_dir: Path

    @property
    def lock_path(self) -> Path:
        return self.git_dir / "agent-doc.lock"


class CommitOutcome(FrozenRecord):
    """What :func:`commit_document` did. ``status``: ``committed`` | ``nothing to commit`` |
    ``no git`` (not in a repository, or git is not installed) | ``skipped`` (the document is
    ignored by git, or the repository is mid-operation; ``message`` says which)."""

    status: str
    message: str | None = None
    commit: str | None = None

    @property
    def committed(self) -> bool:
        return self.status == "committed"


class SquashOutcome(FrozenRecord):
    """What :func:`squash_session` did."""

    squashed: int  # how many commits were folded (0: nothing to do)
    commit: str | None
    message: str  # a sentence for the user


def resolve_path(doc: str | os.PathLike[str]) -> Path:
    """The document's real absolute path; relative paths are taken from the working dir."""
    p = Path(os.fspath(doc))
    if not p.is_absolute():
        p = Path(os.getcwd()) / p
    return Path(os.path.realpath(p))


def locate_document(path: str | os.PathLike[str]) -> Path:
    """The document a git command (``commit``, ``clean``) means by ``path`` (fixes C43).

    An absolute path, or a relative one that exists from the working directory, is taken as
    is. Otherwise (an agent whose working directory drifted into a subfolder) the path is tried
    from the project root of the working directory, then from its repository root.
    """
    from agent_doc.errors import FileNotFound
    from agent_doc.project import Project

    p = Path(os.fspath(path))
    if p.is_absolute() or p.exists():
        if not p.exists():
            raise FileNotFound(path)
        return p
    candidates = [Path(Project.for_cwd().root) / p]
    try:
        top = run_text(["git", "rev-parse", "--show-toplevel"])
        if top.returncode == 0 and top.stdout.strip():
            candidates.append(Path(top.stdout.strip()) / p)
    except FileNotFoundError:
        pass
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFound(path)


def stem_of(doc: Path) -> str:
    return doc.stem or "session"


def say_no_git_once() -> None:
    global _said_no_git
    if not _said_no_git:
        _said_no_git = True
        _say("not a git repository: running without git")


def find_repo(doc: Path) -> Repo | None:
    """The repository holding ``doc`` (a real path), or None (no repository, no git)."""
    started = trace_clock() if TRACE else 0.0
    try:
        p = run_text(
            ["git", "-C", str(doc.parent), "rev-parse", "--show-toplevel", "--absolute-git-dir"]
        )
    except FileNotFoundError:
        if TRACE:
            trace("git", "git rev-parse --show-toplevel", started, "git is not installed")
        return None
    if TRACE:
        trace("git", f"git -C {doc.parent} rev-parse --show-toplevel", started,
              f"rc {p.returncode}")
    if p.returncode != 0:
        return None
    lines = p.stdout.splitlines()
    if len(lines) < 2:
        return None
    return Repo(Path(lines[0]), Path(lines[1]))


def _is_lock_busy(stderr: str) -> bool:
    return "index.lock" in stderr or ("Unable to create" in stderr and ".lock" in stderr)


def git(
    repo: Repo, *args: str, check: bool = True, what: str = "", input: str | None = None
) -> TextFinished:
    """Run ``git ARGS`` in the repository root, retrying while another git holds a lock.

    The caller holds the repository's agent-doc lock. ``check`` raises :class:`GitError`.
    """
    delay = _FIRST_DELAY
    for attempt in range(_RETRIES):
        started = trace_clock() if TRACE else 0.0
        # `-C` = run in the repository root (as a working directory would)
        p = run_text(["git", "-C", str(repo.toplevel), "-c", "core.quotepath=off", *args], input)
        if TRACE:
            trace("git", describe_argv(["git", *args]), started, f"rc {p.returncode}")
        if p.returncode == 0 or not _is_lock_busy(p.stderr) or attempt == _RETRIES - 1:
            break
        time.sleep(delay)
        delay *= 2
    if check and p.returncode != 0:
        detail = (p.stderr or p.stdout).strip()
        hint = None
        if _is_lock_busy(p.stderr):
            hint = (
                f"another git process holds {repo.git_dir / 'index.lock'}; wait for it to "
                "finish (if no git process is running, delete that file)"
            )
        raise GitError(f"git {args[0]} failed{what}: {detail}", hint=hint)
    return p


def _lock(repo: Repo) -> FileLock:
    from safefile import FileLock

    return FileLock(repo.lock_path, what=f"git repository {repo.toplevel}")


def commit_document(doc: str | os.PathLike[str], *, project: object = None) -> CommitOutcome:
    """Commit the document (and nothing else) with the agent-doc message.

    ``project`` is accepted for symmetry with the other engines; git state is found from the
    document itself.
    """
    real = resolve_path(doc)
    repo = find_repo(real)
    if repo is None:
        say_no_git_once()
        return CommitOutcome("no git")
    rel = os.path.relpath(real, repo.toplevel)
    where = f" for {doc}"
    with _lock(repo):
        busy = repository_busy(repo)
        if busy is not None:
            _say_once(f"busy:{repo.toplevel}:{busy}",
                      f"warning: not committing in {repo.toplevel}: {busy}; agent-doc makes no "
                      "commits until that is over (the cycle goes on without them)")
            return CommitOutcome("skipped", busy)
        if is_ignored(repo, rel):
            _say_once(f"ignored:{real}",
                      f"warning: {doc} is ignored by git (.gitignore): it is not committed")
            return CommitOutcome("skipped", "ignored by git")
        before = _index_entry(repo, rel)
        git(repo, "add", "--", rel, what=where)
        staged = git(repo, "diff", "--cached", "--quiet", "--", rel, check=False)
        if staged.returncode == 0:
            return CommitOutcome("nothing to commit")
        message = f"agent-doc({stem_of(real)}): {time.strftime('%Y-%m-%d %H:%M:%S')}"
        try:
            git(repo, "commit", "--no-verify", "-q", "-m", message, "--", rel, what=where)
        except GitError:
            # a signing failure, a hook, no identity: the user did not stage the document
            _restore_index_entry(repo, rel, before)
            raise
        head = git(repo, "rev-parse", "HEAD", what=where).stdout.strip()
    return CommitOutcome("committed", message, head)


#: what git leaves in its folder while an operation is in progress, and its name for users
_IN_PROGRESS = (
    ("rebase-merge", "a rebase is in progress"),
    ("rebase-apply", "a rebase (or `git am`) is in progress"),
    ("MERGE_HEAD", "a merge is in progress"),
    ("CHERRY_PICK_HEAD", "a cherry-pick is in progress"),
    ("REVERT_HEAD", "a revert is in progress"),
    ("BISECT_LOG", "a bisect is in progress"),
)
_said: set[str] = set()


def _say_once(key: str, message: str) -> None:
    if key not in _said:
        _said.add(key)
        _say(message)


def repository_busy(repo: Repo) -> str | None:
    """Why no commit should be made now (detached HEAD, a rebase, merge, cherry-pick, revert
    or bisect in progress), or None. The user would not commit then either: a commit would
    land in the middle of their operation."""
    args = ["rev-parse"]
    for name, _what in _IN_PROGRESS:
        args += ["--git-path", name]
    p = git(repo, *args, check=False)
    paths = p.stdout.splitlines() if p.returncode == 0 else []
    for (_name, what), path in zip(_IN_PROGRESS, paths, strict=False):
        full = path if os.path.isabs(path) else os.path.join(repo.toplevel, path)
        if os.path.exists(full):
            return what
    head = git(repo, "symbolic-ref", "-q", "HEAD", check=False)
    if head.returncode != 0:
        return "HEAD is detached (no branch is checked out)"
    return None


def is_ignored(repo: Repo, rel: str) -> bool:
    """The document is ignored by git (``.gitignore``, ``info/exclude``) and not tracked."""
    return git(repo, "check-ignore", "-q", "--", rel, check=False).returncode == 0


def _index_entry(repo: Repo, rel: str) -> str | None:
    """``MODE SHA`` of the document's index entry (stage 0), or None when it is not in it."""
    out = git(repo, "ls-files", "-s", "--", rel, check=False).stdout
    for line in out.splitlines():
        meta, _tab, _name = line.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[2] == "0":
            return f"{parts[0]} {parts[1]}"
    return None


def _restore_index_entry(repo: Repo, rel: str, entry: str | None) -> None:
    """Put the document's index entry back as it was before our ``git add``."""
    if entry is None:
        p = git(repo, "rm", "--cached", "-q", "--", rel, check=False)
    else:
        mode, sha = entry.split()
        p = git(repo, "update-index", "--cacheinfo", f"{mode},{sha},{rel}", check=False)
    if p.returncode != 0:
        _say(f"warning: could not unstage {rel} after the failed commit: "
             f"{(p.stderr or p.stdout).strip()}; run `git restore --staged {rel}`")


def current_branch(repo: Repo) -> str | None:
    p = git(repo, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    return (p.stdout.strip() or None) if p.returncode == 0 else None


def ensure_branch(doc: str | os.PathLike[str]) -> str | None:
    """Be on ``agent-doc/<stem>``: create it or switch to it, only if not already there.

    Returns the branch name, or None outside a repository.
    """
    real = resolve_path(doc)
    repo = find_repo(real)
    if repo is None:
        say_no_git_once()
        return None
    branch = BRANCH_PREFIX + stem_of(real)
    with _lock(repo):
        if current_branch(repo) == branch:
            return branch
        busy = repository_busy(repo)
        if busy is not None and not busy.startswith("HEAD is detached"):
            _say_once(f"busy-branch:{repo.toplevel}:{busy}",
                      f"warning: not switching to branch {branch}: {busy}")
            return None
        exists = git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False)
        args = ["checkout", branch] if exists.returncode == 0 else ["checkout", "-b", branch]
        try:
            git(repo, *args, what=f" to switch to branch {branch}")
        except GitError as exc:
            raise GitError(
                f"failed to create or switch to branch {branch}: {exc.message}",
                hint="commit or stash the changes git names, or run without -b",
            ) from None
        _say(f"Switched to branch {branch}")
    return branch


class _Commit(FrozenRecord):
    """One commit of ``git log``."""

    sha: str
    parents: list[str]
    subject: str
    files: list[str]


def _log(repo: Repo, limit: int) -> list[_Commit]:
    p = git(
        repo, "log", f"-n{limit}", "--no-renames", "--name-only",
        "--format=%x1e%H%x1f%P%x1f%s", "HEAD", check=False,
    )
    if p.returncode != 0:
        return []  # unborn branch
    out: list[_Commit] = []
    for record in p.stdout.split("\x1e")[1:]:
        head, _, names = record.partition("\n")
        sha, parents, subject = ([*head.split("\x1f"), "", ""])[:3]
        files = [n for n in names.splitlines() if n.strip()]
        out.append(_Commit(sha, parents.split(), subject, files))
    return out


def is_agent_doc_commit_of(c: _Commit, rel: str, stem: str) -> bool:
    """An agent-doc commit that touches this document and nothing else."""
    subject_ok = c.subject.startswith(f"agent-doc({stem}):") or c.subject == SQUASH_SUBJECT.format(
        file=rel
    )
    return subject_ok and c.files == [rel] and len(c.parents) <= 1


def squash_session(doc: str | os.PathLike[str]) -> SquashOutcome:
    """Fold the consecutive agent-doc commits of ``doc`` at the branch tip into one commit."""
    real = resolve_path(doc)
    repo = find_repo(real)
    if repo is None:
        raise GitError(
            f"{doc} is not in a git repository: there are no commits to squash",
            hint="`clean` squashes the agent-doc commits of a document in a git repository",
        )
    rel = Path(os.path.relpath(real, repo.toplevel)).as_posix()
    stem = stem_of(real)
    with _lock(repo):
        run: list[_Commit] = []
        limit = 200
        blocker: _Commit | None = None
        while True:
            history = _log(repo, limit)
            run, blocker = [], None
            for c in history:
                if is_agent_doc_commit_of(c, rel, stem):
                    run.append(c)
                else:
                    blocker = c
                    break
            if blocker is not None or len(history) < limit:
                break
            limit *= 4
        older = None
        if blocker is not None:
            p = git(
                repo, "log", "-n1", "--format=%h %s", "--grep=^agent-doc", blocker.sha, "--",
                rel, check=False,
            )
            older = p.stdout.strip() or None
        if len(run) < 2:
            if older is not None and blocker is not None:
                raise GitError(
                    f"not squashing the agent-doc commits of {doc}: the tip of the branch is "
                    f"{blocker.sha[:7]} \"{blocker.subject}\", which is not an agent-doc commit "
                    f"of {rel}, and older agent-doc commits of {rel} (such as {older}) lie "
                    "behind it; squashing them would fold that commit in too",
                    hint="`clean` only squashes consecutive agent-doc commits of the document at "
                    "the tip of the branch; rebase interactively to squash across other commits",
                )
            if not run:
                return SquashOutcome(0, None, f"No agent-doc commits found for {doc}")
            return SquashOutcome(
                0, run[0].sha, f"Only one agent-doc commit of {doc} at the branch tip: nothing "
                "to squash",
            )
        oldest = run[-1]
        tree = git(repo, "rev-parse", "HEAD^{tree}").stdout.strip()
        head = run[0].sha
        args = ["commit-tree", tree, "-m", SQUASH_SUBJECT.format(file=rel)]
        for parent in oldest.parents:
            args += ["-p", parent]
        new = git(repo, *args, what=f" while squashing {doc}").stdout.strip()
        git(
            repo, "update-ref", "-m", f"agent-doc clean {rel}", "HEAD", new, head,
            what=f" while squashing {doc}",
        )
    note = ""
    if older is not None:
        note = f" (older agent-doc commits behind {blocker.sha[:7] if blocker else '?'} were " \
            "left alone)"
    return SquashOutcome(len(run), new, f"Squashed {len(run)} agent-doc commits for {doc}{note}")
