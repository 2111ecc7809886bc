"""The one base of every error tmux-router raises for a user to read.

``tmux_router`` never imports ``agent_doc``, so its errors cannot be ``AgentDocError``s; the
``agent-doc`` CLI (and ``tmux-router``'s own) recognise them by this base class and print their
message (exit 1). Imports nothing: every module of the package may import it.
"""

from __future__ import annotations


class TmuxRouterError(Exception):
    """A failure of the routing library whose message is meant for the user (registry, tmux,
    layout, resolver and command-line errors subclass it)."""
