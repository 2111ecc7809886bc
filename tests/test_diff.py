"""The diff (Part B §4.2): the matcher, the unified and full formats, and `agent-doc diff`."""

from __future__ import annotations

import itertools
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent_doc import diff as D
from agent_doc.project import Project
from agent_doc.snapshot import SnapshotStore
from helpers.cli import run_cli

# -- helpers -------------------------------------------------------------------------------------


def apply_opcodes(a: list, b: list, ops: list) -> list:
    """Rebuild b from a and the opcodes, checking that they tile both sequences."""
    out: list = []
    i = j = 0
    for tag, i1, i2, j1, j2 in ops:
        assert (i1, j1) == (i, j), ops
        assert i1 <= i2 and j1 <= j2
        if tag == "equal":
            assert a[i1:i2] == b[j1:j2]
            assert i2 - i1 == j2 - j1 > 0
            out += a[i1:i2]
        else:
            assert tag == {(True, True): "replace", (True, False): "delete",
                           (False, True): "insert"}[(i2 > i1, j2 > j1)]
            out += b[j1:j2]
        i, j = i2, j2
    assert (i, j) == (len(a), len(b))
    # no two neighbouring changes, no two neighbouring equals: blocks are maximal
    for x, y in itertools.pairwise(ops):
        assert (x[0] == "equal") != (y[0] == "equal"), ops
    return out


def lcs_length(a: list, b: list) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def matched(ops: list) -> int:
    return sum(i2 - i1 for tag, i1, i2, _j1, _j2 in ops if tag == "equal")


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$")


def apply_unified(old: str, patch: str) -> str:
    """A strict applier for our unified diffs: checks headers, counts, context and markers."""
    lines = patch.split("\n")
    assert lines[0] == "--- snapshot" and lines[1] == "+++ document", patch
    assert lines[-1] == "", "a diff ends with a newline"
    src = D.split_lines(old)
    out: list[str] = []
    pos = 0  # next unread source line
    k = 2
    body = lines[:-1]
    while k < len(body):
        m = _HUNK.match(body[k])
        assert m, f"hunk header expected, got {body[k]!r}"
        a_start, a_len = int(m[1]), int(m[2] or 1)
        b_len = int(m[4] or 1)
        a_first = a_start - 1 if a_len else a_start  # 0-based index of the hunk's first line
        assert a_first >= pos
        out += src[pos:a_first]
        pos = a_first
        k += 1
        seen_a = seen_b = 0
        while k < len(body) and not body[k].startswith("@@"):
            tag, text = body[k][:1], body[k][1:]
            assert tag in " -+", body[k]
            k += 1
            no_newline = k < len(body) and body[k] == "\\ No newline at end of file"
            if no_newline:
                k += 1
            line = text if no_newline else text + "\n"
            if tag in " -":
                assert src[pos] == line, (src[pos], line)
                pos += 1
                seen_a += 1
            if tag in " +":
                out.append(line)
                seen_b += 1
        assert (seen_a, seen_b) == (a_len, b_len), body
    out += src[pos:]
    return "".join(out)


def random_edit(seq: list, rng: random.Random, edits: int, alphabet: int) -> list:
    b = list(seq)
    for _ in range(edits):
        r = rng.random()
        p = rng.randint(0, len(b))
        if r < 0.3:
            b.insert(p, rng.randrange(alphabet))
        elif r < 0.55 and p < len(b):
            del b[p]
        elif r < 0.85 and p < len(b):
            b[p] = rng.randrange(alphabet)
        elif len(b) > 6:  # move a block
            s = rng.randrange(len(b) - 3)
            block = b[s : s + 3]
            del b[s : s + 3]
            q = rng.randint(0, len(b))
            b[q:q] = block
    return b


# -- splitting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, lines",
    [
        ("", []),
        ("a", ["a"]),
        ("a\n", ["a\n"]),
        ("a\nb", ["a\n", "b"]),
        ("\n\n", ["\n", "\n"]),
        ("a\r\nb\r\n", ["a\r\n", "b\r\n"]),
        ("a\rb\x0cc\u2028d\n", ["a\rb\x0cc\u2028d\n"]),  # only \n splits
    ],
)
def test_split_lines(text: str, lines: list[str]) -> None:
    assert D.split_lines(text) == lines
    assert "".join(D.split_lines(text)) == text


