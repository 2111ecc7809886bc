"""Editors don't take our locks: their saves must never be lost (stress-suite findings 1 and 2).

* An editor saving *in place* truncates the file, then writes it. A command that read the file
  in between used to take the empty file for the document and write it back by rename, sending
  the editor's bytes into the replaced inode. Now documents are read only once no process has
  them open for writing, and a command that cannot get such a read refuses to write.
* An editor saving *by rename* between our read and our write is merged in (the write is an
  atomic exchange that hands back what it replaced).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pytest import MonkeyPatch

from helpers.cli import run_cli
from helpers.docs import save_in_place, with_line
from helpers.waiting import wait_until

DOC = (
    "---\nagent_doc_session: 0b6a2c1e-8f1d-4c3a-9e57-3d2f1a0b9c8d\nagent: claude\n---\n\n"
    "# Session\n\n<!-- agent:log -->\n<!-- /agent:log -->\n\n## User\n\nmy question\n"
)


def _hold_truncated(doc: Path, ready: Path) -> subprocess.Popen[bytes]:
    """A process that has truncated ``doc`` (an in-place save in progress) and writes the
    document back, plus one user line, when its stdin closes."""
    code = textwrap.dedent(
        f"""
        import os, sys
        fd = os.open({str(doc)!r}, os.O_WRONLY | os.O_TRUNC)
        open({str(ready)!r}, "w").close()
        sys.stdin.read()
        os.write(fd, {DOC.encode()!r} + b"a line typed by the user\\n")
        os.close(fd)
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)


def test_commands_never_write_over_an_in_place_save(project: Path, fake_claude: Path) -> None:
    doc = project / "doc.md"
    for argv, stdin in ((["run", "--no-git", "doc.md"], None), (["write", "doc.md"], "answer"),
                        (["patch", "doc.md", "log", "entry"], None)):
        doc.write_text(DOC)
        ready = project / "ready"
        ready.unlink(missing_ok=True)
        editor = _hold_truncated(doc, ready)
        wait_until(ready.exists, "the in-place saver to have truncated doc.md", 10,
                   interval=0.01, while_alive=editor)
        r = run_cli(*argv, cwd=project, input=stdin,
                    env={"AGENT_DOC_LOCK_TIMEOUT": "30"})
        editor.communicate(b"")
        assert r.returncode == 1, r
        assert "open for writing by another process" in r.stderr and "hint:" in r.stderr, r
        assert doc.read_text() == DOC + "a line typed by the user\n", argv


def test_replace_document_merges_a_save_that_landed_after_our_read(project: Path) -> None:
    from agent_doc.document import replace_document

    doc = project / "doc.md"
    doc.write_text(DOC)
    read = doc.read_bytes()
    ours = DOC.replace("# Session\n", "# Session\n\nadded by agent-doc\n")
    # the editor saves (by rename) after our read, before our write
    (project / "tmp").write_text(DOC + "typed meanwhile\n")
    os.replace(project / "tmp", doc)
    left = replace_document(doc, read, ours).decode()
    assert doc.read_text() == left
    assert "added by agent-doc" in left and "typed meanwhile" in left
    assert "<<<<<<<" not in left


def test_replace_document_merges_a_save_against_the_version_it_was_made_from(
    project: Path, monkeypatch: MonkeyPatch
) -> None:
    """The rounds of `patch`'s write (soak seed 7957, the same race as the write-back's): an
    editor saves in place before each of three exchanges — the third save made from the text
    the second round displaced, written into the file the second round put in place. Merged
    against that round's text instead, the first save's line read as deleted."""
    import safefile
    from agent_doc.document import replace_document

    text = DOC + "\nintro a\n\nintro b\n\nintro c\n"
    doc = project / "doc.md"
    doc.write_text(text)
    read = doc.read_bytes()
    ours = text.replace("# Session\n", "# Session\n\nadded by agent-doc\n")

    def in_place(t: str) -> None:
        save_in_place(doc, t)

    real_exchange = safefile.exchange_write
    saves = iter([
        lambda: in_place(with_line(doc.read_text(), "intro a", "user line 1")),
        lambda: (held.append(with_line(doc.read_text(), "intro b", "user line 2")),
                 in_place(held[0])),
        lambda: in_place(with_line(held[0], "intro c", "user line 3")),  # from save 2
    ])
    held: list[str] = []

    def exchange_after_a_save(path, data, **kw):  # type: ignore[no-untyped-def]
        next(saves, lambda: None)()
        return real_exchange(path, data, **kw)

    monkeypatch.setattr(safefile, "exchange_write", exchange_after_a_save)
    left = replace_document(doc, read, ours).decode()
    assert doc.read_text() == left
    for line in ("added by agent-doc", "user line 1", "user line 2", "user line 3"):
        assert left.count(line + "\n") == 1, left
    assert "<<<<<<<" not in left


def test_a_writer_opening_the_file_during_a_settled_read_does_not_kill_the_reader(
    tmp_path: Path,
) -> None:
    """A read lease makes the kernel send SIGIO to its holder when a writer opens the file;
    SIGIO's default action would kill the reader (it killed pytest once)."""
    doc = tmp_path / "big.md"
    doc.write_bytes(b"x" * (8 << 20))
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from safefile import read_settled
        end = time.monotonic() + 3
        n = 0
        while time.monotonic() < end:
            read_settled({str(doc)!r}, wait=5)
            n += 1
        print(n)
        """)], stdout=subprocess.PIPE, text=True)
    import time

    end = time.monotonic() + 3
    opens = 0
    while time.monotonic() < end and reader.poll() is None:
        fd = os.open(doc, os.O_WRONLY)  # the lease holder is signalled here
        os.close(fd)
        opens += 1
    out, _ = reader.communicate(timeout=30)
    assert reader.returncode == 0, f"reader died with {reader.returncode}"
    assert int(out) > 0 and opens > 0
