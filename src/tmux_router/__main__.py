"""``python -m tmux_router``: the ``tmux-router`` command (see :mod:`tmux_router.cli`)."""

import sys

from tmux_router.cli import main

sys.exit(main())