# -- the matcher ---------------------------------------------------------------------------------


def test_matcher_is_minimal_on_small_random_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Myers and the LCS table are minimal (anchoring, used on larger regions, need not be)."""
    monkeypatch.setattr(D, "PATIENCE_MIN", 10_000)
    rng = random.Random(1234)
    for _ in range(1500):
        alphabet = rng.choice([2, 3, 5, 10, 40])
        a = [rng.randrange(alphabet) for _ in range(rng.randint(0, 30))]
        if rng.random() < 0.5:
            b = random_edit(a, rng, rng.randint(0, 6), alphabet)
        else:
            b = [rng.randrange(alphabet) for _ in range(rng.randint(0, 30))]
        ops = D.line_opcodes(a, b)
        assert apply_opcodes(a, b, ops) == b
        assert matched(ops) == lcs_length(a, b), (a, b, ops)


def test_matcher_with_anchoring_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patience anchoring on every region (normally only above PATIENCE_MIN lines)."""
    monkeypatch.setattr(D, "PATIENCE_MIN", 0)
    rng = random.Random(99)
    for _ in range(1500):
        alphabet = rng.choice([3, 10, 100, 10_000])
        a = [rng.randrange(alphabet) for _ in range(rng.randint(0, 60))]
        b = random_edit(a, rng, rng.randint(0, 10), alphabet)
        assert apply_opcodes(a, b, D.line_opcodes(a, b)) == b


@pytest.mark.parametrize("every", [2, 4])
def test_matcher_with_sampled_anchors(monkeypatch: pytest.MonkeyPatch, every: int) -> None:
    """Anchoring on a sample of the lines (normally above SAMPLE_MIN lines)."""
    monkeypatch.setattr(D, "PATIENCE_MIN", 0)
    monkeypatch.setattr(D, "SAMPLE_MIN", 8)
    monkeypatch.setattr(D, "SAMPLE_EVERY", every)
    rng = random.Random(17)
    for _ in range(1000):
        alphabet = rng.choice([3, 10, 100, 10_000])
        a = [rng.randrange(alphabet) for _ in range(rng.randint(0, 80))]
        b = random_edit(a, rng, rng.randint(0, 10), alphabet)
        assert apply_opcodes(a, b, D.line_opcodes(a, b)) == b
        # strings are sampled by length, other items by hash
        sa, sb = [f"{x}\n" * (x % 3 + 1) for x in a], [f"{x}\n" * (x % 3 + 1) for x in b]
        assert apply_opcodes(sa, sb, D.line_opcodes(sa, sb)) == sb


