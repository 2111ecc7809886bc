"""Which process a pane is running in its foreground, read from ``/proc`` (Linux).

``route`` must type only into the agent a document was registered with, never into the shell
that agent leaves behind when it exits (the shell would run any ``$(…)`` of the typed file
name). tmux tells us the pane's own process (``#{pane_pid}``, usually the login shell) but not
the pid of the program in its foreground, so these helpers read it from the kernel: field 8
of ``/proc/PID/stat`` (``tpgid``) is the foreground process group of PID's controlling
terminal — the pane's pty for every process started inside the pane.

* :func:`agent_of_pane` — what ``claim`` records as the entry's ``pid``: the leader of the
  pane's foreground process group (the agent the user started in the pane's shell), else the
  pane's own process;
* :func:`foreground_check` — what ``route`` requires of an entry's ``pid`` before typing: the
  process is alive and in the foreground of its terminal (or the foreground program descends
  from it, e.g. an editor the agent opened).

Only ``os`` is imported: this runs on the hotkey path (about 20 µs per call).
"""

from __future__ import annotations

__all__ = ["agent_of_pane", "ancestors", "foreground_check", "proc_stat"]


def proc_stat(pid: int) -> tuple[int, int, int, int] | None:
    """``(ppid, pgrp, session, tpgid)`` of ``pid`` from ``/proc/PID/stat``; None if it is gone
    (or there is no ``/proc``)."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp session tty_nr tpgid ...": comm may hold spaces and ')'
    rest = raw[raw.rfind(b")") + 2 :].split()
    try:
        return int(rest[1]), int(rest[2]), int(rest[3]), int(rest[5])
    except (IndexError, ValueError):
        return None


def ancestors(pid: int, limit: int = 64) -> list[int]:
    """``pid``'s ancestors, nearest first, up to (not including) init."""
    out: list[int] = []
    while len(out) < limit:
        st = proc_stat(pid)
        if st is None or st[0] <= 1:
            return out
        pid = st[0]
        out.append(pid)
    return out


def agent_of_pane(pane_pid: int, *, own_pgrp: int | None = None) -> int:
    """The pid ``claim`` records for a pane whose process is ``pane_pid``.

    The leader of the pane's foreground process group when it is a live process started inside
    the pane (the agent running in the pane's shell), else ``pane_pid`` itself (the agent *is*
    the pane's process, or the shell sits at its prompt). When the foreground group is
    ``own_pgrp`` — the caller itself, typed at that pane's prompt — the pane's process is
    recorded: a short-lived ``agent-doc claim`` is no agent.
    """
    st = proc_stat(pane_pid)
    if st is None:
        return pane_pid
    fg = st[3]
    if fg <= 0 or fg == pane_pid or (own_pgrp is not None and fg == own_pgrp):
        return pane_pid
    if pane_pid in ancestors(fg):
        return fg
    return pane_pid


def foreground_check(pid: int) -> tuple[bool, bool]:
    """``(in_foreground, root_in_foreground)`` for a registered ``pid``.

    ``in_foreground``: ``pid`` is alive and belongs to the foreground process group of its
    terminal, or that group's leader descends from it. ``root_in_foreground``: the foreground
    group is the terminal's session leader's — in a pane, the pane's own process (``route``
    asks tmux in any case, with the keys, that the pane's foreground is not a default shell at
    its prompt: see :meth:`tmux_router.tmux.Tmux.send_text_if_running`).
    A pid of 0 (or less), or a process that is gone, is never in the foreground.

    A process with no controlling terminal yet (a pane's process between tmux's ``fork`` and
    its ``setsid``, for a few microseconds) counts as the pane's own process in front: the
    caller then relies on tmux's checks (pane pid lineage, not a shell prompt).
    """
    st = proc_stat(pid)
    if st is None:
        return False, False
    _ppid, pgrp, session, tpgid = st
    if tpgid <= 0:
        return True, True
    root = tpgid == session
    if pgrp == tpgid:
        return True, root
    return pid in ancestors(tpgid), root
