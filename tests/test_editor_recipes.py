"""The README's recipes for disk-only editors (issue 15), tried for what can be tried here:
the vim recipe in a real vim inside an isolated tmux server (the answer written by agent-doc
appears in the open buffer by itself; the submit mapping runs the cycle in the background),
and the VS Code JSON parses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from helpers.paths import REPO
from helpers.tmux import TmuxServer
from helpers.waiting import wait_until

README = (REPO / "README.md").read_text()


def _block(after: str, lang: str) -> list[str]:
    tail = README[README.index(after):]
    return re.findall(rf"```{lang}\n(.*?)```", tail[: tail.index("\n## ")], flags=re.S)


def vim_recipe() -> str:
    m = re.search(r"<!-- vim-recipe -->\n```vim\n(.*?)```\n<!-- /vim-recipe -->", README,
                  flags=re.S)
    assert m, "the README's vim recipe block is missing"
    return m.group(1)


def test_vscode_recipe_json_parses() -> None:
    blocks = _block("### VS Code", "json")
    assert len(blocks) == 2
    tasks = json.loads(blocks[0])
    assert {t["args"][0] for t in tasks["tasks"]} == {"run", "route"}
    assert all(t["args"][1] == "${file}" for t in tasks["tasks"])
    keys = json.loads(blocks[1])
    assert keys[0]["command"] == "runCommands"


def test_vim_recipe_reloads_the_answer_and_submits(
    tmux_server: TmuxServer, project: Path, tmp_path: Path, cli
) -> None:
    vim = shutil.which("vim")
    if vim is None:
        reason = "VIM NOT FOUND: apt-get install vim; the vim recipe was not tried"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    # `agent-doc` on PATH for the recipe's job_start
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "agent-doc").write_text(
        f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'calls.log'}\n"
        f"PYTHONPATH={REPO / 'src'} exec {sys.executable} -m agent_doc \"$@\"\n")
    (bindir / "agent-doc").chmod(0o755)
    vimrc = tmp_path / "vimrc"
    vimrc.write_text("set nocompatible noswapfile nomore shortmess+=I ttimeoutlen=10\n"
                     "let mapleader = ','\n"
                     + vim_recipe())
    doc = project / "doc.md"
    assert cli("init", str(doc), "Vim", "--agent", "offline").returncode == 0
    with open(doc, "a") as f:
        f.write("First question?\n")
    tmux_server.start()
    pane = tmux_server.tmux(
        "new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}",
        f"env PATH={bindir}:{os.environ['PATH']} {vim} -u {vimrc} -i NONE {doc}")
    tmux_server.wait_for(pane, "First question?", timeout=20)
    # 1. an answer written to the file by another process shows up in vim by itself
    r = cli("write", str(doc), input="Answer written from outside.")
    assert r.returncode == 0, r
    screen = tmux_server.wait_for(pane, "Answer written from outside.", timeout=20)
    assert "W11" not in screen and "changed" not in screen
    # 2. the submit mapping: type a question, press <leader>as, the answer arrives
    tmux_server.tmux("send-keys", "-t", pane, "G", "o", "Second question?", "Escape")
    tmux_server.wait_for(pane, "Second question?", timeout=20)
    tmux_server.tmux("send-keys", "-t", pane, ",as")
    calls = tmp_path / "calls.log"
    wait_until(
        lambda: doc.read_text().count("## Assistant") >= 2, "the second answer in the document", 60,
        seen=lambda: f"document:\n{doc.read_text()}\nscreen:\n{tmux_server.capture(pane)}\n"
        f"calls.log: {calls.read_text() if calls.exists() else None!r}",
        interval=0.1,
    )
    text = doc.read_text()
    assert text.index("Second question?") < text.rindex("## Assistant")
    # vim's buffer holds the file as agent-doc wrote it (reloaded by the recipe's timer)
    out = tmp_path / "buffer.txt"

    def buffer_is_file() -> bool:
        tmux_server.tmux("send-keys", "-t", pane,
                         f":call writefile(getline(1, '$'), '{out}')", "Enter")
        time.sleep(0.3)
        return out.exists() and out.read_text() == text

    wait_until(buffer_is_file, "vim's buffer to hold the file as agent-doc wrote it", 30,
               seen=lambda: f"buffer: {out.read_text() if out.exists() else None!r}\n"
               f"file: {text!r}", interval=0.5)
    assert "W11" not in tmux_server.capture(pane)
    tmux_server.tmux("send-keys", "-t", pane, ":qa!", "Enter")
