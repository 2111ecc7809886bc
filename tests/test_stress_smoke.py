"""The stress suite (``python -m stress``) run from the test suite, so it cannot rot.

* :func:`test_stress_smoke` — the ``--smoke`` size (torture 0.3 min with 4 workers and an
  editor saving by rename, 24 crash trials, the bad-input corpus with a 5 MB document); about
  60 s. Marked ``stress`` too: a concurrency run can find a rare new race on any run (it found
  one in ``sync``), and the default run is CI's gate, so it stays deterministic; run both
  with ``pytest -m stress`` before a release.
* :func:`test_stress_default_size` — the default size (``@pytest.mark.stress``: run with
  ``pytest -m stress``), about 5 minutes on 2 cores.

Both run the suite as a real subprocess and fail with its table and the examples of every
violated invariant; a harness error (a part that could not run) is a failure too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run_stress(*args: str, timeout: float) -> dict:
    if not shutil.which("tmux"):
        pytest.skip("the stress suite needs tmux")
    p = subprocess.run([sys.executable, "-m", "stress", "--json", *args], cwd=REPO,
                       capture_output=True, text=True, timeout=timeout)
    try:
        result = json.loads(p.stdout)
    except ValueError:
        pytest.fail(f"python -m stress printed no JSON (rc {p.returncode}):\n{p.stderr[-4000:]}")
    parts = {row["part"] for row in result["rows"]}
    assert {"torture", "crash", "badinput", "streaming"} <= parts, (parts, p.stderr[-4000:])
    broken = [row for row in result["rows"] if row["violations"]]
    report = "\n".join(
        f"[{r['part']}] {r['invariant']}: {r['violations']} of {r['checks']}\n  "
        + "\n  ".join(r["examples"][:2]) for r in broken)
    assert not broken and p.returncode == 0, f"invariants broken:\n{report}"
    # the checks really ran: every part made a meaningful number of them
    checks = {part: sum(r["checks"] for r in result["rows"] if r["part"] == part)
              for part in parts}
    assert checks["torture"] > 100 and checks["crash"] > 50 and checks["badinput"] > 50, checks
    return result


@pytest.mark.stress
def test_stress_smoke() -> None:
    _run_stress("--smoke", "--editor-saves", "rename", "--seed", "1", timeout=240)


@pytest.mark.stress
@pytest.mark.timeout(1800)
def test_stress_default_size() -> None:
    _run_stress(timeout=1800)
