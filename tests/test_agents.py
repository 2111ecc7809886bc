"""Agent backends (SPEC A7, Part B §4.5): the claude protocol against the real fake `claude`
script, the text protocol against small scripts, the openai protocol against a real local HTTP
server, the offline agent, and the choice of agent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent_doc.agents import (
    AgentError,
    AgentReply,
    AgentTimeout,
    build_agent,
    resolve_agent,
    resolve_agent_name,
    select_agent,
)
from agent_doc.agents.claude import DEFAULT_ARGS, ClaudeAgent
from agent_doc.agents.command import TextAgent
from agent_doc.agents.offline import OfflineAgent, session_id_for
from agent_doc.agents.openai import OpenAIAgent
from agent_doc.config import AgentConfig, Config, ConfigError, global_config_path, load_config
from agent_doc.errors import AgentDocError
from agent_doc.prompts import SYSTEM_PROMPT, build_prompt
from helpers.agents import claude_calls, wait_for_calls
from helpers.cli import trust_project
from helpers.procs import pid_gone as gone

SP = ["--append-system-prompt", SYSTEM_PROMPT]
U1 = "6f1c2d9a-3b4e-4f70-9a51-2c8e0b7d4a11"
U2 = "0b6e3a1c-8d2f-4e57-a9c0-1d2e3f4a5b6c"


def cfg(default: str | None = None, **agents: AgentConfig) -> Config:
    return Config(default_agent=default, agents=dict(agents), sources=[])


def script(path: Path, body: str) -> Path:
    """A Python script usable as an agent command."""
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def send(agent: Any, prompt: str = "hello", resume_id: str | None = None, fork: bool = False,
         model: str | None = None) -> AgentReply:
    return agent.send(prompt, resume_id=resume_id, fork=fork, model=model)


# -- claude protocol: argv ---------------------------------------------------------------------


def test_argv_new_conversation_uses_our_id_never_continue(fake_claude: Path) -> None:
    reply = ClaudeAgent().send("the prompt", resume_id=U1, fork=True, model=None,
                               new_conversation=True)
    (call,) = claude_calls(fake_claude)
    # never `--continue --fork-session`: that continued another document's conversation
    assert call["argv"] == [*DEFAULT_ARGS, "--session-id", U1, *SP]
    assert list(DEFAULT_ARGS) == ["-p", "--output-format", "json", "--permission-mode",
                                  "acceptEdits"]
    assert call["prompt"] == "the prompt"
    assert reply == AgentReply(f"Answer from fake claude (call {call['pid']})", U1)
    send(ClaudeAgent(), fork=True)  # no id at all (a direct caller): a plain new conversation
    assert claude_calls(fake_claude)[1]["argv"] == [*DEFAULT_ARGS, *SP]


def test_argv_resume_and_model_follows(fake_claude: Path) -> None:
    send(ClaudeAgent(), resume_id=U1, fork=True, model="opus")
    send(ClaudeAgent(model="haiku"), resume_id=U1, fork=False, model=None)
    send(ClaudeAgent(model="haiku"), fork=False, model="sonnet")
    calls = claude_calls(fake_claude)
    assert calls[0]["argv"] == [*DEFAULT_ARGS, "--resume", U1, "--model", "opus", *SP]
    assert calls[1]["argv"] == [*DEFAULT_ARGS, "--resume", U1, "--model", "haiku", *SP]
    assert calls[2]["argv"] == [*DEFAULT_ARGS, "--model", "sonnet", *SP]


@pytest.mark.parametrize("bad", ["--dangerously-skip-permissions", "-x", "abc-123", "", " ",
                                 U1 + " --foo", "r1"])
def test_argv_refuses_a_resume_that_is_not_a_conversation_id(fake_claude: Path,
                                                              bad: str) -> None:
    if not bad:
        send(ClaudeAgent(), resume_id=bad)  # empty = none
        assert "--resume" not in claude_calls(fake_claude)[0]["argv"]
        return
    with pytest.raises(AgentDocError, match="not a Claude conversation id"):
        send(ClaudeAgent(), resume_id=bad)
    assert not fake_claude.exists()  # nothing ran


@pytest.mark.parametrize("bad", ["--dangerously-skip-permissions", "-opus", "op us",
                                 "a\nb", "+x"])
def test_argv_refuses_a_model_that_is_not_a_name(fake_claude: Path, bad: str) -> None:
    with pytest.raises(AgentDocError, match="is not a model name"):
        send(ClaudeAgent(), model=bad)
    with pytest.raises(AgentDocError, match="is not a model name"):
        send(ClaudeAgent(model=bad))
    assert not fake_claude.exists()
    for good in ("opus", "claude-sonnet-4-5", "claude-opus-4-1[1m]",
                 "us.anthropic.claude-3-7-sonnet-20250219-v1:0"):
        send(ClaudeAgent(), model=good)
    assert [c["argv"][-3] for c in claude_calls(fake_claude)] == [
        "opus", "claude-sonnet-4-5", "claude-opus-4-1[1m]",
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0"]


def test_configured_args_replace_defaults_entirely(fake_claude: Path) -> None:
    agent = build_agent("claude", cfg(claude=AgentConfig("claude", args=["--only"])))
    send(agent, fork=True)
    (call,) = claude_calls(fake_claude)
    assert call["argv"] == ["--only", *SP]


def test_configured_command_and_custom_name(fake_claude: Path, tmp_path: Path) -> None:
    fake = str(Path(__file__).parent / "fakes" / "claude")
    agent = build_agent("bot", cfg(bot=AgentConfig("bot", command=fake, model="m1")))
    assert agent.name == "bot"
    reply = send(agent, resume_id=U2)
    (call,) = claude_calls(fake_claude)
    # a custom claude-protocol agent has no default arguments (as in the reference)
    assert call["argv"] == ["--resume", U2, "--model", "m1", *SP]
    assert reply.session_id == U2


def test_environment_cwd_and_session(fake_claude: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDECODE", "1")
    monkeypatch.setenv("FAKE_CLAUDE_SESSION", "none")
    work = tmp_path / "work dir"
    work.mkdir()
    monkeypatch.chdir(work)
    reply = send(ClaudeAgent())
    (call,) = claude_calls(fake_claude)
    assert call["claudecode"] is False  # removed for the agent ...
    assert os.environ["CLAUDECODE"] == "1"  # ... not from our own environment
    assert call["cwd"] == str(work)
    assert reply.session_id is None


def test_prompt_arrives_intact_unicode_and_5mb(fake_claude: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    small = "héllo — ✓ 日本語\n\x00tab\there\r\nend"
    send(ClaudeAgent(), small)
    line = "".join(chr(0x20 + (i % 90)) for i in range(99)) + "é\n"
    big = line * (5 * 1024 * 1024 // len(line.encode()))
    assert len(big.encode()) > 5_000_000
    monkeypatch.setenv("FAKE_CLAUDE_RESULT", "big ok")
    reply = send(ClaudeAgent(), big)
    calls = claude_calls(fake_claude)
    assert calls[0]["prompt"] == small
    assert calls[1]["prompt"] == big
    assert reply.text == "big ok"


def test_large_stderr_before_reading_and_large_stdout_do_not_deadlock(tmp_path: Path) -> None:
    # writes 2 MB to stderr before reading stdin, then echoes 5 MB back on stdout: a runner
    # that writes stdin before draining the pipes would hang here forever
    echo = script(
        tmp_path / "echo-agent",
        "import sys\n"
        "sys.stderr.write('e' * 2_000_000 + '\\nlast stderr line\\n'); sys.stderr.flush()\n"
        "data = sys.stdin.buffer.read()\n"
        "sys.stdout.buffer.write(data)\n",
    )
    prompt = ("0123456789abcdef" * 64 + "\n") * 5000
    reply = send(TextAgent("echo", str(echo), timeout=120), prompt)
    assert reply == AgentReply(prompt.rstrip(), None)


# -- claude protocol: errors -------------------------------------------------------------------


def test_command_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AgentError) as exc:
        send(build_agent("claude", cfg()))
    msg = str(exc.value)
    assert "command not found: claude" in msg and "'claude'" in msg
    assert "[agents.claude]" in (exc.value.hint or "")
    assert str(global_config_path()) in (exc.value.hint or "")
    assert "--agent offline" in (exc.value.hint or "")


def test_command_not_executable(tmp_path: Path) -> None:
    f = tmp_path / "noexec"
    f.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(AgentError, match="permission denied"):
        send(ClaudeAgent("x", str(f)))


def test_nonzero_exit_reports_status_and_stderr_tail(fake_claude: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "exit1")
    monkeypatch.setenv("FAKE_CLAUDE_STDERR", "\n".join(f"err-line-{i:02d}" for i in range(1, 31)))
    with pytest.raises(AgentError) as exc:
        send(ClaudeAgent())
    msg = str(exc.value)
    assert "agent 'claude' failed" in msg and "exited with status 1" in msg
    assert "boom: the fake agent failed" in msg
    # the last 20 lines: err-line-12 .. err-line-30 and the fake's own "boom" line
    assert "err-line-12" in msg and "err-line-30" in msg
    assert "err-line-11" not in msg
    assert exc.value.stderr_tail.splitlines()[-1] == "boom: the fake agent failed"
    assert len(exc.value.stderr_tail.splitlines()) == 20


def test_not_json_shows_the_start_of_the_output(fake_claude: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "garbage")
    monkeypatch.setenv("FAKE_CLAUDE_STDERR", "a warning on stderr")
    with pytest.raises(AgentError) as exc:
        send(ClaudeAgent())
    msg = str(exc.value)
    assert "did not answer with JSON" in msg and "this is not json {{{" in msg
    assert "a warning on stderr" in msg
    assert 'protocol = "text"' in (exc.value.hint or "")


def test_is_error_and_empty_result(fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "is_error")
    with pytest.raises(AgentError, match="returned an error: rate limited"):
        send(ClaudeAgent())
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "empty")
    with pytest.raises(AgentError, match="empty response"):
        send(ClaudeAgent())


def test_json_result_shapes(tmp_path: Path) -> None:
    verbose = script(
        tmp_path / "verbose",
        "import json, sys\nsys.stdin.read()\n"
        "print(json.dumps([{'type': 'system'}, {'type': 'result', 'result': 'from list',"
        " 'session_id': 's2'}]))\n",
    )
    assert send(ClaudeAgent("v", str(verbose))) == AgentReply("from list", "s2")
    failing = script(
        tmp_path / "failing",
        "import json, sys\nsys.stdin.read()\n"
        "print(json.dumps({'is_error': True, 'result': 'Credit balance is too low'}))\n"
        "sys.exit(1)\n",
    )
    with pytest.raises(AgentError, match="returned an error: Credit balance is too low"):
        send(ClaudeAgent("f", str(failing)))
    scalar = script(tmp_path / "scalar", "import sys\nsys.stdin.read()\nprint(42)\n")
    with pytest.raises(AgentError, match="without a result object"):
        send(ClaudeAgent("s", str(scalar)))


def test_an_existing_conversation_id_is_continued(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A run that died after the CLI created the conversation: `--session-id` then says
    "already in use" (the real CLI's words), and the conversation is resumed instead."""
    log = tmp_path / "argv.log"
    s = script(
        tmp_path / "known-claude",
        "import json, sys\nsys.stdin.read()\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if '--session-id' in sys.argv:\n"
        "    sys.stderr.write('Error: Session ID %s is already in use.\\n'"
        " % sys.argv[2]); sys.exit(1)\n"
        "print(json.dumps({'result': 'resumed answer', 'session_id': sys.argv[2]}))\n",
    )
    agent = ClaudeAgent("c", str(s), args=[])
    reply = agent.send("hi", resume_id=U1, fork=False, model=None, new_conversation=True)
    assert reply == AgentReply("resumed answer", U1)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls == [["--session-id", U1, *SP], ["--resume", U1, *SP]]
    assert "already exists" in capfd.readouterr().err


