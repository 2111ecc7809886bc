"""The Neovim plugin itself (issue 15): found by the Python package, its Lua clean under
luacheck, help for every command, and its tmux commands against an isolated tmux server —
`:AgentDocSubmit` on a claimed document types `/agent-doc FILE` into the pane exactly once,
`:AgentDocSync` from a two-column window layout gives two tmux columns, `:AgentDocClaim left`
binds the document, failures are shown with agent-doc's error and hint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

import helpers.docs
from agent_doc.editors import plugin_dir
from helpers.cli import trust_project
from helpers.tmux import TmuxServer, logger_pane
from nvim_driver import Nvim, agent_doc_cmd, nvim_binaries, require_nvims

NVIMS = nvim_binaries()
COMMANDS = ["AgentDocSubmit", "AgentDocRoute", "AgentDocClaim", "AgentDocSync", "AgentDocDiff",
            "AgentDocStatus", "AgentDocReset", "AgentDocRecover"]


@pytest.fixture
def needs_nvim_fixture() -> None:
    require_nvims(NVIMS)


needs_nvim = pytest.mark.usefixtures("needs_nvim_fixture")
# with no Neovim, one "none" case per test: needs_nvim then skips it loudly (fails in CI)
each_nvim = pytest.mark.parametrize("nvim", [p for _v, p in NVIMS] or [""],
                                    ids=[v for v, _p in NVIMS] or ["none"])


make_doc = partial(helpers.docs.make_doc, body="\nQ?\n")


def test_editor_path_prints_the_plugin_folder(cli) -> None:
    r = cli("editor", "path", "nvim")
    assert r.returncode == 0, r
    folder = Path(r.stdout.strip())
    assert folder == Path(plugin_dir("nvim"))
    assert (folder / "lua" / "agent_doc" / "init.lua").is_file()
    assert (folder / "plugin" / "agent_doc.lua").is_file()
    assert (folder / "doc" / "agent-doc.txt").is_file()


def test_luacheck_is_clean() -> None:
    luacheck = shutil.which("luacheck")
    if luacheck is None:
        reason = "LUACHECK NOT FOUND: apt-get install lua-check; the Lua was not checked"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    folder = plugin_dir("nvim")
    r = subprocess.run([luacheck, "--config", ".luacheckrc", "--formatter", "plain", "lua",
                        "plugin"], cwd=folder, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_command_has_help() -> None:
    text = (Path(plugin_dir("nvim")) / "doc" / "agent-doc.txt").read_text()
    for cmd in COMMANDS:
        assert f"*:{cmd}*" in text, cmd
    assert "*agent-doc*" in text


@needs_nvim
@each_nvim
def test_help_tags_and_commands_exist(nvim: str, tmp_path: Path) -> None:
    doc_dir = tmp_path / "rtp" / "doc"
    shutil.copytree(Path(plugin_dir("nvim")) / "doc", doc_dir)
    with Nvim(nvim, [], cwd=str(tmp_path)) as nv:
        nv.command(f"helptags {doc_dir}")
        nv.lua("vim.opt.runtimepath:append(...)", str(tmp_path / "rtp"))
        nv.command("help agent-doc")
        assert nv.lua("return vim.bo.filetype") == "help"
        for cmd in COMMANDS:
            nv.command(f"help :{cmd}")
            assert f":{cmd}" in nv.lua("return vim.fn.getline('.')"), cmd
            assert nv.lua("return vim.fn.exists(':' .. ...)", cmd) == 2, cmd


@needs_nvim
@each_nvim
def test_submit_routes_to_the_claimed_pane_exactly_once(
    nvim: str, tmux_server: TmuxServer, project: Path, tmp_path: Path, cli
) -> None:
    tmux_server.start()
    pane, log = logger_pane(tmux_server, tmp_path, "target")
    doc = make_doc(project, "plan.md")
    assert cli("claim", str(doc), "--pane", pane, cwd=project).returncode == 0
    with Nvim(nvim, [doc], cwd=str(project)) as nv:
        nv.input("GoAnother question?<Esc>")
        nv.wait_for(lambda: "Another question?" in nv.text(), what="typing")
        nv.command("AgentDocSubmit")
        tmux_server.wait_for(pane, f"GOT /agent-doc {doc}", timeout=30)
        time.sleep(1.0)  # a second copy would have arrived by now
        assert log.read_text().splitlines() == [repr(f"/agent-doc {doc}\n")]
        assert "Another question?" in doc.read_text()  # submit saved first
        assert not nv.lua("return vim.bo.modified")


@needs_nvim
@each_nvim
def test_sync_from_two_window_columns_gives_two_tmux_columns(
    nvim: str, tmux_server: TmuxServer, project: Path, tmp_path: Path, cli
) -> None:
    tmux_server.start()
    pane_a, _ = logger_pane(tmux_server, tmp_path, "a")
    pane_b, _ = logger_pane(tmux_server, tmp_path, "b")
    a, b = make_doc(project, "a.md"), make_doc(project, "b.md")
    assert cli("claim", str(a), "--pane", pane_a, cwd=project).returncode == 0
    assert cli("claim", str(b), "--pane", pane_b, cwd=project).returncode == 0
    with Nvim(nvim, [a], cwd=str(project)) as nv:
        nv.command(f"rightbelow vsplit {b}")
        assert nv.lua("return require('agent_doc').columns()") == [[str(a)], [str(b)]]
        nv.command("AgentDocSync")

        def side_by_side() -> bool:
            rows = tmux_server.tmux("list-panes", "-a", "-F",
                                    "#{pane_id} #{window_id} #{pane_left} #{pane_top}")
            where = {r.split()[0]: r.split()[1:] for r in rows.splitlines()}
            wa, wb = where.get(pane_a), where.get(pane_b)
            return bool(wa and wb and wa[0] == wb[0] and int(wa[1]) < int(wb[1])
                        and wa[2] == wb[2])

        nv.wait_for(side_by_side, timeout=30, what="two tmux columns")


@needs_nvim
@each_nvim
def test_claim_with_a_position_and_failures_show_error_and_hint(
    nvim: str, tmux_server: TmuxServer, project: Path
) -> None:
    tmux_server.start()
    doc = make_doc(project, "c.md")
    with Nvim(nvim, [doc], cwd=str(project)) as nv:
        nv.command("AgentDocClaim left")
        reg = project / ".agent-doc" / "sessions.json"
        nv.wait_for(lambda: reg.exists() and len(json.loads(reg.read_text())) == 1,
                    timeout=30, what="the claim")
        nv.wait_for(lambda: nv.lua("return require('agent_doc').is_claimed()"), what="claimed")
        # a failure: recover on a read-only... simplest real failure: a bad position
        nv.command("AgentDocClaim nowhere")
        err = nv.wait_for(lambda: nv.lua("return require('agent_doc').last_error"), timeout=30,
                          what="the error")
        assert err["what"] == "claim"
        assert "nowhere" in err["message"]
        assert err.get("hint")


@needs_nvim
@each_nvim
def test_submit_runs_the_cycle_without_blocking_and_shows_progress(
    nvim: str, project: Path, tmp_path: Path
) -> None:
    agent = tmp_path / "slow_agent"
    agent.write_text(f"#!{sys.executable}\nimport sys, time\nsys.stdin.read()\ntime.sleep(2)\n"
                     "print('Slow answer.')\n")
    agent.chmod(0o755)
    (project / ".agent-doc" / "config.toml").write_text(
        f'[agents.slow]\ncommand = "{agent}"\nprotocol = "text"\n')
    trust_project(project)
    subprocess.run([*agent_doc_cmd(), "init", str(project / "d.md"), "D", "--agent", "slow"],
                   check=True, capture_output=True)
    doc = project / "d.md"
    with Nvim(nvim, [doc], cwd=str(project)) as nv:
        nv.wait_registered(doc)
        nv.input("GoWhat now?<Esc>")
        nv.wait_for(lambda: "What now?" in nv.text(), what="typing")
        nv.command("AgentDocSubmit")
        # the editor answers while the agent works, and the statusline says so
        status = nv.wait_for(lambda: nv.lua("return require('agent_doc').statusline()"),
                             what="progress in the statusline")
        assert status.startswith("agent-doc: run")
        nv.input("Gotyping while it works<Esc>")
        nv.wait_for(lambda: "Slow answer." in nv.text(), timeout=60, what="the answer")
        text = nv.text()
        assert text.index("What now?") < text.index("Slow answer.") < text.index(
            "typing while it works")
        assert doc.read_text() == text
        nv.wait_for(lambda: nv.lua("return require('agent_doc').statusline()") == "",
                    what="progress cleared")


@needs_nvim
@each_nvim
def test_diff_and_status_open_scratch_splits_and_errors_reach_messages(
    nvim: str, project: Path
) -> None:
    subprocess.run([*agent_doc_cmd(), "init", str(project / "e.md"), "E", "--agent", "offline"],
                   check=True, capture_output=True)
    doc = project / "e.md"
    with Nvim(nvim, [doc], cwd=str(project)) as nv:
        nv.input("GoA new question?<Esc>")
        nv.command("silent write")
        nv.command("AgentDocDiff")
        nv.wait_for(lambda: nv.lua("return vim.bo.filetype") == "diff", what="the diff split")
        assert "+A new question?" in nv.lines()
        assert nv.lua("return vim.bo.buftype") == "nofile"
        assert len(nv.lua("return vim.api.nvim_tabpage_list_wins(0)")) == 2
        nv.command("close")
        nv.command("AgentDocStatus")
        nv.wait_for(lambda: nv.lua("return vim.bo.buftype") == "nofile", what="the status split")
        assert any(line.startswith("project: ") for line in nv.lines()), nv.lines()
        nv.command("close")
        # a failure: reset of a document whose frontmatter is broken
        doc.write_text("---\nagent_doc_session: [unclosed\n---\n")
        nv.command("edit!")
        nv.command("AgentDocReset")
        err = nv.wait_for(lambda: nv.lua("return require('agent_doc').last_error"), timeout=30,
                          what="the error")
        assert err["what"] == "reset" and err.get("hint"), err
        nv.wait_for(lambda: "hint: " + err["hint"] in nv.messages(), what="the hint shown")


def test_no_editor_registered_means_no_rpc_import(project: Path, cli) -> None:
    """`run`/`write` pay nothing for the editor bridge unless an editor is registered; a
    registration left by an editor that is gone is dropped, and the disk path is taken."""
    assert cli("init", str(project / "f.md"), "F", "--agent", "offline").returncode == 0
    doc = project / "f.md"
    code = ("import sys; from agent_doc.cli import main; rc = main(['write', sys.argv[1]]); "
            "print(rc, 'msgpack' in sys.modules, 'agent_doc.editors.bridge' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(doc)], input="An answer.",
                       capture_output=True, text=True)
    assert r.stdout.split() == ["0", "False", "False"], r
    # an editor registered, then gone (its pid is dead): bridge looked at, msgpack not loaded
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert cli("editor", "register", str(doc), "--server", "/nonexistent/sock",
               "--pid", str(dead.pid)).returncode == 0
    regs = list((project / ".agent-doc" / "editors").glob("*.json"))
    assert len(regs) == 1
    r = subprocess.run([sys.executable, "-c", code, str(doc)], input="Another answer.",
                       capture_output=True, text=True)
    assert r.stdout.split() == ["0", "False", "True"], r
    assert list((project / ".agent-doc" / "editors").glob("*.json")) == []
    assert doc.read_text().count("Another answer.") == 1


@needs_nvim
@each_nvim
def test_readme_packpath_install_works(nvim: str, tmp_path: Path) -> None:
    """The README's two packpath lines, run as written (HOME is the test's own), give a Neovim
    with the commands and the module."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```sh\n(# a plain packpath.*?)```", readme, flags=re.S)
    assert block, "the README's packpath block is missing"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "agent-doc").write_text(f"#!/bin/sh\nexec {' '.join(agent_doc_cmd())} \"$@\"\n")
    (bindir / "agent-doc").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    subprocess.run(["sh", "-ec", block.group(1)], env=env, check=True)
    probe = ("lua io.stdout:write(vim.fn.exists(':AgentDocSubmit') .. ' ' .. "
             "tostring(pcall(require, 'agent_doc')))")
    r = subprocess.run([nvim, "--headless", "-n", "-i", "NONE", "-u", "NORC", f"+{probe}",
                        "+qa!"], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "2 true", r


def test_registrations_that_are_not_our_unix_socket_are_ignored(project: Path, cli,
                                                                  tmp_path: Path) -> None:
    """A registration file can only point at a Unix socket of this user: a TCP address is
    refused at registration, and a planted file naming one (or a plain file) is never
    connected to — the answer goes to disk."""
    assert cli("init", str(project / "g.md"), "G", "--agent", "offline").returncode == 0
    doc = project / "g.md"
    r = cli("editor", "register", str(doc), "--server", "127.0.0.1:6666", "--pid", "1")
    assert r.returncode == 1 and "hint:" in r.stderr, r
    from agent_doc.editors.bridge import live_editors, registration_path
    from agent_doc.project import Project

    proj = Project.for_document(str(doc))
    not_a_socket = tmp_path / "plain"
    not_a_socket.write_text("")
    for n, server in enumerate(["127.0.0.1:6666", str(not_a_socket)]):
        path = registration_path(proj, str(doc), 1)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"server": server, "pid": 1, "start": None}))
        assert live_editors(proj, str(doc)) == []
        w = cli("write", str(doc), input=f"Answer {n}.")
        assert w.returncode == 0 and "[editor]" not in w.stderr, w
        assert doc.read_text().count(f"Answer {n}.") == 1
