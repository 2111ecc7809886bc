"""`agent-doc prompt`: the permission-prompt parser (fixtures of real-looking screens) and
`--answer` driving a real pane that runs a small fake TUI (raw-mode keys, redrawn cursor)."""

from __future__ import annotations

import json
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from agent_doc.prompt import Option, parse_option, parse_prompt, strip_ansi
from helpers.cli import Result
from helpers.tmux import TmuxServer

ESC = "\x1b"

# A Claude Code permission prompt as the terminal receives it: colours, bold, a box.
CLAUDE_SCREEN = (
    f"{ESC}[2m> run the tests{ESC}[0m\n"
    "\n"
    f"{ESC}[38;5;174m╭──────────────────────────────────────────────────────────╮{ESC}[39m\n"
    f"{ESC}[38;5;174m│{ESC}[39m {ESC}[1mBash command{ESC}[22m"
    "                                             "
    f"{ESC}[38;5;174m│{ESC}[39m\n"
    "│                                                          │\n"
    "│   npm test -- --watch=false                              │\n"
    "│   Run the test suite                                     │\n"
    "│                                                          │\n"
    "│ Do you want to proceed?                                  │\n"
    f"│ {ESC}[36m❯{ESC}[39m {ESC}[36m1. Yes{ESC}[39m"
    "                                                 │\n"
    "│   2. Yes, and don't ask again for npm test commands      │\n"
    "│   3. No, and tell Claude what to do differently (esc)    │\n"
    "╰──────────────────────────────────────────────────────────╯\n"
    f"   {ESC}[2mEsc to cancel{ESC}(B{ESC}[m\n"
    "\n"
)

PLAIN_SCREEN = textwrap.dedent(
    """\
    Some output above
    2.5 GB free on disk
    Allow this action?
      1. Yes
    > 2. No
    Esc to cancel
    """
)


def test_strip_ansi_rules() -> None:
    assert strip_ansi(f"{ESC}[1;31mred{ESC}[0m") == "red"
    assert strip_ansi(f"a{ESC}(Bb") == "aBb"  # ESC + one char: both removed ("(")
    assert strip_ansi(f"{ESC}=x") == "x"
    assert strip_ansi("plain ❯ text") == "plain ❯ text"


def test_parse_claude_screen_with_colours_and_box() -> None:
    info = parse_prompt(CLAUDE_SCREEN)
    assert info.active
    assert info.question == "Do you want to proceed?"
    assert [o.index for o in info.options] == [1, 2, 3]
    assert info.options[1].label == "Yes, and don't ask again for npm test commands"
    assert info.options[2].label == "No, and tell Claude what to do differently (esc)"
    assert info.selected == 0
    assert json.loads(info.to_json()) == {
        "active": True,
        "question": "Do you want to proceed?",
        "options": [
            {"index": 1, "label": "Yes"},
            {"index": 2, "label": "Yes, and don't ask again for npm test commands"},
            {"index": 3, "label": "No, and tell Claude what to do differently (esc)"},
        ],
        "selected": 0,
    }
    # exact serialisation: compact, key order active/question/options/selected, UTF-8 as is
    assert info.to_json().startswith('{"active":true,"question":"Do you want to proceed?",')
    assert info.to_json().endswith('"selected":0}')


def test_parse_plain_screen_gt_marker_and_number_quirk() -> None:
    info = parse_prompt(PLAIN_SCREEN)
    assert info.active
    assert info.question == "Allow this action?"
    assert info.options == [Option(1, "Yes"), Option(2, "No")]
    assert info.selected == 1
    # the "2.5 GB free" line is not an option (the reference read it as option 2)
    assert parse_option("2.5 GB free") is None


def test_parse_inactive_shapes() -> None:
    assert parse_prompt("just a shell\n$ ls\n").to_json() == '{"active":false}'
    # footer but no options
    assert parse_prompt("Working...\nEsc to cancel\n").to_dict() == {"active": False}
    # options without a marker: active, no "selected" field
    info = parse_prompt("Proceed?\n1. Yes\n2. No\nEsc to cancel\n")
    assert info.to_dict() == {
        "active": True,
        "question": "Proceed?",
        "options": [{"index": 1, "label": "Yes"}, {"index": 2, "label": "No"}],
    }
    # options but nothing above them: no "question" field
    info = parse_prompt("❯ 1. Yes\n  2. No\nEsc to cancel")
    assert info.to_dict() == {
        "active": True,
        "options": [{"index": 1, "label": "Yes"}, {"index": 2, "label": "No"}],
        "selected": 0,
    }


