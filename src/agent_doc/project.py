"""Project root discovery and the paths of every piece of state under ``.agent-doc/``.

SPEC A2: the project root is the nearest ancestor holding ``.agent-doc/``; else the nearest
holding ``.git``; else the document's own folder. Document commands search from the document's
*real* path, project commands from the working directory. Nothing here resolves state against
the working directory otherwise.

Per-document state is keyed by ``sha256(realpath)`` (the reference's snapshot naming, SPEC A3):

======================  ==========================================================
snapshot                ``.agent-doc/snapshots/<hash>.md``
snapshot lock           ``.agent-doc/snapshots/<hash>.md.lock``
document lock           ``.agent-doc/locks/<hash>.lock``
submit lock             ``.agent-doc/locks/<hash>.submit.lock``
pending response        ``.agent-doc/pending/<hash>.json``
======================  ==========================================================

Lock order, always: submit → document → snapshot → registry.
"""

from __future__ import annotations

import os
from pathlib import Path

try:  # the builtin module loads in ~0.1 ms; `hashlib` (OpenSSL) costs ~4 ms at start-up
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import sha256 as _sha256

TYPE_CHECKING = False

if TYPE_CHECKING:
    from safefile import FileLock

STATE_DIR = ".agent-doc"


def doc_realpath(doc: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(doc))


def doc_hash(doc: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of the document's canonical absolute path, as the reference names it.

    The path is encoded as UTF-8; bytes that are not valid UTF-8 become U+FFFD first, as the
    reference's ``to_string_lossy()`` does, so both tools agree on every path.
    """
    lossy = os.fsencode(doc_realpath(doc)).decode("utf-8", "replace")
    return _sha256(lossy.encode("utf-8")).hexdigest()


def find_root(start: str | os.PathLike[str]) -> Path:
    """Nearest ancestor of ``start`` (a folder) with ``.agent-doc/``, else with ``.git``."""
    here = Path(os.path.realpath(os.fspath(start)))
    git_root: Path | None = None
    for folder in (here, *here.parents):
        if (folder / STATE_DIR).is_dir():
            return folder
        if git_root is None and (folder / ".git").exists():
            git_root = folder
    return git_root if git_root is not None else here


class Project:
    """The project of a document or folder: its root and every state path under it.

    A plain immutable class rather than a dataclass: importing ``dataclasses`` costs ~9 ms
    (it pulls in ``inspect``), paid by every hotkey command.
    """

    __slots__ = ("root",)
    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Project is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Project) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"Project(root={self.root!r})"

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def for_document(cls, doc: str | os.PathLike[str]) -> Project:
        real = Path(doc_realpath(doc))
        return cls(find_root(real.parent))

    @classmethod
    def for_cwd(cls, cwd: str | os.PathLike[str] | None = None) -> Project:
        return cls(find_root(os.getcwd() if cwd is None else cwd))

    # -- folders ------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def snapshots_dir(self) -> Path:
        return self.state_dir / "snapshots"

    @property
    def locks_dir(self) -> Path:
        return self.state_dir / "locks"

    @property
    def pending_dir(self) -> Path:
        return self.state_dir / "pending"

    # -- project files ------------------------------------------------------------------------
    @property
    def registry_path(self) -> Path:
        return self.state_dir / "sessions.json"

    @property
    def claims_log(self) -> Path:
        return self.state_dir / "claims.log"

    @property
    def watch_pid_path(self) -> Path:
        return self.state_dir / "watch.pid"

    @property
    def watch_lock_path(self) -> Path:
        return self.locks_dir / "watch.lock"

    @property
    def git_lock_path(self) -> Path:
        return self.locks_dir / "git.lock"

    @property
    def route_lock_path(self) -> Path:
        return self.locks_dir / "route.lock"

    @property
    def components_toml(self) -> Path:
        return self.state_dir / "components.toml"

    @property
    def config_toml(self) -> Path:
        return self.state_dir / "config.toml"

    # -- per-document files -------------------------------------------------------------------
    def snapshot_path(self, doc: str | os.PathLike[str]) -> Path:
        return self.snapshots_dir / f"{doc_hash(doc)}.md"

    def snapshot_lock_path(self, doc: str | os.PathLike[str]) -> Path:
        return self.snapshots_dir / f"{doc_hash(doc)}.md.lock"

    def doc_lock_path(self, doc: str | os.PathLike[str]) -> Path:
        return self.locks_dir / f"{doc_hash(doc)}.lock"

    def submit_lock_path(self, doc: str | os.PathLike[str]) -> Path:
        return self.locks_dir / f"{doc_hash(doc)}.submit.lock"

    def pending_path(self, doc: str | os.PathLike[str]) -> Path:
        return self.pending_dir / f"{doc_hash(doc)}.json"

    # -- locks (lock order: submit → document → snapshot → registry) ---------------------------
    def submit_lock(self, doc: str | os.PathLike[str], *, timeout: float | None = None) -> FileLock:
        """The lock held across one whole submit cycle of ``doc`` (SPEC A4)."""
        from safefile import FileLock

        return FileLock(
            self.submit_lock_path(doc), timeout=timeout, what=f"submit cycle of {os.fspath(doc)}"
        )

    def doc_lock(self, doc: str | os.PathLike[str], *, timeout: float | None = None) -> FileLock:
        """The lock held briefly by every writer of ``doc`` or its snapshot (SPEC A4)."""
        from safefile import FileLock

        return FileLock(self.doc_lock_path(doc), timeout=timeout, what=f"document {os.fspath(doc)}")

    # -- helpers ------------------------------------------------------------------------------
    def ensure_dirs(self) -> None:
        for d in (self.state_dir, self.snapshots_dir, self.locks_dir, self.pending_dir):
            d.mkdir(parents=True, exist_ok=True)

    def rel(self, doc: str | os.PathLike[str]) -> str:
        """The document's path relative to the root, POSIX style (absolute if outside it)."""
        real = Path(doc_realpath(doc))
        try:
            return real.relative_to(self.root).as_posix()
        except ValueError:
            return real.as_posix()

    def resolve(self, stored: str) -> Path:
        """Resolve a registry ``file`` value (absolute, or relative to the root)."""
        p = Path(stored)
        return p if p.is_absolute() else self.root / p
