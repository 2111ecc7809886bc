"""The argparse-free parser of hotkey commands must agree with argparse or defer to it."""

from __future__ import annotations

import argparse
import importlib

import pytest

from agent_doc.cli import FAST_COMMANDS
from agent_doc.cli.fastargs import try_fast_parse

CASES = {
    "route": [["d.md"], ["d.md", "--pane", "%3"], ["--pane=%3", "d.md", "--json"],
              ["d.md", "-p", "%1", "-L", "sock"]],
    "claim": [["d.md"], ["d.md", "--position", "left", "--window", "@2"], ["d.md", "--json"]],
    "focus": [["d.md"], ["d.md", "--pane", "%9"]],
    "diff": [["d.md"], ["d.md", "--full"], ["d.md", "--stat", "-v"]],
    "prompt": [["d.md"], ["--all"], ["--answer", "2", "d.md"]],
    "resync": [[], ["--json"]],
    "sync": [["--col", "a.md,b.md", "--col", "c.md"], ["--col", "a.md", "--focus", "a.md"]],
    "run": [["d.md"], ["d.md", "--no-git", "--agent", "offline", "-b"],
            ["--dry-run", "d.md", "--model=m", "--no-wait", "--json"]],
    "write": [["d.md"], ["d.md", "--session-id", "s1", "--json"]],
    "recover": [["d.md"], ["d.md", "--json"]],
}

DEFER = {
    "route": [[], ["--help"], ["d.md", "--bogus"], ["d.md", "e.md"], ["--", "d.md"]],
    "diff": [["d.md", "--full", "--stat"]],
    "prompt": [["--answer", "x", "d.md"]],
}


def _argparse(cmd: str, argv: list[str]) -> dict:
    module = importlib.import_module(f"agent_doc.cli.{cmd}")
    parser = argparse.ArgumentParser()
    module.configure(parser)
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize(("cmd", "argv"), [(c, a) for c, cases in CASES.items() for a in cases])
def test_fast_parse_matches_argparse(cmd: str, argv: list[str]) -> None:
    module = importlib.import_module(f"agent_doc.cli.{cmd}")
    fast = try_fast_parse(module.configure, argv)
    assert fast is not None, f"{cmd} {argv} should be parsed without argparse"
    assert vars(fast) == _argparse(cmd, argv)


@pytest.mark.parametrize(("cmd", "argv"), [(c, a) for c, cases in DEFER.items() for a in cases])
def test_unusual_command_lines_defer_to_argparse(cmd: str, argv: list[str]) -> None:
    module = importlib.import_module(f"agent_doc.cli.{cmd}")
    assert try_fast_parse(module.configure, argv) is None


def test_every_fast_command_is_covered() -> None:
    assert set(CASES) == set(FAST_COMMANDS)


def test_usage_errors_still_come_from_argparse(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("route")
    assert r.returncode == 2
    assert "the following arguments are required: FILE" in r.stderr
    r = cli("diff", "x.md", "--full", "--stat")
    assert r.returncode == 2 and "not allowed with" in r.stderr
