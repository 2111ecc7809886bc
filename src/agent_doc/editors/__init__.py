"""Editor integrations: the Neovim plugin shipped inside the package (``nvim/``, found with
``agent-doc editor path nvim``) and the bridge that writes answers into a live editor buffer
(:mod:`agent_doc.editors.bridge`, over :mod:`agent_doc.editors.rpc`).

Nothing here is imported by the hotkey commands; :mod:`agent_doc.cycle` imports the bridge
only when an editor is registered for the project (``.agent-doc/editors/`` exists).
"""

from __future__ import annotations

import os

#: editors whose plugin ships in this package, name -> folder under this package
PLUGINS = {"nvim": "nvim"}


def plugin_dir(editor: str) -> str:
    """The folder to put on the editor's runtimepath (absolute)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), PLUGINS[editor])
