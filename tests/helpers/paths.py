"""Where things are: the repository, its ``src`` folder, the fake agents of the tests."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
SRC = REPO / "src"
FAKES = TESTS / "fakes"
