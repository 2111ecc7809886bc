"""The skill path and permission prompts against the REAL interactive Claude Code in tmux.

`route`'s auto-start starts the real CLI in an isolated tmux pane (as it does for users); the
stand-in API (:mod:`claude_kit`) plays the model: it answers `/agent-doc FILE` by calling the
Bash tool with the commands the skill prescribes (`agent-doc diff`, then `agent-doc write FILE
<<'…'`), or asks for a tool that needs permission so that the real permission prompt shows.
Skipped (loudly) only when the CLI cannot be installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from claude_kit import (
    CLAUDE_CODE_VERSION,
    FIXTURES,
    Reply,
    Request,
    StandIn,
    claude_env,
    prepare_interactive,
    require_claude,
)
from helpers.cli import run_cli
from helpers.waiting import wait_until

pytestmark = pytest.mark.skipif(not __import__("shutil").which("tmux"), reason="needs tmux")


class Pane:
    """The tmux server of the test (own TMUX_TMPDIR) and the agent pane `route` starts."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], env=self.env, capture_output=True,
                              text=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "claude:")

    def wait(self, predicate: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        """The pane's screen once PREDICATE holds for it."""
        screen = ""

        def shows() -> str | None:
            nonlocal screen
            screen = self.screen()
            return screen if predicate(screen) else None

        return wait_until(shows, f"{what} in the pane", timeout,
                          seen=lambda: f"the pane shows:\n{screen}", interval=0.3)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project under a SHORT path: `route` types `/agent-doc /abs/path` and Enter into the
    real TUI in one burst, and 2.1.332 takes a burst longer than ~60 characters for a paste
    (measured: 57 submitted, 63 not): the command stays typed, unsent. See
    test_route_of_a_long_path_is_submitted (xfail)."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="adr", dir="/tmp")) / "proj"
    (root / ".agent-doc").mkdir(parents=True)
    yield root
    shutil.rmtree(root.parent, ignore_errors=True)


@pytest.fixture
def tui(tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[StandIn, Pane]]:
    binary = require_claude()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "claude").symlink_to(binary)
    home = Path(os.environ["HOME"])
    prepare_interactive(home, project)
    with StandIn() as api:
        env = claude_env(home, api.url, CLAUDE_CODE_MAX_RETRIES="0")
        # `claude` and this checkout's `agent-doc` for the pane and for the skill's commands
        env["PATH"] = os.pathsep.join([str(bindir), os.path.dirname(sys.executable),
                                       env.get("PATH", "")])
        for key in [k for k in os.environ if k.startswith(("CLAUDE", "ANTHROPIC"))]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        pane = Pane(dict(os.environ))
        # the user's tmux server; `route` starts the agent's pane on it
        subprocess.run(["tmux", "-f", "/dev/null", "new-session", "-d", "-s", "work",
                        "-x", "160", "-y", "50"], env=pane.env, check=True)
        assert run_cli("skill", "install", cwd=project).returncode == 0
        yield api, pane
        print(f"stand-in API requests: {api.counts()}")


def start_agent(doc: Path, pane: Pane, elsewhere: Path) -> None:
    """`route` from outside the project: the first starts Claude Code, the second (once it is
    up) types `/agent-doc FILE` into it."""
    r = run_cli("route", str(doc), cwd=elsewhere)
    assert r.returncode == 0 and "Started Claude" in r.stderr, r
    pane.wait(lambda s: "? for shortcuts" in s or "mode on" in s, "Claude Code's input")
    r = run_cli("route", str(doc), cwd=elsewhere)
    assert r.returncode == 0 and "Sent /agent-doc" in r.stderr, r


def skill_player(doc: Path):  # type: ignore[no-untyped-def]
    """The model's side of the skill: diff, then write, then one line of text."""

    def play(request: Request) -> Reply:
        results = request.tool_results()
        if not results:
            assert "<command-name>/agent-doc</command-name>" in request.text or \
                "agent-doc" in request.last_user_text()
            return Reply.tool("Bash", {"command": f'agent-doc diff "{doc}"',
                                       "description": "What changed in the document"})
        shown = json.dumps(results)
        if "QUESTION-T1" in shown and "ANSWER to" not in shown:  # the diff came back
            return Reply.tool("Bash", {
                "command": f"agent-doc write \"{doc}\" <<'AGENT_DOC_ANSWER'\n"
                           "ANSWER to QUESTION-T1 with $dollars and `ticks`\nAGENT_DOC_ANSWER",
                "description": "Write the answer into the document"})
        return Reply.text(f"The answer is in {doc}.")

    return play


