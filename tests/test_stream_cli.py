"""Streaming answers end to end (issue 16): the real CLI as a subprocess, a fake text agent
(a small Python script configured in the project's config and trusted) that prints its answer
line by line and waits for the test between lines, and a second process editing the document
while the answer streams.

What is checked: the first text is on disk before the agent has finished; the final document
is byte-identical to a `--no-stream` run with the same answer and the same user edits (LF and
CRLF); typing inside the streaming answer is kept (fallback merge); a pre-stream save (marker
gone) gets the answer back; SIGKILL of `run` mid-stream → `diff` shows no answer text, and
`recover` writes the partial answer with the interrupted note (or the whole answer when the
journal says complete); Ctrl-C keeps the partial answer with the note, exit 130, snapshot
consistent, agent gone; `--no-stream` and `[stream] enabled = false` make no intermediate
flush; `write` streams a slowly piped stdin; a 1 MB document streams.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from helpers.cli import run_cli, trust_project
from helpers.waiting import wait_until

AGENT = r'''
import os, sys, time
d = os.environ["FAKE_STREAM_DIR"]
sys.stdin.read()
with open(os.path.join(d, "pid"), "w") as f:
    f.write(str(os.getpid()))
lines = open(os.path.join(d, "answer"), encoding="utf-8").read().split("\n")
hold = int(open(os.path.join(d, "hold")).read()) if os.path.exists(os.path.join(d, "hold")) else 1
for i, line in enumerate(lines):
    if i == hold:
        open(os.path.join(d, "printed"), "w").close()
        while not os.path.exists(os.path.join(d, "release")):
            time.sleep(0.02)
        if os.path.exists(os.path.join(d, "fail")):
            sys.stderr.write("fake agent: the model went away\n")
            sys.exit(3)
    sys.stdout.write(line + ("\n" if i < len(lines) - 1 else ""))
    sys.stdout.flush()
    if i >= hold:
        time.sleep(0.01)
'''

EDIT = r'''
import os, sys
path, above, below = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(path, "rb").read().decode("utf-8")
nl = "\r\n" if "\r\n" in data else "\n"
head = "# Session"
at = data.index(head)
eol = data.index("\n", at) + 1
data = data[:eol] + above + nl + data[eol:] + below + nl
tmp = path + ".edit-tmp"
open(tmp, "wb").write(data.encode("utf-8"))
os.replace(tmp, path)
'''

ANSWER = "First line of the answer.\n\nSecond paragraph, line one.\nLine two.\n\nThe end."
DOC = ("---\nagent: fake\nagent_doc_session: 5e3f2a0c-1b2d-4e5f-8a9b-0c1d2e3f4a5b\n---\n\n"
       "# Session notes\n\n## User\n\nPlease explain streaming.\n")
PY = sys.executable


def make_project(root: Path, *, crlf: bool = False, extra_config: str = "",
                 doc: str = DOC) -> tuple[Path, Path]:
    """A trusted project with the fake agent; returns (document, the agent's folder)."""
    (root / ".agent-doc").mkdir(parents=True)
    fake = root / "fake"
    fake.mkdir()
    script = fake / "agent.py"
    script.write_text(AGENT)
    (fake / "answer").write_text(ANSWER)
    (root / ".agent-doc" / "config.toml").write_text(
        f'[agents.fake]\ncommand = "{PY}"\nargs = ["{script}"]\nprotocol = "text"\n'
        + extra_config)
    trust_project(root)
    path = root / "doc.md"
    text = doc.replace("\n", "\r\n") if crlf else doc
    path.write_bytes(text.encode("utf-8"))
    return path, fake


def start_run(path: Path, fake: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, FAKE_STREAM_DIR=str(fake))
    return subprocess.Popen(
        [PY, "-m", "agent_doc", "run", str(path), "--no-git", *extra],
        cwd=path.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_on_disk(path: Path, text: str, proc: subprocess.Popen[Any]) -> None:
    """Until TEXT is in the document on disk; PROC (the command streaming it) must not end
    first (the fake agent holds it: it cannot finish before the test releases it)."""
    wait_until(lambda: text in text_of(path), f"{text!r} on disk in {path.name}", 30,
               seen=lambda: text_of(path)[-3000:], while_alive=proc)


def wait_file(path: Path, what: str, proc: subprocess.Popen[Any]) -> None:
    wait_until(path.exists, f"{what} ({path.name} to appear)", 30, while_alive=proc)


def text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def edit(path: Path, above: str = "A line typed above.",
         below: str = "A line typed below.") -> None:
    """Another process edits the document the way an editor saves (write + rename)."""
    subprocess.run([PY, "-c", EDIT, str(path), above, below], check=True)


def finish(proc: subprocess.Popen[str], fake: Path) -> tuple[int, str, str]:
    (fake / "release").write_text("go")
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except OSError:
        return False


def run_with_edits(root: Path, *, stream: bool, crlf: bool = False) -> str:
    path, fake = make_project(root, crlf=crlf)
    proc = start_run(path, fake, *(() if stream else ("--no-stream",)))
    if stream:
        wait_on_disk(path, "First line of the answer.", proc)
        assert proc.poll() is None  # visible while the agent still works
        assert "<!-- agent:boundary:" in text_of(path)
    else:
        wait_file(fake / "pid", "the agent to start", proc)
    edit(path)
    rc, _out, err = finish(proc, fake)
    assert rc == 0, err
    return text_of(path)


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_streamed_final_document_is_byte_identical_to_no_stream(tmp_path: Path,
                                                                crlf: bool) -> None:
    streamed = run_with_edits(tmp_path / "a", stream=True, crlf=crlf)
    plain = run_with_edits(tmp_path / "b", stream=False, crlf=crlf)
    assert streamed == plain
    assert "agent:boundary" not in streamed
    assert "A line typed above." in streamed and "A line typed below." in streamed
    assert "The end." in streamed
    if crlf:
        assert "\n" not in streamed.replace("\r\n", "")
    assert not os.listdir(tmp_path / "a" / ".agent-doc" / "pending")


def test_typing_inside_the_streaming_answer_is_kept(tmp_path: Path) -> None:
    path, fake = make_project(tmp_path)
    proc = start_run(path, fake)
    wait_on_disk(path, "First line of the answer.", proc)
    data = text_of(path).replace("First line of the answer.\n",
                                 "First line of the answer.\nMY NOTE INSIDE\n")
    path.write_text(data)  # the user types inside the answer
    rc, _out, err = finish(proc, fake)
    assert rc == 0, err
    final = text_of(path)
    assert "MY NOTE INSIDE" in final
    assert "The end." in final
    assert "agent:boundary" not in final


def test_a_save_from_before_the_stream_gets_the_answer_back(tmp_path: Path) -> None:
    path, fake = make_project(tmp_path)
    proc = start_run(path, fake)
    wait_on_disk(path, "First line of the answer.", proc)
    # the editor saves the version it had before the stream began (no region, no marker)
    sent = text_of(path).split("\n## Assistant")[0] + "\n"
    path.write_text(sent + "typed in the old buffer\n")
    rc, _out, err = finish(proc, fake)
    assert rc == 0, err
    final = text_of(path)
    assert final.count("## Assistant") == 1 and "The end." in final
    assert "typed in the old buffer" in final
    assert "agent:boundary" not in final


def kill_mid_stream(tmp_path: Path) -> tuple[Path, Path, int]:
    path, fake = make_project(tmp_path)
    proc = start_run(path, fake)
    wait_on_disk(path, "First line of the answer.", proc)
    agent_pid = int((fake / "pid").read_text())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    wait_until(lambda: not alive(agent_pid), f"the orphaned agent (pid {agent_pid}) to be "
               "stopped", 30)
    assert "<!-- agent:boundary:" in text_of(path)  # the region is left on disk
    return path, fake, agent_pid


def test_sigkill_mid_stream_then_diff_and_recover(tmp_path: Path) -> None:
    path, _fake, _pid = kill_mid_stream(tmp_path)
    with open(path, "a") as f:
        f.write("The user goes on typing.\n")
    d = run_cli("diff", str(path), cwd=tmp_path)
    assert d.returncode == 0, d
    assert "First line of the answer." not in d.stdout  # never taken for the user's text
    assert "boundary" not in d.stdout
    assert "+The user goes on typing." in d.stdout
    st = run_cli("status", "--json", cwd=tmp_path)
    pending = json.loads(st.stdout)["pending"]
    assert pending and pending[0]["streaming"]["complete"] is False, st
    r = run_cli("recover", str(path), cwd=tmp_path)
    assert r.returncode == 0, r
    final = text_of(path)
    assert "agent:boundary" not in final
    assert "First line of the answer.\n\n*[answer interrupted]*\n\n## User\n" in final
    assert "The user goes on typing." in final
    assert "The end." not in final
    d2 = run_cli("diff", str(path), cwd=tmp_path)
    assert "answer" not in d2.stdout and "interrupted" not in d2.stdout, d2


def test_sigkill_with_a_complete_journal_recovers_the_whole_answer(tmp_path: Path) -> None:
    path, _fake, _pid = kill_mid_stream(tmp_path)
    pending_dir = tmp_path / ".agent-doc" / "pending"
    [journal] = [p for p in pending_dir.iterdir() if p.suffix == ".json"]
    record = json.loads(journal.read_text())
    # the run died after the agent finished and the journal said so, before the final write
    record["response"] = ANSWER
    record["stream"]["complete"] = True
    journal.write_text(json.dumps(record))
    r = run_cli("recover", str(path), cwd=tmp_path)
    assert r.returncode == 0, r
    final = text_of(path)
    assert final == DOC + "\n## Assistant\n\n" + ANSWER + "\n\n## User\n\n", final
    assert "agent:boundary" not in final and "interrupted" not in final
    assert final.count("First line of the answer.") == 1


def test_ctrl_c_keeps_the_partial_answer_marked_interrupted(tmp_path: Path) -> None:
    path, fake = make_project(tmp_path)
    proc = start_run(path, fake)
    wait_on_disk(path, "First line of the answer.", proc)
    agent_pid = int((fake / "pid").read_text())
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "partial answer is kept" in err and "interrupted" in err
    assert not alive(agent_pid)
    final = text_of(path)
    assert "agent:boundary" not in final
    assert final.endswith("First line of the answer.\n\n*[answer interrupted]*\n\n## User\n\n")
    assert not os.listdir(tmp_path / ".agent-doc" / "pending")
    d = run_cli("diff", str(path), cwd=tmp_path)
    assert "No changes since last submit." in d.stderr, d  # the snapshot holds it too


def test_an_agent_failing_mid_stream_takes_the_partial_answer_back(tmp_path: Path) -> None:
    path, fake = make_project(tmp_path)
    proc = start_run(path, fake)
    wait_on_disk(path, "First line of the answer.", proc)
    edit(path)  # the user's edit during the stream stays
    (fake / "fail").write_text("1")
    rc, _out, err = finish(proc, fake)
    assert rc == 1, err
    assert "exited with status 3" in err and "the model went away" in err
    assert "the partial answer was taken back out" in err
    final = text_of(path)
    assert "First line of the answer." not in final and "agent:boundary" not in final
    assert "## Assistant" not in final
    assert "A line typed above." in final and "A line typed below." in final
    assert not os.listdir(tmp_path / ".agent-doc" / "pending")
    d = run_cli("diff", str(path), cwd=tmp_path)  # the question is still unanswered
    assert "+Please explain streaming." in d.stdout, d


def count_flushes(path: Path, fake: Path, *extra: str, expect_flush: bool = False) -> int:
    """Start a run; once the agent has printed its first line and is held, watch the
    document's inode for a while (each flush is an exchange: a new inode), then release.
    ``expect_flush``: first wait until the first line is on disk (the positive control)."""
    seen = {path.stat().st_ino}  # nothing else rewrites it: it has its session id already
    proc = start_run(path, fake, *extra)
    wait_file(fake / "printed", "the agent to print its first line", proc)
    if expect_flush:
        wait_on_disk(path, "First line of the answer.", proc)  # the first flush
    deadline = time.monotonic() + 1.5  # a flush would have come at once
    while time.monotonic() < deadline:
        seen.add(path.stat().st_ino)
        time.sleep(0.01)
    rc, _out, err = finish(proc, fake)
    assert rc == 0, err
    return len(seen) - 1


def test_no_stream_and_config_switch_make_no_intermediate_flush(tmp_path: Path) -> None:
    path, fake = make_project(tmp_path / "on")
    assert count_flushes(path, fake, expect_flush=True) >= 1  # the test can see a flush
    path, fake = make_project(tmp_path / "flag")
    assert count_flushes(path, fake, "--no-stream") == 0
    assert "The end." in text_of(path)
    path, fake = make_project(tmp_path / "cfg", extra_config="[stream]\nenabled = false\n")
    assert count_flushes(path, fake) == 0
    assert "The end." in text_of(path)


def test_stream_config_is_validated_with_file_and_line(tmp_path: Path) -> None:
    path, fake = make_project(tmp_path, extra_config="[stream]\ninterval = 99\n")
    r = run_cli("run", str(path), "--no-git", cwd=tmp_path,
                env={"FAKE_STREAM_DIR": str(fake)})
    assert r.returncode == 1
    assert "config.toml:6: stream.interval must be a number of seconds" in r.stderr, r
    assert "hint:" in r.stderr


def test_write_streams_a_slowly_piped_stdin(tmp_path: Path) -> None:
    (tmp_path / ".agent-doc").mkdir()
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    proc = subprocess.Popen([PY, "-m", "agent_doc", "write", str(path)], cwd=tmp_path,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"Streamed first line.\n")
    proc.stdin.flush()
    wait_on_disk(path, "Streamed first line.", proc)
    assert proc.poll() is None and "<!-- agent:boundary:" in text_of(path)
    proc.stdin.write(b"And the rest.")
    proc.stdin.close()
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert text_of(path) == DOC + ("\n## Assistant\n\nStreamed first line.\nAnd the rest."
                                   "\n\n## User\n\n")


def test_a_one_megabyte_document_streams(tmp_path: Path) -> None:
    filler = "".join(f"Line {i} of a long document, with some words in it.\n"
                     for i in range(20000))
    doc = DOC.replace("# Session notes\n", "# Session notes\n\n" + filler)
    assert len(doc) > 1_000_000
    path, fake = make_project(tmp_path, doc=doc)
    proc = start_run(path, fake)
    wait_on_disk(path, "First line of the answer.", proc)
    edit(path)
    rc, _out, err = finish(proc, fake)
    assert rc == 0, err
    final = text_of(path)
    assert "The end." in final and "A line typed below." in final
    assert "agent:boundary" not in final
