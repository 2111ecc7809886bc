"""hostile: a cloned repository as an attacker wrote it, and the faults of a real machine.

Each case builds its own scratch world (an :class:`~stress.common.Env` with a project in it),
runs the real CLI the way a user would, and returns the violations it saw (an empty list means
the invariant held). The cases live in one module per concern; this module only collects and
runs them:

* ``stress.hostile_trust``  — project config/components that would run a program, pick an
  endpoint or an environment variable before the user trusted the project;
* ``stress.hostile_state``  — symlinks, FIFOs and foreign files under ``.agent-doc/`` or as the
  document; modes of copies of a document;
* ``stress.hostile_faults`` — full disk, permission errors, renamed documents, SIGKILLed
  daemons, git states: a paid answer is never lost, a failure changes nothing;
* ``stress.hostile_route``  — ``route`` types only into a live agent;
* ``stress.hostile_data``   — frontmatter values are data, never options.

A module that is not there (yet) is reported as a note, not as a pass.
"""

from __future__ import annotations

import importlib
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from stress.common import Env, Tally

PART = "hostile"

MODULES = (
    "stress.hostile_trust",
    "stress.hostile_state",
    "stress.hostile_faults",
    "stress.hostile_route",
    "stress.hostile_data",
)


class Skip(Exception):
    """Raised by a case that cannot run here (e.g. no tmpfs without root); the reason is
    printed as a note and the case counts no check."""


@dataclass(frozen=True)
class Case:
    #: short name, shown in violations
    name: str
    #: the invariant the case checks (one table row per invariant)
    invariant: str
    #: builds its world inside the given Env and returns the violations it saw
    run: Callable[[Env, random.Random], list[str]]


def run(tally: Tally, *, seed: int, keep: bool = False) -> None:
    rng = random.Random(seed)
    for modname in MODULES:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
            tally.note(f"hostile: {modname} is missing: its cases did not run")
            continue
        cases: list[Case] = list(mod.CASES)
        for case in cases:
            env = Env(f"hostile-{case.name}", keep=keep)
            try:
                problems = case.run(env, rng)
            except Skip as why:
                tally.note(f"hostile: {case.name} skipped: {why}")
                continue
            except Exception:
                problems = [f"the case itself crashed:\n{traceback.format_exc()}"]
            finally:
                env.close()
            detail = f"[{case.name}] " + "\n".join(problems)
            if keep:
                detail += f"\n(kept: {env.base})"
            tally.check(PART, case.invariant, not problems, detail)
