"""tmux-router: bind keys (documents, files, anything) to tmux panes and route input to them.

Project-agnostic: it never imports ``agent_doc``. Parts: ``registry`` (the JSON map from key to
pane, transactional), ``tmux`` (the one wrapper around the tmux CLI), ``sync`` (declarative
layout reconciliation) and ``cli`` (the ``tmux-router`` command).
"""

__version__ = "0.1.0"