def test_skill_path_end_to_end(tui: tuple[StandIn, Pane], project: Path,
                               tmp_path: Path) -> None:
    api, pane = tui
    doc = project / "doc.md"
    doc.write_text("---\nagent: claude\n---\n\n# Session\n\n## User\n\nQUESTION-T1\n")
    api.responder = skill_player(doc)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    start_agent(doc, pane, elsewhere)
    pane.wait(lambda s: f"The answer is in {doc}." in s, "the skill's last line", timeout=90)
    text = doc.read_text()
    assert text.count("ANSWER to QUESTION-T1 with $dollars and `ticks`") == 1, text
    assert text.endswith("## Assistant\n\nANSWER to QUESTION-T1 with $dollars and `ticks`\n\n"
                         "## User\n\n")
    # the permission for the skill's own commands comes from the skill (allowed-tools): no
    # prompt was shown, and both commands ran and returned their output to the model
    turns = api.turns()
    assert len(turns) == 3, [t.tool_results() for t in turns]
    diff_result = json.dumps(turns[1].tool_results())
    assert "+QUESTION-T1" in diff_result and "is_error\": true" not in diff_result
    assert "Response appended" in json.dumps(turns[2].tool_results())
    # the snapshot is updated: the next diff is empty
    r = run_cli("diff", str(doc), cwd=elsewhere)
    assert r.returncode == 0 and r.stdout == "", r


def test_permission_prompt_is_detected_and_answered(tui: tuple[StandIn, Pane], project: Path,
                                                    tmp_path: Path) -> None:
    api, pane = tui
    doc = project / "doc.md"
    doc.write_text("---\nagent: claude\n---\n\n# Session\n\n## User\n\nQUESTION-P1\n")
    marker = project / "made-by-the-tool"

    def play(request: Request) -> Reply:
        if not request.tool_results():  # a command the skill does not allow: a prompt
            return Reply.tool("Bash", {"command": f"touch {marker}",
                                       "description": "Create a marker file"})
        return Reply.text("PERMISSION-DONE")

    api.responder = play
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    start_agent(doc, pane, elsewhere)
    screen = pane.wait(lambda s: "Do you want to proceed?" in s, "the permission prompt")
    r = run_cli("prompt", str(doc), cwd=elsewhere)
    assert r.returncode == 0, r
    info = json.loads(r.stdout)
    assert info["active"] is True and info["question"] == "Do you want to proceed?", info
    labels = [o["label"] for o in info["options"]]
    assert labels[0] == "Yes" and labels[-1] == "No" and len(labels) >= 3, labels
    assert [o["index"] for o in info["options"]] == list(range(1, len(labels) + 1))
    assert info["selected"] == 0
    if os.environ.get("AGENT_DOC_CAPTURE_FIXTURES"):
        folder = FIXTURES / CLAUDE_CODE_VERSION
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "permission-prompt.txt").write_text(screen)
    assert not marker.exists()
    r = run_cli("prompt", "--answer", "1", str(doc), cwd=elsewhere)
    if r.returncode == 1 and "did not take the answer" in r.stderr:
        # seen once under load: Claude Code drew the prompt before reading its input and
        # dropped the Enter; `--answer` says so (it never presses Enter twice), the user
        # answers again
        print(f"Claude Code dropped the first answer: {r.stderr.strip()}")
        r = run_cli("prompt", "--answer", "1", str(doc), cwd=elsewhere)
    assert r.returncode == 0, r
    pane.wait(lambda s: "PERMISSION-DONE" in s, "the model's answer after the tool ran")
    assert marker.exists()  # "Yes" was chosen: the command ran
    assert len(api.turns()) == 2
    r = run_cli("prompt", str(doc), cwd=elsewhere)
    assert json.loads(r.stdout)["active"] is False


def test_route_of_a_long_path_is_submitted(tui: tuple[StandIn, Pane], tmp_path: Path) -> None:
    api, pane = tui
    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 2) / "proj"
    (deep / ".agent-doc").mkdir(parents=True)
    prepare_interactive(Path(os.environ["HOME"]), deep)
    assert run_cli("skill", "install", cwd=deep).returncode == 0
    doc = deep / "doc.md"
    doc.write_text("---\nagent: claude\n---\n\n# Session\n\n## User\n\nQUESTION-T1\n")
    api.responder = lambda request: Reply.text("LONG-PATH-ANSWERED")
    start_agent(doc, pane, tmp_path)
    pane.wait(lambda s: "LONG-PATH-ANSWERED" in s, "the answer", timeout=8)