def test_parse_uses_last_footer_and_nearest_options() -> None:
    screen = "Old?\n❯ 1. A\n  2. B\nEsc to cancel\nNew question?\n  1. C\n❯ 2. D\nEsc to cancel\n"
    info = parse_prompt(screen)
    assert info.question == "New question?"
    assert info.options == [Option(1, "C"), Option(2, "D")]
    assert info.selected == 1


def test_parse_option_lines() -> None:
    assert parse_option("❯ 1. Yes") == (Option(1, "Yes"), True)
    assert parse_option("> 12. Twelve") == (Option(12, "Twelve"), True)
    assert parse_option("3. No") == (Option(3, "No"), False)
    assert parse_option("1.") is None
    assert parse_option("1.   ") is None
    assert parse_option("x. nope") is None
    assert parse_option("+1. nope") is None
    assert parse_option("Yes") is None


# -- a real pane with a fake TUI -----------------------------------------------------------------

FAKE_TUI = r'''
import os, sys, termios, time, tty

Q1 = "Do you want to proceed?"
O1 = ["Yes", "Yes, and don't ask again for: npm test", "No, and tell Claude what to do (esc)"]
Q2 = "Do you want to delete everything?"
O2 = ["Delete", "Keep"]
question, options = Q1, O1
cursor = int(os.environ.get("TUI_START", "0"))
change = os.environ.get("TUI_CHANGE_ON_KEY") == "1"
ignore_enter = int(os.environ.get("TUI_IGNORE_ENTER", "0"))  # drop the first N Enters
W = 64

def row(text):
    plain = text
    for code in ("\x1b[36m", "\x1b[39m", "\x1b[1m", "\x1b[22m"):
        plain = plain.replace(code, "")
    return "\u2502 " + text + " " * max(0, W - 2 - len(plain)) + "\u2502\r\n"

def draw():
    out = ["\x1b[2J\x1b[H", "\u256d" + "\u2500" * W + "\u256e\r\n"]
    out.append(row("\x1b[1mBash command\x1b[22m"))
    out.append(row(""))
    out.append(row("  rm -rf build"))
    out.append(row(""))
    out.append(row(question))
    for i, opt in enumerate(options):
        mark = "\x1b[36m\u276f\x1b[39m" if i == cursor else " "
        out.append(row(f"{mark} {i + 1}. {opt}"))
    out.append("\u2570" + "\u2500" * W + "\u256f\r\n")
    out.append("   Esc to cancel\r\n")
    sys.stdout.write("".join(out))
    sys.stdout.flush()

fd = sys.stdin.fileno()
old = termios.tcgetattr(fd)
tty.setraw(fd)
chosen = None
try:
    draw()
    while chosen is None:
        ch = os.read(fd, 1)
        if ch == b"\x1b":
            seq = os.read(fd, 2)
            if seq in (b"[A", b"OA", b"[B", b"OB"):
                if change:
                    question, options, cursor, change = Q2, O2, 0, False
                elif seq[1:] == b"A":
                    cursor = max(0, cursor - 1)
                else:
                    cursor = min(len(options) - 1, cursor + 1)
                draw()
        elif ch in (b"\r", b"\n"):
            if ignore_enter:
                ignore_enter -= 1
                continue
            chosen = options[cursor]
finally:
    termios.tcsetattr(fd, termios.TCSADRAIN, old)
sys.stdout.write("\x1b[2J\x1b[H")
sys.stdout.write(f"CHOSE: {chosen}\n")
sys.stdout.flush()
time.sleep(120)
'''


def _tui_pane(tmux_server: TmuxServer, tmp_path: Path, **env: str) -> str:
    script = tmp_path / "tui.py"
    script.write_text(FAKE_TUI, encoding="utf-8")
    args = ["new-window", "-d", "-t", "=main:", "-P", "-F", "#{pane_id}"]
    for k, v in env.items():
        args += ["-e", f"{k}={v}"]
    pane = tmux_server.tmux(*args, sys.executable, str(script))
    tmux_server.wait_for(pane, "Esc to cancel")
    return pane