def test_matcher_with_cost_bound_and_work_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bounded-time paths still produce correct (if not minimal) scripts."""
    rng = random.Random(7)
    monkeypatch.setattr(D, "MAX_COST", 2)
    for _ in range(800):
        a = [rng.randrange(3) for _ in range(rng.randint(0, 60))]
        b = [rng.randrange(3) for _ in range(rng.randint(0, 60))]
        assert apply_opcodes(a, b, D.line_opcodes(a, b)) == b
    monkeypatch.setattr(D, "WORK_BUDGET", 0)
    for _ in range(300):
        a = [rng.randrange(3) for _ in range(rng.randint(0, 60))]
        b = [rng.randrange(3) for _ in range(rng.randint(0, 60))]
        assert apply_opcodes(a, b, D.line_opcodes(a, b)) == b


def test_matcher_on_big_documents_applies_and_is_small() -> None:
    rng = random.Random(5)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    a = []
    for i in range(20_000):
        r = rng.random()
        if r < 0.1:
            a.append("\n")
        elif r < 0.12:
            a.append("```\n")
        else:
            a.append(" ".join(rng.choice(words) for _ in range(5)) + f" {i}\n")
    for edits in (1, 200, 2000):
        b = list(a)
        for _ in range(edits):
            p = rng.randrange(len(b))
            r = rng.random()
            if r < 0.5:
                b[p] = "changed " + b[p]
            elif r < 0.75:
                b.insert(p, f"new line {rng.random()}\n")
            else:
                del b[p]
        ops = D.line_opcodes(a, b)
        assert apply_opcodes(a, b, ops) == b
        changed = (len(a) - matched(ops)) + (len(b) - matched(ops))
        assert changed <= 2 * edits, (edits, changed)


def test_one_edit_in_repetitive_text_gives_a_tiny_diff() -> None:
    """difflib's autojunk turns this into a 10,006-line diff (LIBRARIES.md)."""
    a = ["same line\n"] * 10_000
    b = list(a)
    b[5000] = "edited line\n"
    out = D.compute("".join(a), "".join(b))
    assert out is not None
    assert [ln for ln in out.splitlines() if ln[:1] in "+-" and not ln.startswith(("---", "+++"))] \
        == ["-same line", "+edited line"]
    assert out.count("\n") == 2 + 1 + 8  # headers, one hunk header, 3+1+1+3 lines


def test_scattered_edits_in_repetitive_text_are_minimal() -> None:
    a = ["x\n", "y\n"] * 3000
    b = list(a)
    for p in (100, 2000, 4000, 5999):
        b[p] = "z\n"
    del b[3000]
    ops = D.line_opcodes(a, b)
    assert apply_opcodes(a, b, ops) == b
    assert len(a) - matched(ops) == 5 and len(b) - matched(ops) == 4


def test_moved_block() -> None:
    a = [f"line {i}\n" for i in range(2000)]
    b = a[:100] + a[1500:1600] + a[100:1500] + a[1600:]
    ops = D.line_opcodes(a, b)
    assert apply_opcodes(a, b, ops) == b
    assert len(a) - matched(ops) == 100  # the moved block shows once as deleted, once added


def test_deletions_before_insertions_in_a_replaced_block() -> None:
    ops = D.line_opcodes(["a", "b", "c", "d"], ["a", "x", "y", "d"])
    assert ops == [("equal", 0, 1, 0, 1), ("replace", 1, 3, 1, 3), ("equal", 3, 4, 3, 4)]


# -- compute (unified) ---------------------------------------------------------------------------


def test_compute_none_when_equal_or_comment_only() -> None:
    assert D.compute("a\n", "a\n") is None
    assert D.compute(None, "") is None
    assert D.compute("a\nb\n", "a\n<!-- note -->\nb\n") is None
    assert D.compute("a\n[//]: # (x)\n", "a\n[//]: # (y)\n") is None
    assert not D.has_changes("a\n", "a\n<!-- c -->\n")


def test_compute_whitespace_and_newline_changes_count() -> None:
    assert D.compute("a\n", "a \n") is not None
    assert D.compute("a\n", "a") is not None
    assert D.compute("a\n", "a\r\n") is not None
    assert D.has_changes("a\n", "a\n\n")


def test_compute_exact_output() -> None:
    old = "".join(f"l{i}\n" for i in range(1, 21))
    new = old.replace("l2\n", "two\n").replace("l15\n", "").replace("l20\n", "l20\nl21\n")
    assert D.compute(old, new) == (
        "--- snapshot\n+++ document\n"
        "@@ -1,5 +1,5 @@\n l1\n-l2\n+two\n l3\n l4\n l5\n"
        "@@ -12,9 +12,9 @@\n l12\n l13\n l14\n-l15\n l16\n l17\n l18\n l19\n l20\n+l21\n"
    )


def test_compute_from_empty_snapshot_and_to_empty_document() -> None:
    assert D.compute(None, "a\nb\n") == "--- snapshot\n+++ document\n@@ -0,0 +1,2 @@\n+a\n+b\n"
    assert D.compute("a\n", "") == "--- snapshot\n+++ document\n@@ -1 +0,0 @@\n-a\n"


