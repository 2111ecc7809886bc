"""The one wrapper around the ``tmux`` command line: every tmux call of the code base goes here.

Why a thin process wrapper of our own and not ``libtmux`` — measured with
``bench/bench_tmux.py`` (2 vCPU, CPython 3.11, tmux 3.3a, libtmux 0.62; medians of 30 runs with
bytecode caches, load average 0.6; counts are exact):

=================================  =================  ======================
operation                          ours: procs / ms   libtmux: procs / ms
=================================  =================  ======================
import                             - / 3.8            - / 105 (220 uncached)
send_text (find + type + Enter)    1 / 2.2            4 / 9.8
live_panes (all panes, pids)       1 / 2.2            1 / 4.8
route's happy path (live + send)   1 / 2.3 (*)        3 / 9.2
sync, layout already right         1 / 2.6            3 / 12.2
sync 3 panes from 3 windows        5 / 12.9           12 / 40.8 (same moves)
=================================  =================  ======================

(*) :meth:`Tmux.send_text_if_running`: the liveness and identity check runs inside tmux
(``if-shell -F``), so the happy path is the one ``send-keys`` process of ``send_text``.

The hot path (``route``) must stay under ~35 ms with at most 2 tmux processes (SPEC A8/A11):
libtmux's import alone exceeds that budget, and its object operations re-list state with extra
tmux processes. This module imports only ``os`` and :mod:`procrun` (our process runner on
``os.posix_spawnp``: ``subprocess`` costs start-up time, bench/IMPORTS.md), batches dependent
commands into one process, and takes the facts it needs from one ``list-panes -a`` snapshot.

Rules this wrapper enforces (SPEC A8, hazards C29–C32 of Part B §10):

* **Server selection** is left to tmux (``$TMUX``, else ``$TMUX_TMPDIR/tmux-UID/default``):
  ``-L``/``-S`` are passed only when a socket was given to :class:`Tmux`.
* **Targets**: sessions as ``=name:`` / ``=name`` (exact match, never a prefix: ``claude-old``
  does not satisfy ``claude``), panes and windows by id (``%N``, ``@N``).
* **Literal arguments**: tmux splits its command line at any argument that *ends* with ``;``
  (``send-keys -l 'a;'`` would send ``a`` and start a new command). :meth:`Tmux.run` escapes
  the final ``;`` of every argument (``a;`` → ``a\\;``, which tmux turns back into ``a;``), so
  every argument passed through this module is literal; only :meth:`Tmux.run_many` inserts real
  separators. Text goes to ``send-keys -l --`` (never read as key names or options).
* **Batching**: commands that must run in order go in one tmux process joined with ``;``; a
  failing command aborts the rest, so ``send-keys -t %N -l TEXT ; send-keys -t %N Enter`` is an
  atomic "send only if the pane exists" with no interleaving from other senders (C30).
* **Liveness** comes from ``list-panes -a`` (one call for all panes), never from
  ``display-message`` (which exits 0 with empty fields for a missing pane).
* **Errors**: a missing binary raises :class:`TmuxNotInstalled`, no server raises
  :class:`NoServer` (``list_panes``/``live_panes`` return empty instead), any other failure
  :class:`TmuxError` with the command and tmux's stderr.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

import procrun
from tmux_router.errors import TmuxRouterError

__all__ = [
    "STASH_WINDOW",
    "NoServer",
    "Pane",
    "Tmux",
    "TmuxError",
    "TmuxNotInstalled",
    "session_target",
    "window_target",
]

#: Name of the window that holds panes evicted by ``sync`` (exact match).
STASH_WINDOW = "stash"

#: Seconds to wait for one tmux process before giving up (a wedged server must not hang us).
TIMEOUT = 15.0

_SEP = "\t"  # tmux escapes control characters in names (a tab shows as "\t"), so this is safe
_PANE_FIELDS = (
    "#{pane_id}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{window_id}",
    "#{pane_left}",
    "#{pane_top}",
    "#{pane_width}",
    "#{pane_height}",
    "#{pane_active}",
    "#{window_active}",
    "#{session_name}",
    "#{pane_current_command}",
    "#{window_name}",
)
PANE_FORMAT = _SEP.join(_PANE_FIELDS)
_LIVE_FORMAT = "#{pane_id} #{pane_dead} #{pane_pid}"

_NOT_SENT = "agent-doc:not-sent"

#: Program names (``#{pane_current_command}``) of interactive shells: a pane started with the
#: default shell that shows one of these in its foreground sits at a shell prompt.
SHELLS = (
    "sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "pdksh", "oksh", "yash", "ash",
    "busybox", "tcsh", "csh", "nu", "elvish", "xonsh", "pwsh", "rc", "es",
)


def _quote(arg: str) -> str:
    """``arg`` as ONE literal word of tmux's command language (for a command given as a string,
    e.g. to ``if-shell``): single quotes, inside which tmux expands nothing (no ``$VAR``, ``~``,
    ``#{}``, ``;``), with each ``'`` written as ``'\\''`` as in sh."""
    return "'" + arg.replace("'", "'\\''") + "'"


_NO_SERVER_MARKERS = ("no server running", "error connecting to", "server exited unexpectedly")


class _Completed:
    __slots__ = ("returncode", "stderr", "stdout")

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout.decode("utf-8", "replace")
        self.stderr = stderr.decode("utf-8", "replace")


class TmuxError(TmuxRouterError):
    """A tmux command failed. ``command`` is the argv, ``stderr`` what tmux said."""

    def __init__(self, message: str, command: Sequence[str] = (), stderr: str = "") -> None:
        super().__init__(message)
        self.command = list(command)
        self.stderr = stderr


class TmuxNotInstalled(TmuxError):
    def __init__(self, command: Sequence[str] = ()) -> None:
        super().__init__("tmux is not installed (install it: apt-get install tmux)", command, "")


class NoServer(TmuxError):
    def __init__(self, command: Sequence[str] = (), stderr: str = "") -> None:
        super().__init__("no tmux server is running (start one with `tmux`)", command, stderr)


class Pane:
    """One tmux pane, as ``list-panes`` reported it (immutable).

    A plain ``__slots__`` class rather than a dataclass: ``dataclasses`` stays off the hot path
    (bench/IMPORTS.md), and ``tmux_router`` cannot use ``agent_doc.record``.
    """

    __slots__ = (
        "active", "command", "dead", "height", "id", "left", "pid", "session", "top",
        "width", "window", "window_active", "window_name",
    )
    id: str
    pid: int
    dead: bool
    window: str
    session: str
    window_name: str
    left: int
    top: int
    width: int
    height: int
    active: bool
    window_active: bool
    command: str  # #{pane_current_command}

    def __init__(
        self,
        id: str,
        pid: int,
        dead: bool,
        window: str,
        session: str,
        window_name: str,
        left: int,
        top: int,
        width: int,
        height: int,
        active: bool,
        window_active: bool,
        command: str,
    ) -> None:
        values = locals()
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Pane is immutable")

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, n) for n in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pane) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"Pane({inner})"

    @classmethod
    def parse(cls, line: str) -> Pane:
        f = line.split(_SEP, len(_PANE_FIELDS) - 1)
        if len(f) != len(_PANE_FIELDS):
            raise ValueError(f"unexpected tmux pane line: {line!r}")
        return cls(
            id=f[0],
            pid=_int(f[1]),
            dead=f[2] == "1",
            window=f[3],
            left=_int(f[4]),
            top=_int(f[5]),
            width=_int(f[6]),
            height=_int(f[7]),
            active=f[8] == "1",
            window_active=f[9] == "1",
            session=f[10],
            command=f[11],
            window_name=f[12],
        )


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return 0


