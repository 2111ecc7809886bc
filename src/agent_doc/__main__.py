"""``python -m agent_doc`` runs the ``agent-doc`` command line."""

import sys

from agent_doc.cli import main

sys.exit(main())