def test_compute_no_newline_marker() -> None:
    assert D.compute("a\nb", "a\nb\n") == (
        "--- snapshot\n+++ document\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
    )


def test_compute_strips_comments_from_both_sides() -> None:
    out = D.compute("a\n<!-- old note -->\n", "a\nb\n<!-- new note -->\n")
    assert out == "--- snapshot\n+++ document\n@@ -1 +1,2 @@\n a\n+b\n"


def test_unified_output_applies_on_random_texts() -> None:
    rng = random.Random(42)
    for _ in range(400):
        a = [f"l{x}\n" for x in (rng.randrange(12) for _ in range(rng.randint(0, 40)))]
        b = [f"l{x}\n" for x in random_edit([int(s[1:-1]) for s in a], rng, rng.randint(0, 8), 16)]
        old, new = "".join(a), "".join(b)
        if rng.random() < 0.3:
            old = old.rstrip("\n")
        if rng.random() < 0.3:
            new = new.rstrip("\n")
        out = D.compute(old, new)
        if old == new:
            assert out is None
            continue
        assert out is not None
        assert apply_unified(old, out) == new


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_apply_accepts_our_diffs(tmp_path: Path) -> None:
    rng = random.Random(3)
    for n in range(25):
        a = [f"line {rng.randrange(30)}\n" for _ in range(rng.randint(1, 60))]
        b = list(a)
        for _ in range(rng.randint(1, 6)):
            p = rng.randrange(len(b))
            if rng.random() < 0.5:
                b.insert(p, f"new {rng.random()}\n")
            else:
                del b[p]
        old, new = "".join(a), "".join(b)
        out = D.compute(old, new)
        if out is None:
            continue
        f = tmp_path / f"f{n}.txt"
        f.write_text(old)
        patch = out.replace("--- snapshot\n+++ document\n", f"--- a/{f.name}\n+++ b/{f.name}\n", 1)
        p = subprocess.run(["git", "apply", "-"], input=patch, text=True, cwd=tmp_path,
                           capture_output=True)
        assert p.returncode == 0, (p.stderr, patch)
        assert f.read_text() == new


# -- compute_full (the reference's listing) -----------------------------------------------------


def test_full_listing_mixed() -> None:
    out = D.compute_full("line1\nline2\nline3\n", "line1\nchanged\nline3\n")
    assert out == " line1\n-line2\n+changed\n line3\n"


def test_full_listing_additions_deletions_unchanged() -> None:
    assert D.compute_full("a\n", "a\nb\n") == " a\n+b\n"
    assert D.compute_full("a\nb\n", "b\n") == "-a\n b\n"
    assert D.compute_full("a\n", "a\n") is None


def test_full_listing_last_line_without_newline_gets_one() -> None:
    # the reference would print "-b+c" on one line
    assert D.compute_full("a\nb", "a\nc") == " a\n-b\n+c\n"
    assert D.compute_full("", "x") == "+x\n"


def test_full_listing_reconstructs_both_sides() -> None:
    rng = random.Random(8)
    for _ in range(200):
        a = "".join(f"w{rng.randrange(6)}\n" for _ in range(rng.randint(0, 25)))
        b = "".join(f"w{rng.randrange(6)}\n" for _ in range(rng.randint(0, 25)))
        out = D.compute_full(a, b)
        if a == b:
            assert out is None
            continue
        assert out is not None
        rows = out.splitlines(True)
        assert "".join(r[1:] for r in rows if r[0] in " -") == a
        assert "".join(r[1:] for r in rows if r[0] in " +") == b


def test_stat_counts_lines() -> None:
    assert D.stat("a\nb\nc\n", "a\nx\nc\nd\n") == (2, 1)
    assert D.stat("a\n", "a\n<!-- c -->\n") == (0, 0)


# -- `agent-doc diff` ----------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root with its bytes and mtime (ns)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def _dirs(root: Path) -> set[str]:
    return {str(Path(d).relative_to(root)) for d, _s, _f in os.walk(root)}


