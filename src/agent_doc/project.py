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

All of it is *state* (``safefile.state``): every reader and writer passes ``state_root=root``,
so nothing below the root — ``.agent-doc`` itself, its folders, its files — is ever followed
through a symbolic link (a cloned project could carry links to anywhere).

Every path here is a plain ``str`` built with ``os.path``: ``pathlib`` costs start-up time
(it imports ``urllib.parse``, ``ipaddress`` and ``ntpath``; ``bench/IMPORTS.md``), paid by
every hotkey command. Callers that want ``Path`` objects wrap them.
"""

from __future__ import annotations

import os

from fastpath import sha256 as _sha256  # without `hashlib` (see fastpath)

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
    real = doc_realpath(doc)
    known = _HASHES.get(real)
    if known is None:
        lossy = os.fsencode(real).decode("utf-8", "replace")
        known = _sha256(lossy.encode("utf-8")).hexdigest()
        if len(_HASHES) >= 256:  # a long-lived process (watch) sees few documents; bound it
            _HASHES.clear()
        _HASHES[real] = known
    return known


#: ``doc_hash`` memo, keyed by the real path (a pure function of it: never stale). The path is
#: still resolved on every call, so a renamed document or a re-pointed link gets its own hash.
_HASHES: dict[str, str] = {}


def find_root(start: str | os.PathLike[str]) -> str:
    """Nearest ancestor of ``start`` (a folder) with ``.agent-doc/``, else with ``.git``."""
    folder = os.path.realpath(os.fspath(start))
    here = folder
    git_root: str | None = None
    while True:
        if os.path.isdir(os.path.join(folder, STATE_DIR)):
            return folder
        if git_root is None and os.path.exists(os.path.join(folder, ".git")):
            git_root = folder
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return git_root if git_root is not None else here


class Project:
    """The project of a document or folder: its root and every state path under it.

    A plain immutable class rather than a dataclass: importing ``dataclasses`` costs start-up
    time (it pulls in ``inspect``), paid by every hotkey command. ``root`` and every path it hands
    out are ``str`` (see the module docstring).
    """

    __slots__ = ("root",)
    root: str

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", os.path.normpath(os.fspath(root)))

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
        return cls(find_root(os.path.dirname(doc_realpath(doc))))

    @classmethod
    def for_cwd(cls, cwd: str | os.PathLike[str] | None = None) -> Project:
        return cls(find_root(os.getcwd() if cwd is None else cwd))

    # -- folders ------------------------------------------------------------------------------
    @property
    def state_dir(self) -> str:
        return os.path.join(self.root, STATE_DIR)

    @property
    def snapshots_dir(self) -> str:
        return os.path.join(self.state_dir, "snapshots")

    @property
    def locks_dir(self) -> str:
        return os.path.join(self.state_dir, "locks")

    @property
    def pending_dir(self) -> str:
        return os.path.join(self.state_dir, "pending")

    # -- project files ------------------------------------------------------------------------
    @property
    def registry_path(self) -> str:
        return os.path.join(self.state_dir, "sessions.json")

    @property
    def claims_log(self) -> str:
        return os.path.join(self.state_dir, "claims.log")

    @property
    def watch_pid_path(self) -> str:
        return os.path.join(self.state_dir, "watch.pid")

    @property
    def watch_lock_path(self) -> str:
        return os.path.join(self.locks_dir, "watch.lock")

    @property
    def git_lock_path(self) -> str:
        return os.path.join(self.locks_dir, "git.lock")

    @property
    def route_lock_path(self) -> str:
        return os.path.join(self.locks_dir, "route.lock")

    def pane_lock_path(self, pane: str) -> str:
        """Held by ``route`` while it types into ``pane`` and, a moment later, presses Enter."""
        name = "".join(c for c in pane if c.isalnum()) or "unknown"
        return os.path.join(self.locks_dir, f"pane-{name}.lock")

    @property
    def components_toml(self) -> str:
        return os.path.join(self.state_dir, "components.toml")

    @property
    def config_toml(self) -> str:
        return os.path.join(self.state_dir, "config.toml")

    # -- per-document files -------------------------------------------------------------------
    def snapshot_path(self, doc: str | os.PathLike[str]) -> str:
        return os.path.join(self.snapshots_dir, f"{doc_hash(doc)}.md")

    def snapshot_lock_path(self, doc: str | os.PathLike[str]) -> str:
        return os.path.join(self.snapshots_dir, f"{doc_hash(doc)}.md.lock")

    def doc_lock_path(self, doc: str | os.PathLike[str]) -> str:
        return os.path.join(self.locks_dir, f"{doc_hash(doc)}.lock")

    def submit_lock_path(self, doc: str | os.PathLike[str]) -> str:
        return os.path.join(self.locks_dir, f"{doc_hash(doc)}.submit.lock")

    def pending_path(self, doc: str | os.PathLike[str]) -> str:
        return os.path.join(self.pending_dir, f"{doc_hash(doc)}.json")

    # -- locks (lock order: submit → document → snapshot → registry) ---------------------------
    def submit_lock(self, doc: str | os.PathLike[str], *, timeout: float | None = None) -> FileLock:
        """The lock held across one whole submit cycle of ``doc`` (SPEC A4)."""
        from safefile import FileLock

        return FileLock(
            self.submit_lock_path(doc), timeout=timeout, what=f"submit cycle of {os.fspath(doc)}",
            state_root=self.root,
        )

    def doc_lock(self, doc: str | os.PathLike[str], *, timeout: float | None = None) -> FileLock:
        """The lock held briefly by every writer of ``doc`` or its snapshot (SPEC A4)."""
        from safefile import FileLock

        return FileLock(
            self.doc_lock_path(doc), timeout=timeout, what=f"document {os.fspath(doc)}",
            state_root=self.root,
        )

    # -- helpers ------------------------------------------------------------------------------
    def ensure_dirs(self) -> None:
        """Create the state folders as real folders; a link among them is refused
        (``safefile.NotRegularFileError``): state is never kept outside the project."""
        from safefile import ensure_state_dir

        for d in (self.snapshots_dir, self.locks_dir, self.pending_dir):
            ensure_state_dir(d, state_root=self.root)

    def rel(self, doc: str | os.PathLike[str]) -> str:
        """The document's path relative to the root, POSIX style (absolute if outside it)."""
        real = doc_realpath(doc)
        prefix = self.root.rstrip("/") + "/"
        if real.startswith(prefix):
            return real[len(prefix):]
        return real

    def resolve(self, stored: str) -> str:
        """Resolve a registry ``file`` value (absolute, or relative to the root)."""
        return stored if os.path.isabs(stored) else os.path.join(self.root, stored)
