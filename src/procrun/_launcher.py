"""The launcher of a guarded program (see :mod:`procrun`): ``python -I -S _launcher.py GUARD_FD
KILL_GRACE PROGRAM ARGV...``.

Started by ``procrun.run`` as the leader of a new session. It forks a guard that stays in the
group (double fork: re-parented to init, holding none of the program's pipes) and then execs
PROGRAM with ARGV, so the program keeps this pid. The guard blocks reading GUARD_FD: one byte
means the runner is done with the program (exit quietly); end-of-file means the runner died
(stop the whole group: SIGTERM, KILL_GRACE seconds, SIGKILL — the guard included).

Only ``os`` and ``sys`` are imported before the exec (start-up cost); no ``procrun`` import:
``-I`` ignores PYTHONPATH.
"""
from __future__ import annotations

import os
import sys


def _guard(fd: int, grace: float) -> None:
    import signal
    import time

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):  # never hold the program's pipes
        os.dup2(null, std)
    os.closerange(3, fd)
    os.closerange(fd + 1, 65536)
    group = os.getpgrp()
    try:
        data = os.read(fd, 1)
    except OSError:
        data = b""
    if data:
        return  # the runner is done with the program
    try:  # the runner died: stop the whole group
        os.killpg(group, signal.SIGTERM)
        end = time.monotonic() + grace
        while time.monotonic() < end:
            os.kill(group, 0)  # the leader (the program) is still there
            time.sleep(0.05)
    except ProcessLookupError:
        pass
    os.killpg(group, signal.SIGKILL)  # what is left, and the guard itself


def main() -> None:
    fd, grace, program, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4:]
    first = os.fork()
    if first == 0:
        try:
            if os.fork() == 0:
                _guard(fd, grace)
        finally:
            os._exit(0)
    os.waitpid(first, 0)
    os.set_inheritable(fd, False)
    try:
        os.execv(program, argv)
    except OSError as exc:
        sys.stderr.write(f"cannot run {program}: {exc.strerror}\n")
        os._exit(127)


if __name__ == "__main__":
    main()