def test_cli_diff_is_read_only(project: Path) -> None:
    doc = project / "notes.md"
    doc.write_text("---\nagent: claude\n---\n# Notes\n\n## User\n\nfirst question\n")
    SnapshotStore(Project.for_document(doc)).save(doc, "---\nagent: claude\n---\n# Notes\n")
    before, dirs_before = _tree(project), _dirs(project)
    r = run_cli("diff", str(doc))
    assert r.returncode == 0, r
    assert "+first question\n" in r.stdout
    assert _tree(project) == before  # document, snapshot, lock files: bytes and mtimes
    assert _dirs(project) == dirs_before
    # no session UUID was added to the document either
    assert "agent_doc_session" not in doc.read_text()


def test_cli_diff_creates_no_state_folder(git_project: Path) -> None:
    doc = git_project / "doc.md"
    doc.write_text("hello\n")
    before, dirs_before = _tree(git_project), _dirs(git_project)
    r = run_cli("diff", str(doc))
    assert r.returncode == 0, r
    assert r.stdout == "--- snapshot\n+++ document\n@@ -0,0 +1 @@\n+hello\n"
    assert "No snapshot" in r.stderr
    assert not (git_project / ".agent-doc").exists()
    assert _tree(git_project) == before and _dirs(git_project) == dirs_before


