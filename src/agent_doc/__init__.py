"""agent-doc: interactive document sessions with AI agents.

A Markdown document is the UI: the user edits it, agent-doc sends what changed since the last
submit to an agent and writes the answer back, with every shared file protected by locks and
atomic writes. See README.md.
"""

__version__ = "0.1.0"
