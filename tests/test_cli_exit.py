"""The console script's fast exit: output complete, exit code kept, normal shutdown when
anything could still need the interpreter."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent_doc import cli

SCRIPT = Path(sys.executable).parent / "agent-doc"


def _agent_doc() -> list[str]:
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "agent_doc"]


def test_output_is_complete_and_exit_code_kept_through_a_pipe(tmp_path: Path) -> None:
    r = subprocess.run([*_agent_doc(), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.startswith("agent-doc") and "Start with `agent-doc demo`" in r.stdout
    r = subprocess.run([*_agent_doc(), "no-such-command"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2 and "unknown command 'no-such-command'" in r.stderr


def test_large_output_into_a_slow_reader_is_not_cut(tmp_path: Path) -> None:
    doc = tmp_path / "d.md"
    doc.write_text("".join(f"## Section {i}\n\nbody {i}\n\n" for i in range(3000)))
    p = subprocess.Popen([*_agent_doc(), "outline", "--json", str(doc)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, cwd=tmp_path)
    assert p.stdout is not None
    chunks = []
    while chunk := p.stdout.read(8192):  # slower than the writer: it blocks on a full pipe
        chunks.append(chunk)
        time.sleep(0.002)
    assert p.wait(timeout=60) == 0
    out = b"".join(chunks)
    assert len(out) > 150_000  # more than twice a pipe buffer
    assert out.rstrip().endswith(b"]") and out.count(b"Section ") == 3000


class _Exited(Exception):
    pass


@pytest.fixture
def fake_exit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def _exit(rc: int) -> None:
        calls.append(rc)
        raise _Exited

    monkeypatch.setattr(os, "_exit", _exit)
    monkeypatch.setattr(cli, "main", lambda: 3)
    return calls


def test_fast_exit_when_nothing_else_needs_the_interpreter(
    fake_exit: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atexit, "_ncallbacks", lambda: 0)  # pytest itself registers some
    with pytest.raises(_Exited):
        cli.console_main()
    assert fake_exit == [3]


def test_normal_exit_when_an_atexit_callback_is_registered(fake_exit: list[int]) -> None:
    def cb() -> None:
        pass

    atexit.register(cb)
    try:
        assert cli.console_main() == 3
    finally:
        atexit.unregister(cb)
    assert fake_exit == []


def test_normal_exit_when_another_thread_runs(fake_exit: list[int]) -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert cli.console_main() == 3
    finally:
        stop.set()
        t.join()
    assert fake_exit == []