def _claimed_doc(cli: Callable[..., Result], project: Path, pane: str) -> Path:
    doc = project / "task.md"
    doc.write_text(f"---\nagent_doc_session: {uuid.uuid4()}\n---\n# Task\n", encoding="utf-8")
    r = cli("claim", str(doc), "--pane", pane, cwd=project)
    assert r.returncode == 0, r
    return doc


def _wait_text(tmux_server: TmuxServer, pane: str, text: str, timeout: float = 5.0) -> str:
    return tmux_server.wait_for(pane, text, timeout=timeout)


def test_prompt_json_from_a_real_pane(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    tmux_server.start()
    pane = _tui_pane(tmux_server, tmp_path, TUI_START="1")
    doc = _claimed_doc(cli, project, pane)
    r = cli("prompt", str(doc), cwd=project)
    assert r.returncode == 0, r
    data = json.loads(r.stdout)
    assert data["active"] is True
    assert data["question"] == "Do you want to proceed?"
    assert [o["index"] for o in data["options"]] == [1, 2, 3]
    assert data["selected"] == 1
    assert r.stdout.count("\n") == 1  # one line
    # --all: one element, flattened, with session_id and file
    r = cli("prompt", "--all", cwd=project)
    assert r.returncode == 0, r
    items = json.loads(r.stdout)
    assert len(items) == 1
    assert items[0]["file"] == "task.md"
    assert items[0]["active"] is True and items[0]["selected"] == 1
    assert "session_id" in items[0]


def test_prompt_inactive_for_unclaimed_and_plain_panes(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
) -> None:
    tmux_server.start()
    doc = project / "free.md"
    doc.write_text("# no frontmatter\n", encoding="utf-8")
    before = doc.read_bytes()
    r = cli("prompt", str(doc), cwd=project)
    assert r.returncode == 0, r
    assert r.stdout == '{"active":false}\n'
    assert doc.read_bytes() == before  # prompt never writes a session UUID
    shell = tmux_server.new_pane()
    doc2 = _claimed_doc(cli, project, shell)
    r = cli("prompt", str(doc2), cwd=project)
    assert json.loads(r.stdout) == {"active": False}
    r = cli("prompt", cwd=project)
    assert r.returncode != 0 and "FILE required when not using --all" in r.stderr


@pytest.mark.parametrize(("start", "choose", "label"), [
    ("0", 3, "No, and tell Claude what to do (esc)"),
    ("2", 1, "Yes"),
    ("1", 2, "Yes, and don't ask again for: npm test"),
])
def test_answer_navigates_and_confirms(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
    start: str,
    choose: int,
    label: str,
) -> None:
    tmux_server.start()
    pane = _tui_pane(tmux_server, tmp_path, TUI_START=start)
    doc = _claimed_doc(cli, project, pane)
    r = cli("prompt", "--answer", str(choose), str(doc), cwd=project)
    assert r.returncode == 0, r
    assert f"Sent option {choose} to pane {pane}" in r.stderr
    screen = _wait_text(tmux_server, pane, "CHOSE:")
    assert f"CHOSE: {label}" in screen


def test_answer_refuses_when_prompt_changes(
    cli: Callable[..., Result], project: Path, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    tmux_server.start()
    # the TUI replaces its prompt by a different one as soon as it receives an arrow key
    pane = _tui_pane(tmux_server, tmp_path, TUI_CHANGE_ON_KEY="1")
    doc = _claimed_doc(cli, project, pane)
    r = cli("prompt", "--answer", "2", str(doc), cwd=project)
    assert r.returncode == 1, r
    assert "changed" in r.stderr and "nothing was confirmed" in r.stderr
    screen = _wait_text(tmux_server, pane, "Do you want to delete everything?")
    time.sleep(0.3)  # would an Enter have arrived, the TUI would print CHOSE
    screen = tmux_server.capture(pane)
    assert "CHOSE" not in screen
    assert "Do you want to delete everything?" in screen


def test_answer_errors(
    cli: Callable[..., Result],
    project: Path,
    tmux_server: TmuxServer,
    tmp_path: Path,
) -> None:
    tmux_server.start()
    pane = _tui_pane(tmux_server, tmp_path)
    doc = _claimed_doc(cli, project, pane)
    r = cli("prompt", "--answer", "7", str(doc), cwd=project)
    assert r.returncode == 1 and "option 7 out of range (1-3)" in r.stderr, r
    time.sleep(0.2)
    assert "CHOSE" not in tmux_server.capture(pane)
    # a plain shell pane: no prompt
    shell = tmux_server.new_pane()
    doc2 = project / "other.md"
    doc2.write_text(f"---\nagent_doc_session: {uuid.uuid4()}\n---\n", encoding="utf-8")
    assert cli("claim", str(doc2), "--pane", shell, cwd=project).returncode == 0
    r = cli("prompt", "--answer", "1", str(doc2), cwd=project)
    assert r.returncode == 1 and "no active prompt detected" in r.stderr, r
    # an unclaimed document
    doc3 = project / "none.md"
    doc3.write_text(f"---\nagent_doc_session: {uuid.uuid4()}\n---\n", encoding="utf-8")
    r = cli("prompt", "--answer", "1", str(doc3), cwd=project)
    assert r.returncode == 1 and "no pane registered" in r.stderr, r


def test_prompt_all_without_a_server_is_an_empty_list(
    cli: Callable[..., Result], project: Path, tmp_path: Path
) -> None:
    """An editor plugin polls `prompt --all`: no tmux server means no prompts, not an error
    (issue 14). Nothing on stderr unless stderr is a terminal. The test's own TMUX_TMPDIR has
    no server (conftest), so no user server is involved."""
    import os
    import pty
    import subprocess

    from helpers.paths import SRC

    doc = project / "task.md"
    doc.write_text(f"---\nagent_doc_session: {uuid.uuid4()}\n---\n# t\n", encoding="utf-8")
    reg = project / ".agent-doc" / "sessions.json"
    sid = doc.read_text().split("agent_doc_session: ")[1].split("\n")[0]
    reg.write_text(json.dumps({sid: {"pane": "%0", "pid": 4242, "cwd": str(project),
                                     "started": "x", "file": "task.md", "window": "@0"}}))
    before = reg.read_bytes()
    r = cli("prompt", "--all", cwd=project)
    assert r.returncode == 0, r
    assert r.stdout == "[]\n" and r.stderr == ""
    assert reg.read_bytes() == before
    # stderr on a terminal: one line saying why the list is empty
    leader, follower = pty.openpty()
    p = subprocess.run(
        [sys.executable, "-m", "agent_doc", "prompt", "--all"], cwd=project, stdout=subprocess.PIPE,
        stderr=follower, env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=60,
    )
    os.close(follower)
    said = os.read(leader, 4096).decode()
    os.close(leader)
    assert p.returncode == 0 and p.stdout == b"[]\n"
    assert "no tmux server is running" in said


def test_answer_the_agent_did_not_take_is_an_error(
    cli: Callable[..., Result], project: Path, tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """An agent that drops the Enter (it was not reading its input yet; the real Claude Code
    did once on a loaded machine): `--answer` must not report the prompt answered, and must
    not press Enter a second time (a late first one would confirm the next prompt)."""
    tmux_server.start()
    pane = _tui_pane(tmux_server, tmp_path, TUI_IGNORE_ENTER="1")
    doc = _claimed_doc(cli, project, pane)
    r = cli("prompt", "--answer", "1", str(doc), cwd=project)
    assert r.returncode == 1, r
    assert f"pane {pane} still shows the prompt" in r.stderr, r
    assert "the agent did not take the answer" in r.stderr and "hint:" in r.stderr, r
    screen = tmux_server.capture(pane)
    assert "CHOSE" not in screen and "Do you want to proceed?" in screen, screen
    r = cli("prompt", "--answer", "1", str(doc), cwd=project)  # the user tries again
    assert r.returncode == 0, r
    assert "CHOSE: Yes" in _wait_text(tmux_server, pane, "CHOSE:")
