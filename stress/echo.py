"""A pane program for the stress suite: append every line typed into the pane to a log file.

Run as ``python -m stress.echo LOG``; each line read from the terminal (raw bytes) is appended
to LOG with one ``O_APPEND`` write, so the suite can check what ``route`` typed.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    log = sys.argv[1]
    for line in sys.stdin.buffer:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


if __name__ == "__main__":
    main()