def test_cli_diff_no_changes_message(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("a\n<!-- private -->\nb\n")
    SnapshotStore(Project.for_document(doc)).save(doc, "a\nb\n")
    r = run_cli("diff", str(doc))
    assert (r.returncode, r.stdout) == (0, ""), r
    assert "No changes since last submit." in r.stderr


def test_cli_diff_full_and_stat(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("a\nB\nc\nd\n")
    SnapshotStore(Project.for_document(doc)).save(doc, "a\nb\nc\n")
    r = run_cli("diff", "--full", str(doc))
    assert (r.returncode, r.stdout) == (0, " a\n-b\n+B\n c\n+d\n"), r
    r = run_cli("diff", "--stat", str(doc))
    assert (r.returncode, r.stdout) == (0, "2 insertions(+), 1 deletion(-)\n"), r
    r = run_cli("diff", "--full", "--stat", str(doc))
    assert r.returncode == 2  # mutually exclusive


def test_cli_diff_output_is_byte_exact_for_crlf(project: Path) -> None:
    doc = project / "w.md"
    doc.write_bytes("a\r\nb\r\nnew \u00e9\r\n".encode())
    SnapshotStore(Project.for_document(doc)).save(doc, "a\r\nb\r\n")
    p = subprocess.run([sys.executable, "-m", "agent_doc", "diff", str(doc)], capture_output=True,
                       env=dict(os.environ, LC_ALL="C", LANG="C"))
    assert p.returncode == 0, p.stderr
    expected = "--- snapshot\n+++ document\n@@ -1,2 +1,3 @@\n a\r\n b\r\n+new \u00e9\r\n"
    assert p.stdout == expected.encode()


def test_cli_diff_uses_the_documents_project_not_the_cwd(project: Path, tmp_path: Path) -> None:
    sub = project / "docs"
    sub.mkdir()
    doc = sub / "d.md"
    doc.write_text("one\ntwo\n")
    SnapshotStore(Project.for_document(doc)).save(doc, "one\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ".agent-doc").mkdir(parents=True)
    link = elsewhere / "link.md"
    link.symlink_to(doc)  # through a symlink: the snapshot is keyed by the real path
    for arg in (str(doc), "link.md"):
        r = run_cli("diff", arg, cwd=elsewhere)
        assert r.returncode == 0, r
        assert r.stdout.endswith("@@ -1 +1,2 @@\n one\n+two\n"), r


def test_cli_diff_missing_file_and_bad_input(project: Path) -> None:
    r = run_cli("diff", str(project / "missing.md"))
    assert r.returncode == 1 and "file not found" in r.stderr, r
    bad = project / "bad.md"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    r = run_cli("diff", str(bad))
    assert r.returncode == 1 and "UTF-8" in r.stderr and "bad.md" in r.stderr, r
    r = run_cli("diff", str(project))
    assert r.returncode == 1 and "folder" in r.stderr, r
    r = run_cli("diff")
    assert r.returncode == 2


def test_cli_diff_works_with_broken_frontmatter(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("---\nagent: [unclosed\n---\nbody\n")
    r = run_cli("diff", str(doc))
    assert r.returncode == 0, r
    assert "+body\n" in r.stdout


def test_cli_diff_unreadable_snapshot_warns_and_uses_empty_baseline(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("x\n")
    snap = Path(Project.for_document(doc).snapshot_path(doc))
    snap.parent.mkdir(parents=True, exist_ok=True)
    snap.write_bytes(b"\xff\n")
    r = run_cli("diff", str(doc))
    assert r.returncode == 0, r
    assert "unreadable" in r.stderr and r.stdout.endswith("+x\n"), r
    assert snap.read_bytes() == b"\xff\n"


def test_cli_diff_verbose_diagnostics(project: Path) -> None:
    doc = project / "d.md"
    doc.write_text("x\n")
    r = run_cli("diff", "-v", str(doc))
    assert r.returncode == 0, r
    assert "[diff] doc=" in r.stderr and "[diff] changes detected" in r.stderr
    assert r.stdout.startswith("--- snapshot\n")


# -- long runs (pytest -m stress) ----------------------------------------------------------------


@pytest.mark.stress
def test_stress_matcher_random_properties(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2024)
    for round_ in range(4):
        if round_ == 0:
            monkeypatch.setattr(D, "PATIENCE_MIN", 10_000)  # Myers and LCS table only
        if round_ == 1:
            monkeypatch.setattr(D, "PATIENCE_MIN", 0)
        if round_ == 2:
            monkeypatch.setattr(D, "SAMPLE_MIN", 8)
            monkeypatch.setattr(D, "SAMPLE_EVERY", 2)
        if round_ == 3:
            monkeypatch.setattr(D, "MAX_COST", 3)
            monkeypatch.setattr(D, "CHUNK", 4)
        for _ in range(5000):
            alphabet = rng.choice([2, 3, 5, 10, 100, 100_000])
            a = [rng.randrange(alphabet) for _ in range(rng.randint(0, 120))]
            b = random_edit(a, rng, rng.randint(0, 20), alphabet)
            ops = D.line_opcodes(a, b)
            assert apply_opcodes(a, b, ops) == b
            if round_ == 0:  # minimal
                assert matched(ops) == lcs_length(a, b)


@pytest.mark.stress
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_stress_diff_size_close_to_git(tmp_path: Path) -> None:
    """On big random documents our diff is as small as git's (give or take a little)."""
    rng = random.Random(11)
    for n, edits in ((50_000, 10), (50_000, 500), (50_000, 5000), (20_000, 4000)):
        a = [f"{rng.choice(['x', 'y', 'some text', ''])} {rng.randrange(n)}\n"
             if rng.random() < 0.9 else "\n" for _ in range(n)]
        b = list(a)
        for _ in range(edits):
            p = rng.randrange(len(b))
            r = rng.random()
            if r < 0.5:
                b[p] = f"edited {rng.random()}\n"
            elif r < 0.75:
                b.insert(p, "\n" if rng.random() < 0.3 else f"new {rng.random()}\n")
            else:
                del b[p]
        old, new = "".join(a), "".join(b)
        out = D.compute(old, new)
        assert out is not None and apply_unified(old, out) == new
        (tmp_path / "a").write_text(old)
        (tmp_path / "b").write_text(new)
        git = subprocess.run(["git", "diff", "--no-index", "-U3", "a", "b"], cwd=tmp_path,
                             capture_output=True, text=True).stdout
        ours_chg = sum(1 for ln in out.splitlines()[2:] if ln[:1] in "+-")
        git_chg = sum(1 for ln in git.splitlines() if ln[:1] in "+-"
                      and not ln.startswith(("---", "+++")))
        assert ours_chg <= git_chg * 1.02 + 4, (n, edits, ours_chg, git_chg)