def test_an_unknown_conversation_says_so_and_offers_reset(tmp_path: Path) -> None:
    s = script(
        tmp_path / "forgetful-claude",
        "import sys\nsys.stdin.read()\n"
        "sys.stderr.write('No conversation found with session ID: %s\\n' % sys.argv[2])\n"
        "sys.exit(1)\n",
    )
    with pytest.raises(AgentError) as exc:
        ClaudeAgent("c", str(s), args=[]).send("hi", resume_id=U1, fork=False, model=None,
                                                document="notes/a.md")
    assert f"has no conversation {U1}" in exc.value.message
    assert "notes/a.md" in exc.value.message
    assert "`agent-doc reset notes/a.md`" in (exc.value.hint or "")
    assert "config" not in (exc.value.hint or "")  # not "edit args in a config file"


def test_killed_by_signal_is_reported(tmp_path: Path) -> None:
    s = script(tmp_path / "selfkill",
               "import os, signal, sys\nsys.stdin.read()\nos.kill(os.getpid(), signal.SIGKILL)\n")
    with pytest.raises(AgentError, match="was killed by SIGKILL"):
        send(ClaudeAgent("k", str(s)))


def test_timeout_kills_the_agent(fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")
    monkeypatch.setenv("FAKE_CLAUDE_STDERR", "started, now hanging")
    agent = build_agent("claude", cfg(claude=AgentConfig("claude", timeout=1)))
    with pytest.raises(AgentTimeout) as exc:
        send(agent)
    assert "timed out after 1 s" in str(exc.value)
    assert "started, now hanging" in str(exc.value)
    assert "timeout" in (exc.value.hint or "") and "[agents.claude]" in (exc.value.hint or "")
    (call,) = claude_calls(fake_claude)
    assert gone(call["pid"])


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    # The agent starts a child that ignores SIGTERM, then hangs: the child must be gone too.
    pidfile = tmp_path / "child.pid"
    agent_script = script(
        tmp_path / "spawner",
        "import subprocess, sys, time\n"
        "sys.stdin.read()\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(300)\n",
    )
    with pytest.raises(AgentTimeout):
        send(TextAgent("spawner", str(agent_script), timeout=1.5))
    child = int(pidfile.read_text())
    assert gone(child)


def test_leftover_child_holding_the_pipe_does_not_hang_us(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import agent_doc.agents.command as command

    monkeypatch.setattr(command, "PIPE_GRACE", 0.5)
    pidfile = tmp_path / "child.pid"
    s = script(
        tmp_path / "leaky",
        "import subprocess, sys\n"
        "sys.stdin.read()\n"
        "child = subprocess.Popen(['sleep', '300'])  # inherits our stdout\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('answer'); sys.stdout.flush()\n",
    )
    assert send(TextAgent("leaky", str(s))).text == "answer"
    assert gone(int(pidfile.read_text()))


DRIVER = """
import sys
from agent_doc.agents.claude import ClaudeAgent
try:
    ClaudeAgent().send("hi", resume_id=None, fork=False, model=None)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
print("not interrupted", flush=True)
"""


def test_ctrl_c_kills_the_agent_and_reraises(fake_claude: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "hang")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    # its own process group, like a foreground job: Ctrl-C signals that whole group
    proc = subprocess.Popen([sys.executable, str(driver)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        (call,) = wait_for_calls(fake_claude)
        # the agent leads its own process group and session: a terminal's Ctrl-C reaches
        # only us, and the interrupt handling (kill, wait, re-raise) is ours
        assert os.getpgid(call["pid"]) == call["pid"] != os.getpgid(proc.pid)
        assert os.getsid(call["pid"]) == call["pid"]
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert out.strip() == "interrupted"
    assert gone(call["pid"])


# -- text protocol -----------------------------------------------------------------------------


def test_text_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDECODE", "1")
    s = script(
        tmp_path / "upper",
        "import os, sys\n"
        "data = sys.stdin.read()\n"
        "print(repr(sys.argv[1:]), 'CLAUDECODE' in os.environ)\n"
        "print(data.upper())\nprint()\nprint('   ')\n",
    )
    c = cfg(up=AgentConfig("up", command=str(s), args=["-a", "b c"], protocol="text"))
    agent = resolve_agent("up", None, c)
    assert isinstance(agent, TextAgent)
    reply = send(agent, "make me loud", resume_id="ignored", fork=True, model="ignored")
    assert reply == AgentReply("['-a', 'b c'] False\nMAKE ME LOUD", None)


def test_text_protocol_errors(tmp_path: Path) -> None:
    empty = script(tmp_path / "empty", "import sys\nsys.stdin.read()\nprint('  ')\n")
    with pytest.raises(AgentError, match="empty answer"):
        send(TextAgent("e", str(empty)))
    fail = script(tmp_path / "fail",
                  "import sys\nsys.stdin.read()\nsys.stderr.write('bad things\\n')\nsys.exit(3)\n")
    with pytest.raises(AgentError) as exc:
        send(TextAgent("f", str(fail)))
    assert "agent 'f' failed" in str(exc.value) and "status 3" in str(exc.value)
    assert "bad things" in str(exc.value)
    latin = script(tmp_path / "latin", "import sys\nsys.stdin.read()\n"
                   "sys.stdout.buffer.write(b'caf\\xe9')\n")
    with pytest.raises(AgentError, match="not valid UTF-8"):
        send(TextAgent("l", str(latin)))
    # an agent that exits without reading its (large) stdin is not a crash of ours
    noread = script(tmp_path / "noread", "print('short answer')\n")
    assert send(TextAgent("n", str(noread)), "x" * 3_000_000).text == "short answer"


# -- openai protocol ---------------------------------------------------------------------------


class FakeAPI:
    """A real HTTP server on 127.0.0.1 speaking just enough of chat completions."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes = json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": "\nHi from the API.\n"}}]}
        ).encode()
        self.hang = threading.Event()  # set = answer; clear = never answer (until teardown)
        self.hang.set()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                api.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                )
                api.hang.wait(60)
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(api.body)))
                self.end_headers()
                self.wfile.write(api.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.hang.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAPI]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    server = FakeAPI()
    yield server
    server.close()


def openai_cfg(url: str, **kw: Any) -> Config:
    return cfg(local=AgentConfig("local", protocol="openai", base_url=url, **kw))


def test_openai_request_and_answer(api: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", "sk-test-123")
    agent = resolve_agent("local", None, openai_cfg(api.url + "/", model="qwen",
                                                    api_key_env="LOCAL_KEY"))
    assert isinstance(agent, OpenAIAgent)
    reply = send(agent, "the prompt ✓", resume_id="r", fork=True)
    assert reply == AgentReply("Hi from the API.", None)
    (req,) = api.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer sk-test-123"
    assert req["body"] == {
        "model": "qwen",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "the prompt ✓"},
        ],
    }
    send(agent, "again", model="override")
    assert api.requests[1]["body"]["model"] == "override"


def test_openai_without_key_or_model(api: FakeAPI) -> None:
    send(OpenAIAgent("local", api.url))
    (req,) = api.requests
    assert "Authorization" not in req["headers"] and "authorization" not in req["headers"]
    assert "model" not in req["body"]


def test_openai_missing_key_variable(api: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(AgentError, match="NOPE_KEY"):
        send(OpenAIAgent("local", api.url, api_key_env="NOPE_KEY"))
    assert api.requests == []


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (500, b'{"error": "model exploded"}', ["HTTP 500", "model exploded"]),
        (401, b"bad key", ["HTTP 401", "bad key"]),
        (404, b"", ["HTTP 404"]),
        (200, b"<html>not json</html>", ["did not answer with JSON", "<html>not json"]),
        (200, b'{"choices": []}', ["no choices[0].message"]),
        (200, b'{"error": {"message": "overloaded"}}', ["no choices[0].message", "overloaded"]),
        (200, b'{"choices": [{"message": {"content": "  "}}]}', ["empty response"]),
        (200, b'{"choices": [{"message": {"content": null}}]}', ["empty response"]),
    ],
)
def test_openai_errors(api: FakeAPI, status: int, body: bytes, words: list[str]) -> None:
    api.status, api.body = status, body
    with pytest.raises(AgentError) as exc:
        send(OpenAIAgent("local", api.url))
    for w in words:
        assert w in str(exc.value)
    assert "'local'" in str(exc.value)
    assert exc.value.hint


def test_openai_content_parts(api: FakeAPI) -> None:
    api.body = json.dumps({"choices": [{"message": {"content": [
        {"type": "text", "text": "part one, "}, {"type": "text", "text": "part two"}]}}]}).encode()
    assert send(OpenAIAgent("local", api.url)).text == "part one, part two"


def test_openai_connection_refused_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(AgentError) as exc:
        send(OpenAIAgent("local", url, timeout=10))
    assert f"cannot connect to {url}/chat/completions" in str(exc.value)
    assert "base_url" in (exc.value.hint or "")


def test_openai_timeout(api: FakeAPI) -> None:
    api.hang.clear()
    with pytest.raises(AgentTimeout) as exc:
        send(OpenAIAgent("local", api.url, timeout=0.5))
    assert "timed out after 0.5 s" in str(exc.value)
    assert len(api.requests) == 1


# -- offline agent -----------------------------------------------------------------------------

DOC1 = (
    "---\nagent_doc_session: 0f2c-uuid\n---\n\n# Session: Demo\n\n## User\n\n"
    "What does agent-doc do?\nI like Markdown.\n"
)


def test_offline_first_run() -> None:
    prompt = build_prompt(DOC1, None, resumed=False)
    reply = send(OfflineAgent(), prompt, fork=True)
    assert reply.session_id == session_id_for(DOC1)
    assert reply.session_id.startswith("offline-") and len(reply.session_id) == 16
    assert "> What does agent-doc do?\n> I like Markdown." in reply.text
    assert "1. *What does agent-doc do?*" in reply.text
    assert "first exchange" in reply.text
    assert "## Assistant" not in reply.text and "\n## User" not in reply.text
    # deterministic
    assert send(OfflineAgent(), prompt, fork=True) == reply


def test_offline_resumed_summarises_the_diff() -> None:
    doc2 = DOC1 + "\n## Assistant\n\nearlier answer\n\n## User\n\n> is it fast?\nNew line\n"
    diff = "".join(" " + line for line in DOC1.splitlines(True)).replace(
        " I like Markdown.\n", "-I like Markdown.\n"
    ) + "+## User\n+\n+> is it fast?\n+New line\n"
    reply = send(OfflineAgent(), build_prompt(doc2, diff, resumed=True), resume_id="keep-me")
    assert reply.session_id == "keep-me"
    text = reply.text
    assert "you added 2 lines and removed 1 line" in text
    assert "> > is it fast?\n> New line" in text
    assert "> ~~I like Markdown.~~" in text
    assert "1. *is it fast?*" in text
    assert "exchange 2" in text


def test_offline_quotes_are_capped_and_blank_changes_noted() -> None:
    diff = "".join(f"+line {i}\n" for i in range(30))
    text = send(OfflineAgent(), build_prompt("doc\n", diff, resumed=True)).text
    assert "> line 11\n> *… and 18 more lines*" in text
    assert "> line 12" not in text
    text = send(OfflineAgent(), build_prompt("doc\n", " a\n+\n+   \n", resumed=True)).text
    assert "only blank lines" in text


def test_offline_session_id_without_frontmatter() -> None:
    assert session_id_for("\n  # Title\nbody\n") == session_id_for("# Title\nother\n")
    assert session_id_for("# Title\n") != session_id_for("# Other\n")


# -- choosing the agent ------------------------------------------------------------------------


def texty(name: str) -> AgentConfig:
    return AgentConfig(name, command="/bin/cat", protocol="text")


def test_resolution_order(fake_claude: Path) -> None:
    c = cfg("dflt", cli=texty("cli"), doc=texty("doc"), dflt=texty("dflt"))
    assert resolve_agent("cli", "doc", c).name == "cli"
    assert resolve_agent(None, "doc", c).name == "doc"
    assert resolve_agent("", "  ", c).name == "dflt"
    assert resolve_agent(None, None, c).name == "dflt"
    agent = resolve_agent(None, None, cfg())
    assert isinstance(agent, ClaudeAgent) and agent.name == "claude"  # on PATH (the fake)
    assert resolve_agent_name(None, None, cfg())[1].startswith("the default")
    assert isinstance(resolve_agent("offline", "doc", c), OfflineAgent)


def test_no_agent_and_no_claude_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        project: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AgentError) as exc:
        resolve_agent(None, None, load_config(project))
    msg, hint = str(exc.value), exc.value.hint or ""
    assert "claude" in msg and "PATH" in msg
    assert "--agent offline" in hint
    assert str(global_config_path()) in hint
    assert str(project / ".agent-doc" / "config.toml") in hint
    # a configured claude command counts as "claude is available"
    c = cfg(claude=AgentConfig("claude", command=sys.executable))
    assert resolve_agent(None, None, c).name == "claude"


def test_unknown_agent_lists_known_names() -> None:
    with pytest.raises(AgentError) as exc:
        resolve_agent(None, "gpt9", cfg(mine=texty("mine")))
    msg = str(exc.value)
    assert "unknown agent 'gpt9'" in msg and "frontmatter" in msg
    assert "claude, mine, offline" in msg
    assert "[agents.gpt9]" in (exc.value.hint or "")


def test_junie_is_not_built_unless_configured() -> None:
    with pytest.raises(AgentError, match="Junie backend is not built"):
        resolve_agent("junie", None, cfg())
    assert resolve_agent("junie", None, cfg(junie=texty("junie"))).name == "junie"


def test_select_agent_reads_the_config_only_when_needed(project: Path,
                                                        fake_claude: Path) -> None:
    p = project / ".agent-doc" / "config.toml"
    p.write_text("default_agent = [broken\n")
    assert isinstance(select_agent("offline", None, project), OfflineAgent)
    assert isinstance(select_agent(None, "offline", project), OfflineAgent)
    with pytest.raises(ConfigError, match=f"^{p}:1: invalid TOML"):
        select_agent(None, None, project)
    with pytest.raises(ConfigError):
        select_agent("claude", "offline", project)
    p.write_text('default_agent = "claude"\n')
    assert isinstance(select_agent(None, None, project), ClaudeAgent)


def test_incomplete_agent_tables_name_file_and_line(project: Path) -> None:
    p = project / ".agent-doc" / "config.toml"
    p.write_text('# agents\n\n[agents.web]\nprotocol = "openai"\n\n[agents.bin]\ntimeout = 3\n')
    c = load_config(project)
    with pytest.raises(ConfigError) as exc:
        resolve_agent("web", None, c)
    assert str(exc.value).startswith(f"{p}:3: [agents.web]") and "base_url" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        resolve_agent("bin", None, c)
    assert str(exc.value).startswith(f"{p}:6: [agents.bin] has no command")


def test_resolution_from_files(project: Path, fake_claude: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    g = Path(global_config_path())
    g.parent.mkdir(parents=True)
    g.write_text('default_agent = "offline"\n[agents.claude]\ntimeout = 7\nmodel = "opus"\n')
    (project / ".agent-doc" / "config.toml").write_text('[agents.claude]\nargs = ["-p"]\n')
    trust_project(project)  # the project's args apply only once it is trusted (SPEC A12)
    c = load_config(project)
    name, origin = resolve_agent_name(None, None, c)
    assert (name, origin) == ("offline", f"default_agent in {g}")
    agent = resolve_agent("claude", None, c)
    assert isinstance(agent, ClaudeAgent)
    assert (agent.timeout, agent.model, agent.args) == (7.0, "opus", ["-p"])
    send(agent, fork=True)
    (call,) = claude_calls(fake_claude)
    assert call["argv"] == ["-p", "--model", "opus", *SP]
