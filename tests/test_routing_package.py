"""agent_doc.routing as a package: the façade of the old module and the value-class style.

The commands themselves are tested through the CLI (test_route, test_claim, test_layout_sync,
test_status); this file checks the structure the split promises: ``from agent_doc.routing
import NAME`` gives the object its module defines (never a submodule), importing the package
loads none of its modules, and the result classes follow one style (FrozenRecord on the hot
path, dataclasses elsewhere).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import agent_doc.routing as routing
from agent_doc.record import FrozenRecord

SRC = Path(__file__).resolve().parent.parent / "src"


@pytest.mark.parametrize("name", [*routing.__all__, "_check_exists", "_registry"])
def test_every_facade_name_is_its_modules_object(name: str) -> None:
    value = getattr(routing, name)
    module = sys.modules[f"agent_doc.routing.{routing._WHERE[name]}"]
    assert value is getattr(module, name)
    assert type(value).__name__ != "module", name


def test_importing_the_package_loads_none_of_its_modules() -> None:
    code = (
        "import sys, agent_doc.routing; "
        "print(sorted(m for m in sys.modules if m.startswith('agent_doc.routing.')))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": str(SRC)}, check=True)
    assert p.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        routing.no_such_name  # noqa: B018


def test_hot_results_are_frozen_records() -> None:
    r = routing.RouteResult("a.md", "sid", "%1", "sent")
    assert isinstance(r, FrozenRecord) and r == routing.RouteResult("a.md", "sid", "%1", "sent")
    with pytest.raises(AttributeError, match="immutable"):
        r.pane = "%2"  # type: ignore[misc]
    c = routing.ClaimResult("a.md", "a.md", "sid", False, "%1", "@1", None, False)
    assert isinstance(c, FrozenRecord) and c.removed == [] and c.warnings == []
    assert c.to_dict()["removed"] == []


def test_cold_results_are_dataclasses() -> None:
    from tmux_router import sync as tsync

    layout = routing.LayoutResult(["%1", "%2"], "@1")
    assert dataclasses.is_dataclass(layout) and layout.moved == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.window = "@2"  # type: ignore[misc]
    outcome = routing.SyncOutcome("s", "@1", pruned=1)
    assert dataclasses.is_dataclass(outcome) and outcome.written == []
    with pytest.raises(TypeError):  # pruned, moved, columns are keyword-only, as before
        routing.SyncOutcome("s", "@1", 1)  # type: ignore[misc]
    result = tsync.SyncResult("s", "@1", [], 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.moved = 1  # type: ignore[misc]
