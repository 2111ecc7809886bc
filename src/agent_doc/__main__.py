"""``python -m agent_doc`` runs the ``agent-doc`` command line."""

import sys

from agent_doc.cli import console_main

sys.exit(console_main())