def session_target(name: str) -> str:
    """Exact-match target for a session: ``=name``."""
    return f"={name}"


def window_target(session: str) -> str:
    """Target for "a window of session": ``=name:`` (the colon forces a session, even for ``0``)."""
    return f"={session}:"


def _escape_arg(arg: str) -> str:
    # tmux ends a command at an argument ending in ';' and turns a trailing '\;' into ';'.
    if arg.endswith(";"):
        return arg[:-1] + "\\;"
    return arg


def _describe(args: Sequence[str]) -> str:
    shown = " ".join(a if a and " " not in a else repr(a) for a in args)
    return shown if len(shown) <= 200 else shown[:197] + "..."


class Tmux:
    """A handle on one tmux server.

    ``Tmux()`` talks to the server tmux itself would pick; ``socket_name`` maps to ``-L`` and
    ``socket_path`` to ``-S`` (the CLIs map ``--socket-name`` / ``AGENT_DOC_TMUX_SOCKET`` here).
    """

    def __init__(self, socket_name: str | None = None, socket_path: str | None = None) -> None:
        self.socket_name = socket_name or None
        self.socket_path = socket_path or None
        self._prefix: list[str] = ["tmux"]
        if self.socket_name:
            self._prefix += ["-L", self.socket_name]
        if self.socket_path:
            self._prefix += ["-S", self.socket_path]

    def __repr__(self) -> str:
        return f"Tmux(socket_name={self.socket_name!r}, socket_path={self.socket_path!r})"

    # -- raw calls ----------------------------------------------------------------------------
    def _exec(self, argv: list[str], check: bool) -> str:
        try:
            done = procrun.run(argv, timeout=TIMEOUT)
        except FileNotFoundError:
            raise TmuxNotInstalled(argv) from None
        except procrun.ProcessTimeout:
            raise TmuxError(
                f"tmux did not answer within {TIMEOUT:g} s: {_describe(argv)}", argv, ""
            ) from None
        proc = _Completed(done.returncode, done.stdout, done.stderr)
        if proc.returncode != 0 and check:
            err = proc.stderr.strip()
            if any(m in err for m in _NO_SERVER_MARKERS):
                raise NoServer(argv, err)
            what = _describe(argv[len(self._prefix) :])
            raise TmuxError(
                f"tmux {what} failed: {err or f'exit status {proc.returncode}'}", argv, err
            )
        return proc.stdout

    def run(self, *args: str, check: bool = True) -> str:
        """Run ONE tmux command (one process); return its stdout. Every argument is literal.

        With ``check=False`` a failure returns whatever stdout there was (a missing tmux binary
        still raises :class:`TmuxNotInstalled`).
        """
        return self._exec([*self._prefix, *(_escape_arg(a) for a in args)], check)

    def run_many(self, commands: Sequence[Sequence[str]], check: bool = True) -> str:
        """Run several commands in ONE tmux process, joined with ``;``.

        tmux runs them in order and a failing command aborts the rest.
        """
        argv = list(self._prefix)
        for i, cmd in enumerate(commands):
            if i:
                argv.append(";")
            argv.extend(_escape_arg(a) for a in cmd)
        if len(argv) == len(self._prefix):
            return ""
        return self._exec(argv, check)

    def _try(self, *args: str) -> str | None:
        """Run; return stdout, or None if tmux failed (no server included)."""
        try:
            return self.run(*args)
        except TmuxNotInstalled:
            raise
        except TmuxError:
            return None

    # -- server and panes ---------------------------------------------------------------------
    def server_running(self) -> bool:
        try:
            self.run("list-sessions", "-F", "#{session_id}")
            return True
        except TmuxNotInstalled:
            raise
        except TmuxError:
            return False

    def list_panes(self, *, strict: bool = False) -> list[Pane]:
        """Every pane of the server in ONE ``list-panes -a`` call.

        No server: ``[]``, or :class:`NoServer` with ``strict=True``.
        """
        try:
            out = self.run("list-panes", "-a", "-F", PANE_FORMAT)
        except NoServer:
            if strict:
                raise
            return []
        return [Pane.parse(line) for line in out.splitlines() if line]

    def live_panes(self, *, strict: bool = False) -> dict[str, int]:
        """Map live (not dead) pane id → ``#{pane_pid}``, ONE call.

        No server: ``{}``, or :class:`NoServer` with ``strict=True``.
        """
        try:
            out = self.run("list-panes", "-a", "-F", _LIVE_FORMAT)
        except NoServer:
            if strict:
                raise
            return {}
        live: dict[str, int] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] != "1":
                live[parts[0]] = _int(parts[2])
        return live

    def pane(self, pane_id: str) -> Pane | None:
        """The pane with this id, or None (a real liveness test: filters ``list-panes -a``)."""
        for p in self.list_panes():
            if p.id == pane_id:
                return p
        return None

    def pane_alive(self, pane_id: str) -> bool:
        return pane_id in self.live_panes()

    def session_of(self, pane_id: str) -> str | None:
        p = self.pane(pane_id)
        return p.session if p else None

    def window_of(self, pane_id: str) -> str | None:
        p = self.pane(pane_id)
        return p.window if p else None

    def _env_is_our_server(self) -> bool:
        """True if ``$TMUX`` (and so ``$TMUX_PANE``) belongs to the server this handle talks to."""
        env = os.environ.get("TMUX", "")
        if not env:
            return False
        if not self.socket_name and not self.socket_path:
            return True
        env_socket = env.split(",", 1)[0]
        if self.socket_path:
            ours = self.socket_path
        else:
            base = os.environ.get("TMUX_TMPDIR") or "/tmp"
            ours = os.path.join(base, f"tmux-{os.getuid()}", self.socket_name or "default")
        try:
            return os.path.samefile(env_socket, ours)
        except OSError:
            return os.path.realpath(env_socket) == os.path.realpath(ours)

    def current_pane(self) -> str | None:
        """``$TMUX_PANE`` when we run inside this server, else ``display-message -p``."""
        env_pane = os.environ.get("TMUX_PANE", "")
        if env_pane and self._env_is_our_server():
            return env_pane
        out = self._try("display-message", "-p", "#{pane_id}")
        out = (out or "").strip()
        return out or None

    # -- sessions and windows -----------------------------------------------------------------
    def has_session(self, name: str) -> bool:
        """Exact match (``-t =name``): ``claude-old`` does not satisfy ``claude``."""
        try:
            self.run("has-session", "-t", session_target(name))
            return True
        except TmuxNotInstalled:
            raise
        except TmuxError:
            return False

    def _new_pane(self, args: list[str], command: Sequence[str] | None) -> Pane:
        out = self.run(*args, "-P", "-F", PANE_FORMAT, *(command or ()))
        line = out.splitlines()[0] if out.strip() else ""
        if not line:
            raise TmuxError(f"tmux {_describe(args)} printed no pane", args, "")
        return Pane.parse(line)

    def new_session(self, name: str, cwd: str, command: Sequence[str] | None = None) -> Pane:
        """Create a detached session ``name`` (starts the server if needed); its first pane."""
        return self._new_pane(["new-session", "-d", "-s", name, "-c", cwd], command)

    def new_window(
        self,
        session: str,
        cwd: str,
        command: Sequence[str] | None = None,
        *,
        detached: bool = True,
        name: str | None = None,
    ) -> Pane:
        """Create a window in ``session`` (exact match); its pane."""
        args = ["new-window"]
        if detached:
            args.append("-d")
        args += ["-t", window_target(session), "-c", cwd]
        if name is not None:
            args += ["-n", name]
        return self._new_pane(args, command)

    def window_panes(self, window: str) -> list[Pane]:
        """Panes of ``window`` (window id, or pane id for its window), ordered by (left, top)."""
        out = self.run("list-panes", "-t", window, "-F", PANE_FORMAT)
        panes = [Pane.parse(line) for line in out.splitlines() if line]
        panes.sort(key=lambda p: (p.left, p.top))
        return panes

    def window_exists(self, window: str) -> bool:
        try:
            self.run("list-panes", "-t", window, "-F", "#{pane_id}")
            return True
        except TmuxNotInstalled:
            raise
        except TmuxError:
            return False

    def list_windows(self, session: str) -> list[tuple[str, str]]:
        """(window id, window name) of ``session`` in index order; [] if it does not exist."""
        out = self._try(
            "list-windows",
            "-t",
            window_target(session),
            "-F",
            f"#{{window_id}}{_SEP}#{{window_name}}",
        )
        result = []
        for line in (out or "").splitlines():
            wid, _, name = line.partition(_SEP)
            if wid:
                result.append((wid, name))
        return result

    # -- input and output ---------------------------------------------------------------------
    def send_text(self, pane: str, text: str, *, enter: bool = True) -> None:
        """Type ``text`` literally into ``pane`` and press Enter: ONE tmux process, no sleep.

        Raises :class:`TmuxError` if the pane is gone (nothing is typed then).
        """
        cmds: list[list[str]] = [["send-keys", "-t", pane, "-l", "--", text]]
        if enter:
            cmds.append(["send-keys", "-t", pane, "Enter"])
        self.run_many(cmds)

    def send_text_if_running(
        self,
        pane: str,
        text: str,
        *,
        pids: Collection[int] | None,
        enter: bool = True,
        not_at_shell_prompt: bool = False,
        enter_delay: float = 0.0,
    ) -> bool:
        """Type ``text`` (+ Enter) into ``pane`` only if it is alive and its ``#{pane_pid}`` is
        one of ``pids`` (``None``: any process; empty: none) — check and keys in ONE tmux
        process.

        With ``not_at_shell_prompt``, also refuse a pane started with the default shell
        (empty ``#{pane_start_command}``) whose foreground program is a shell (:data:`SHELLS`):
        that shell is at its prompt and would run the text as a command line.

        The check runs inside the server (``if-shell -F`` on the pane's own format values), so
        nothing can change between the check and the keys, and no other client's keys come in
        between. Returns False (nothing typed) when the pane is missing, dead or runs another
        process; raises :class:`NoServer` / :class:`TmuxNotInstalled` like every call.

        ``enter_delay`` (seconds): press Enter that long after the text. Agent TUIs take a
        burst of keys for a paste, and an Enter inside it for a newline (Claude Code 2.1.x
        for bursts over ~60 characters; Codex after 3 keys within 8 ms): a separate, later
        Enter submits. Another client's keys can land in that interval: callers that may
        type into one pane concurrently serialise around this call (agent-doc's ``route``
        holds a per-pane lock).
        """
        if pids is not None and not pids:
            return False
        sends = [f"send-keys -t {_quote(pane)} -l -- {_quote(text)}"]
        if enter and enter_delay > 0:
            # Enter from inside the server, later (`run-shell -d`, still this one process: the
            # client waits for it, so a caller's lock spans the text and its Enter)
            later = f"send-keys -t {_quote(pane)} Enter"
            sends.append(f"run-shell -d {enter_delay:.3f} -C {_quote(later)}")
        elif enter:
            sends.append(f"send-keys -t {_quote(pane)} Enter")
        ok = "1"
        if not_at_shell_prompt:
            shells = "|".join(SHELLS)
            ok = (
                "#{?#{&&:#{==:#{pane_start_command},},"
                f"#{{m:*|#{{pane_current_command}}|*,|{shells}|}}}},0,1}}"
            )
        if pids is None:
            cond = f"#{{?pane_dead,0,{ok}}}"
        else:
            listed = "|".join(str(int(p)) for p in pids)
            cond = f"#{{?pane_dead,0,#{{?#{{m:*|#{{pane_pid}}|*,|{listed}|}},{ok},0}}}}"
        try:
            out = self.run("if-shell", "-F", "-t", pane, cond, " ; ".join(sends),
                           f"display-message -p {_NOT_SENT}")
        except (NoServer, TmuxNotInstalled):
            raise
        except TmuxError:  # "can't find pane": it is gone
            return False
        return _NOT_SENT not in out

    def send_keys(self, pane: str, *keys: str) -> None:
        """Send key names (``Up``, ``Down``, ``Enter``, ``C-c``) in one invocation."""
        if keys:
            self.run("send-keys", "-t", pane, *keys)

    def capture(self, pane: str, lines: int | None = None) -> str:
        """The visible screen of ``pane`` (``capture-pane -p``); ``lines`` more of history."""
        args = ["capture-pane", "-p", "-t", pane]
        if lines is not None and lines > 0:
            args += ["-S", f"-{int(lines)}"]
        return self.run(*args)

    def display_message(self, pane: str, message: str, duration_ms: int = 3000) -> None:
        """Show ``message`` (literal: ``#`` is not expanded) on the client viewing ``pane``."""
        self.run(
            "display-message", "-t", pane, "-d", str(int(duration_ms)), message.replace("#", "##")
        )

    # -- layout -------------------------------------------------------------------------------
    def select_pane(self, pane: str) -> None:
        """Make ``pane`` the active pane of its window and its window the current one."""
        self.run_many([["select-window", "-t", pane], ["select-pane", "-t", pane]])

    def select_window(self, window: str) -> None:
        self.run("select-window", "-t", window)

    def join_pane(self, src: str, dst: str, *flags: str) -> None:
        """``join-pane -s src -t dst FLAGS`` (e.g. ``-d``, ``-h``, ``-v``, ``-b``)."""
        self.run("join-pane", *flags, "-s", src, "-t", dst)

    def break_pane(self, pane: str, *, name: str | None = None, session: str | None = None) -> str:
        """Move ``pane`` to a new detached window (in ``session`` if given); its window id."""
        args = ["break-pane", "-d", "-s", pane]
        if session is not None:
            args += ["-t", window_target(session)]
        if name is not None:
            args += ["-n", name]
        out = self.run(*args, "-P", "-F", "#{window_id}").strip()
        if not out:  # the pane was alone in its window: tmux moves the window, prints nothing
            out = self.window_of(pane) or ""
        return out

    def kill_pane(self, pane: str) -> None:
        self.run("kill-pane", "-t", pane)

    def kill_session(self, name: str) -> None:
        self.run("kill-session", "-t", session_target(name))

    def resize_pane(
        self, pane: str, *, width: str | int | None = None, height: str | int | None = None
    ) -> None:
        """Resize; a value may be cells (``80``) or a percentage of the window (``"50%"``)."""
        args = ["resize-pane", "-t", pane]
        if width is not None:
            args += ["-x", str(width)]
        if height is not None:
            args += ["-y", str(height)]
        self.run(*args)

    def select_layout(self, window: str, layout: str) -> None:
        self.run("select-layout", "-t", window, layout)

    def find_stash_window(self, session: str) -> str | None:
        """The first window of ``session`` named exactly ``stash``, or None."""
        for wid, name in self.list_windows(session):
            if name == STASH_WINDOW:
                return wid
        return None

    def find_or_create_stash_window(self, session: str) -> str:
        """The stash window of ``session``, created (detached, with a shell) if missing."""
        found = self.find_stash_window(session)
        if found:
            return found
        return self.run(
            "new-window",
            "-d",
            "-t",
            window_target(session),
            "-n",
            STASH_WINDOW,
            "-P",
            "-F",
            "#{window_id}",
        ).strip()

    def stash_pane(self, pane: str, session: str) -> str:
        """Move ``pane`` out of sight into the ``stash`` window of ``session``; it stays alive.

        No stash yet: the pane itself becomes the stash window (``break-pane -n stash``, so no
        spare shell is created). Otherwise it joins the stash window's largest pane (retiled in
        the same tmux call); when the stash is too full to split, it gets a window of its own.
        Returns the window the pane ended in.
        """
        stash = self.find_stash_window(session)
        if stash is None:
            return self.break_pane(pane, name=STASH_WINDOW, session=session)
        try:
            panes = self.window_panes(stash)
        except TmuxError:
            panes = []
        if panes:
            biggest = max(panes, key=lambda p: (p.width * p.height, -p.left, -p.top))
            for flag in ("-v", "-h"):
                try:
                    self.run_many(
                        [
                            ["join-pane", "-d", flag, "-s", pane, "-t", biggest.id],
                            ["select-layout", "-t", stash, "tiled"],
                        ]
                    )
                    return stash
                except TmuxNotInstalled:
                    raise
                except TmuxError:
                    if self.window_of(pane) == stash:  # joined; only the retile failed
                        return stash
        return self.break_pane(pane, session=session)
