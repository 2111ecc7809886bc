"""safefile.atomic_write / create_new / read_text / append_line (SPEC A5; fixes C6, C19).

The crash test kills a real writer process with SIGKILL at random instants and checks that the
file is always the complete old or the complete new content, and that the next write removes
the dead writer's temporary file.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from safefile import (
    DecodeError,
    atomic_write,
    clean_stale_temps,
    create_new,
    read_text,
)

IS_ROOT = os.geteuid() == 0
NOBODY = 65534


def umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def temps(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".tmp-" in n)


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="adt-aw-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


def run_unprivileged(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a real process without root's override of file permissions.

    As root, the process imports ``safefile`` first (the interpreter lives under /root, which
    ``nobody`` cannot read) and then drops to uid/gid ``nobody`` before running ``code``.
    """
    prelude = (
        "import os\nimport safefile\n"
        "if os.geteuid() == 0:\n"
        f"    os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + code, *args], capture_output=True, text=True, timeout=60
    )


# -- crash safety -------------------------------------------------------------------------------

OLD = b"A" * 300_000 + b"\n"
NEW = b"B" * 500_000 + b"\n"

# A zygote: on each input line it forks a writer that rewrites the file forever (alternating
# OLD/NEW), reports the writer's pid once the first write is complete, then reaps it after
# the test kills it. Forking a warm process keeps 100+ trials fast.
ZYGOTE = """
import os, sys
from safefile import atomic_write
target = sys.argv[1]
OLD = b"A" * 300_000 + b"\\n"
NEW = b"B" * 500_000 + b"\\n"
for _line in sys.stdin:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        i = 0
        while True:
            atomic_write(target, NEW if i % 2 == 0 else OLD)
            if i == 0:
                os.write(w, b"x")
                os.close(w)
            i += 1
    os.close(w)
    os.read(r, 1)
    os.close(r)
    sys.stdout.write(f"{pid}\\n")
    sys.stdout.flush()
    os.waitpid(pid, 0)
    sys.stdout.write("dead\\n")
    sys.stdout.flush()
"""


def kill_writers(folder: Path, trials: int, seed: int) -> int:
    """Kill a rewriting writer ``trials`` times at random instants; check the file each time.

    Returns how many kills landed in the middle of a write (a temp file was left behind).
    """
    target = folder / "doc.md"
    target.write_bytes(OLD)
    rng = random.Random(seed)
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE, str(target)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert zygote.stdin is not None and zygote.stdout is not None
    killed_mid_write = 0
    try:
        for trial in range(trials):
            zygote.stdin.write("go\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            time.sleep(rng.uniform(0, 0.015))
            os.kill(pid, 9)
            assert zygote.stdout.readline().strip() == "dead"
            data = target.read_bytes()
            assert data in (OLD, NEW), f"trial {trial}: torn file of {len(data)} bytes"
            left = temps(folder)
            if left:
                killed_mid_write += 1
                assert all(f".tmp-{pid}-" in n for n in left)
            # the next write removes the dead writer's temp file
            atomic_write(target, b"check\n")
            assert temps(folder) == []
            assert target.read_bytes() == b"check\n"
    finally:
        zygote.kill()
        zygote.wait(timeout=10)
    return killed_mid_write


def test_sigkilled_writer_never_leaves_a_torn_file(tmp_path: Path) -> None:
    mid = kill_writers(tmp_path, 120, seed=1234)
    # the kills really landed inside writes (otherwise this test would prove nothing)
    assert mid > 0
    print(f"{mid}/120 kills landed mid-write")


@pytest.mark.stress
def test_sigkilled_writer_stress(tmp_path: Path) -> None:
    mid = kill_writers(tmp_path, 2000, seed=99)
    assert mid > 0
    print(f"{mid}/2000 kills landed mid-write")


def test_concurrent_reader_sees_only_whole_contents(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    small_old, small_new = b"x" * 50_000, b"y" * 80_000
    target.write_bytes(small_old)
    reader = (
        "import sys, os\n"
        "p = sys.argv[1]; ok = {b'x' * 50_000, b'y' * 80_000}; n = bad = 0\n"
        "while not os.path.exists(p + '.stop'):\n"
        "    with open(p, 'rb') as fh:\n"
        "        d = fh.read()\n"
        "    n += 1; bad += d not in ok\n"
        "print(n, bad)\n"
    )
    r = subprocess.Popen([sys.executable, "-c", reader, str(target)], stdout=subprocess.PIPE,
                         text=True)
    try:
        for i in range(300):
            atomic_write(target, small_new if i % 2 else small_old, durable=False)
    finally:
        Path(str(target) + ".stop").write_text("")
    out, _ = r.communicate(timeout=30)
    reads, bad = map(int, out.split())
    assert reads > 0
    assert bad == 0


# -- metadata -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o664, 0o600, 0o640, 0o755])
def test_existing_mode_is_kept(tmp_path: Path, mode: int) -> None:
    f = tmp_path / "doc.md"
    f.write_text("old")
    f.chmod(mode)
    atomic_write(f, "new", mode=0o600)  # `mode` is only for new files
    assert f.read_text() == "new"
    assert stat.S_IMODE(f.stat().st_mode) == mode


@pytest.mark.parametrize("mode", [0o644, 0o664])
def test_exchange_write_keeps_mode_and_symlink_and_returns_the_old_bytes(
    tmp_path: Path, mode: int
) -> None:
    from safefile import exchange_write

    target = tmp_path / "real.md"
    target.write_text("old")
    target.chmod(mode)
    link = tmp_path / "link.md"
    link.symlink_to(target)
    displaced = exchange_write(link, "new")
    if displaced is None:
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert displaced == b"old"
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_exchange_write_keep_as_leaves_the_displaced_file(tmp_path: Path) -> None:
    """A displaced file kept for the caller (it may be an editor's only copy of a save) is
    left in place by the writer — also when the writer dies (a real process, exited) — and
    no later safe write's clean-up of dead writers' temp files removes it."""
    target = tmp_path / "doc.md"
    target.write_text("the user's save")
    kept = tmp_path / f".doc.md.agent-doc-displaced-{os.getpid()}-x"
    code = ("import sys; from safefile import exchange_write; "
            "r = exchange_write(sys.argv[1], 'ours', keep_as=sys.argv[2]); "
            "sys.exit(3 if r is None else 0)")
    p = subprocess.run([sys.executable, "-c", code, str(target), str(kept)])
    if p.returncode == 3:
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert p.returncode == 0
    assert target.read_text() == "ours"
    assert kept.read_text() == "the user's save"  # the writer (now dead) left it
    atomic_write(target, "next")  # cleans the stale temp files of dead writers
    from safefile.atomic import clean_stale_temps

    clean_stale_temps(str(target))
    assert kept.read_text() == "the user's save"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


_KILL_AT = {
    # half of our text written into the temporary file, then SIGKILL
    "mid-fill": ("real = atomic._fill_temp\n"
                 "def hook(fd, raw, *a, **k):\n"
                 "    os.write(fd, raw[: len(raw) // 2])\n"
                 "    os.kill(os.getpid(), signal.SIGKILL)\n"
                 "atomic._fill_temp = hook\n"),
    # our text whole and fsynced, the exchange not made
    "before-exchange": ("real = atomic._exchange\n"
                        "def hook(a, b):\n"
                        "    os.kill(os.getpid(), signal.SIGKILL)\n"
                        "atomic._exchange = hook\n"),
    # the exchange made, nothing after it
    "after-exchange": ("real = atomic._exchange\n"
                       "def hook(a, b):\n"
                       "    ok = real(a, b)\n"
                       "    os.kill(os.getpid(), signal.SIGKILL)\n"
                       "atomic._exchange = hook\n"),
}


@pytest.mark.parametrize("point", list(_KILL_AT))
def test_exchange_write_keep_as_killed_at_each_step(tmp_path: Path, point: str) -> None:
    """A writer SIGKILLed at each step of ``exchange_write(keep_as=)``: the displaced text (the
    only copy of an editor's save) is never left under a name a cleaner removes, and the kept
    name never holds anything but the whole of it or the whole of our text — a partial copy
    of ours there would be merged later as if an editor had saved it, losing every line after
    the cut."""
    target = tmp_path / "doc.md"
    old = "".join(f"the user's line {i}\n" for i in range(20_000)).encode()
    new = "".join(f"our line {i}\n" for i in range(20_000)).encode()
    target.write_bytes(old)
    kept = tmp_path / f".doc.md.agent-doc-displaced-{os.getpid()}-x"
    code = ("import os, signal, sys\nfrom safefile import atomic\n" + _KILL_AT[point]
            + "r = atomic.exchange_write(sys.argv[1], open(sys.argv[3], 'rb').read(), "
              "keep_as=sys.argv[2])\nsys.exit(3 if r is None else 0)\n")
    (tmp_path / "new.bin").write_bytes(new)
    p = subprocess.run([sys.executable, "-c", code, str(target), str(kept),
                        str(tmp_path / "new.bin")])
    if p.returncode == 3:
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert p.returncode == -signal.SIGKILL, p
    (tmp_path / "new.bin").unlink()
    clean_stale_temps(str(target))  # what the next safe write does first
    left = {f.name: f.read_bytes() for f in tmp_path.iterdir() if "doc.md" in f.name}
    on_disk = left.pop("doc.md")
    assert on_disk in (old, new)  # never torn
    assert old in (on_disk, left.get(kept.name)), (
        f"killed {point}: the displaced text is gone; left: {sorted(left)}")
    for name, data in left.items():
        assert name == kept.name and data in (old, new), (
            f"killed {point}: {name} holds {len(data)} bytes, neither text whole")


def test_new_file_mode(tmp_path: Path) -> None:
    atomic_write(tmp_path / "a", "x")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o666 & ~umask()
    atomic_write(tmp_path / "b", "x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o600


@pytest.mark.skipif(not IS_ROOT, reason="changing a file's owner needs root")
def test_owner_is_kept(tmp_path: Path) -> None:
    f = tmp_path / "doc.md"
    f.write_text("old")
    os.chown(f, NOBODY, NOBODY)
    f.chmod(0o640)
    atomic_write(f, "new")
    st = f.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (NOBODY, NOBODY, 0o640)


def test_symlink_chain_is_written_through(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    link_dir = tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    target = real_dir / "doc.md"
    target.write_text("old")
    target.chmod(0o644)
    first = link_dir / "first.md"
    first.symlink_to(Path("..") / "real" / "doc.md")  # relative link
    second = tmp_path / "second.md"
    second.symlink_to(first)  # absolute link to a link
    atomic_write(second, "new")
    assert second.is_symlink() and first.is_symlink()
    assert os.readlink(second) == str(first)
    assert os.readlink(first) == os.path.join("..", "real", "doc.md")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert temps(real_dir) == temps(link_dir) == temps(tmp_path) == []


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "missing.md")
    atomic_write(link, "hello")
    assert link.is_symlink()
    assert (tmp_path / "missing.md").read_text() == "hello"


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError) as info:
        atomic_write(a, "x")
    assert info.value.errno == errno.ELOOP
    assert str(a) in str(info.value)
    assert a.is_symlink() and b.is_symlink()


# -- failures -----------------------------------------------------------------------------------

WRITE_SNIPPET = (
    "import sys\nfrom safefile import atomic_write\n"
    "try:\n    atomic_write(sys.argv[1], 'new')\n"
    "except PermissionError as e:\n    print('EACCES', e.strerror)\nelse:\n    print('WROTE')\n"
)


def test_read_only_folder_fails_cleanly(shared_dir: Path) -> None:
    folder = shared_dir / "ro"
    folder.mkdir()
    f = folder / "doc.md"
    f.write_text("old")
    f.chmod(0o666)  # the file itself is writable: only the folder is not
    folder.chmod(0o555)
    try:
        p = run_unprivileged(WRITE_SNIPPET, str(f))
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("EACCES cannot write"), p.stdout
        assert str(folder) in p.stdout
        assert f.read_text() == "old"
        assert temps(folder) == []
    finally:
        folder.chmod(0o755)


EXCHANGE_SNIPPET = WRITE_SNIPPET.replace("atomic_write", "exchange_write")


def test_exchange_write_in_a_read_only_folder_fails_like_atomic_write(shared_dir: Path) -> None:
    """exchange_write shares atomic_write's temporary file (issue 13): the same message naming
    the document and the folder, not a bare "Permission denied: .doc.md.tmp-..."."""
    folder = shared_dir / "ro"
    folder.mkdir()
    f = folder / "doc.md"
    f.write_text("old")
    f.chmod(0o666)
    folder.chmod(0o555)
    try:
        p = run_unprivileged(EXCHANGE_SNIPPET, str(f))
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"EACCES cannot write {f}: no permission to create a file "
                                   f"in {folder}"), p.stdout
        assert f.read_text() == "old"
        assert temps(folder) == []
    finally:
        folder.chmod(0o755)


def test_exchange_write_retries_a_taken_temp_name(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary name already taken (O_EXCL) is retried with a new one, as atomic_write does."""
    import safefile.atomic as atomic
    from safefile import exchange_write

    f = tmp_path / "doc.md"
    f.write_text("old")
    names = iter([b"\x00" * 4, b"\x00" * 4, b"\x01" * 4])
    monkeypatch.setattr(atomic.os, "urandom", lambda n: next(names))
    taken = tmp_path / f".doc.md.tmp-{os.getpid()}-00000000"
    taken.write_text("someone else's")
    assert exchange_write(f, "new") == b"old"
    assert f.read_text() == "new"
    assert taken.read_text() == "someone else's"


def test_read_only_file_is_not_replaced(shared_dir: Path) -> None:
    f = shared_dir / "doc.md"
    f.write_text("old")
    f.chmod(0o444)
    if IS_ROOT:
        os.chown(shared_dir, NOBODY, NOBODY)  # the folder is writable for the writer
        os.chown(f, NOBODY, NOBODY)
    p = run_unprivileged(WRITE_SNIPPET, str(f))
    assert p.stdout.startswith("EACCES"), (p.stdout, p.stderr)
    assert "read-only" in p.stdout and str(f) in p.stdout
    assert f.read_text() == "old"
    assert temps(shared_dir) == []


def test_failure_midway_removes_the_temp_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "doc.md"
    f.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="simulated"):
        atomic_write(f, "new")
    monkeypatch.undo()
    assert f.read_text() == "old"
    assert temps(tmp_path) == []


def test_folder_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic_write(tmp_path / "d", "x")
    assert temps(tmp_path) == []


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write(tmp_path / "no" / "f", "x")
    atomic_write(tmp_path / "no" / "f", "x", make_parents=True)
    assert (tmp_path / "no" / "f").read_text() == "x"


def test_long_file_name(tmp_path: Path) -> None:
    f = tmp_path / ("n" * 250 + ".md")
    atomic_write(f, "a")
    atomic_write(f, "b")
    assert f.read_text() == "b"
    assert temps(tmp_path) == []


# -- stale temp files ---------------------------------------------------------------------------


def test_stale_temps_of_dead_writers_are_removed(tmp_path: Path) -> None:
    f = tmp_path / "doc.md"
    f.write_text("x")
    dead = tmp_path / f".doc.md.tmp-{dead_pid()}-deadbeef"
    dead.write_text("partial")
    other_target = tmp_path / f".other.md.tmp-{dead_pid()}-deadbeef"
    other_target.write_text("not ours")
    atomic_write(f, "y")
    assert not dead.exists()
    assert other_target.exists()  # only temps of the target being written are touched


def test_temps_of_live_writers_are_kept(tmp_path: Path) -> None:
    f = tmp_path / "doc.md"
    f.write_text("x")
    # a live writer (another process) holding its temp file's flock, as atomic_write does
    code = (
        "import fcntl, os, sys\n"
        "p = sys.argv[1] + f'/.doc.md.tmp-{os.getpid()}-cafe0001'\n"
        "fd = os.open(p, os.O_WRONLY | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.utime(p, (1, 1))  # old, so only the flock protects it\n"
        "print(p, flush=True)\nsys.stdin.readline()\n"
    )
    w = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert w.stdout is not None
        locked_tmp = Path(w.stdout.readline().strip())
        # a fresh temp of a live pid not yet locked (the create→flock window)
        fresh = tmp_path / f".doc.md.tmp-{os.getppid()}-cafe0002"
        fresh.write_text("")
        # an old unlocked temp whose pid is alive again (pid reuse)
        reused = tmp_path / f".doc.md.tmp-{os.getppid()}-cafe0003"
        reused.write_text("")
        os.utime(reused, (1, 1))
        atomic_write(f, "y")
        assert locked_tmp.exists()
        assert fresh.exists()
        assert not reused.exists()
    finally:
        w.kill()
        w.wait()
    assert clean_stale_temps(str(f)) == [locked_tmp.name]


# -- create_new ---------------------------------------------------------------------------------


def test_create_new_is_exclusive(tmp_path: Path) -> None:
    f = tmp_path / "sub" / "new.md"
    create_new(f, "first", make_parents=True)
    assert f.read_text() == "first"
    assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask()
    with pytest.raises(FileExistsError, match="already exists"):
        create_new(f, "second")
    assert f.read_text() == "first"
    assert temps(f.parent) == []


def test_create_new_through_a_dangling_link(tmp_path: Path) -> None:
    link = tmp_path / "link.md"
    link.symlink_to("target.md")
    create_new(link, "hi")
    assert link.is_symlink() and (tmp_path / "target.md").read_text() == "hi"
    with pytest.raises(FileExistsError):
        create_new(link, "again")


# -- reading and appending ----------------------------------------------------------------------


def test_read_text_is_exact_and_strict(tmp_path: Path) -> None:
    f = tmp_path / "doc.md"
    f.write_bytes(b"a\r\nb\rc\n")
    assert read_text(f) == "a\r\nb\rc\n"  # no newline translation
    f.write_bytes(b"line one\nline \xff two\n")
    with pytest.raises(DecodeError) as info:
        read_text(f)
    assert f"{f}: not valid UTF-8 (line 2" in str(info.value)


def test_append_line_from_many_processes(tmp_path: Path) -> None:
    log = tmp_path / "claims.log"
    code = (
        "import sys\nfrom safefile import append_line\n"
        "for i in range(200):\n"
        "    line = f'Claimed {sys.argv[2]}-{i} for pane %1' + 'x' * 100 + '\\n'\n"
        "    append_line(sys.argv[1], line)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(log), f"w{k}"]) for k in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    lines = log.read_text().splitlines()
    assert len(lines) == 800
    expected = {f"Claimed w{k}-{i} for pane %1" + "x" * 100 for k in range(4) for i in range(200)}
    assert set(lines) == expected


@pytest.mark.parametrize("via", ["_ctypes", "ctypes"])
def test_rename_exchange_swaps_and_reports_errno(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    """Both ways of reaching renameat2 (the cheap ``_ctypes`` one, the ``ctypes`` fallback)
    swap two names atomically and turn a failure into an OSError with the right errno."""
    from safefile import atomic

    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux only")
    monkeypatch.setattr(atomic, "_renameat2", None)
    if via == "ctypes":
        real_import = __import__

        def fake_import(name: str, *args: object, **kwargs: object) -> object:
            # renameat2 is looked up by fastpath.load_renameat2
            if name == "_ctypes" and sys._getframe(1).f_globals.get("__name__") == "fastpath":
                raise ImportError("blocked for the test")
            return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr("builtins.__import__", fake_import)
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A")
    b.write_text("B")
    if not atomic._exchange(str(a), str(b)):
        pytest.skip("this file system has no RENAME_EXCHANGE")
    assert (a.read_text(), b.read_text()) == ("B", "A")
    with pytest.raises(OSError) as info:
        atomic._exchange(str(tmp_path / "missing"), str(b))
    assert info.value.errno == errno.ENOENT
    fn = atomic._renameat2
    assert type(fn).__module__ == ("ctypes" if via == "ctypes" else "fastpath")


# -- state files never follow a link; documents must be regular files (issue 11) -------------


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a real child process, with a timeout that catches a hang."""
    try:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: {code}")


def test_a_state_write_refuses_a_link_and_leaves_its_target(tmp_path: Path) -> None:
    from safefile import NotRegularFileError

    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    state = tmp_path / "proj" / ".agent-doc"
    state.mkdir(parents=True)
    (state / "sessions.json").symlink_to(victim)
    with pytest.raises(NotRegularFileError) as info:
        atomic_write(state / "sessions.json", "{}", state_root=str(tmp_path / "proj"))
    assert "symbolic link" in str(info.value) and "rm " in info.value.hint
    assert victim.read_bytes() == b"precious\n"
    # a linked folder below the state root is refused too
    (tmp_path / "elsewhere").mkdir()
    (state / "snapshots").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(NotRegularFileError):
        atomic_write(state / "snapshots" / "x.md", "x", make_parents=True,
                     state_root=str(tmp_path / "proj"))
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_state_mode_is_exact_and_narrowed_by_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    target.chmod(0o644)
    old = os.umask(0o022)
    try:
        atomic_write(target, "new", mode=0o600, state_root=str(tmp_path))
        assert stat.S_IMODE(target.stat().st_mode) == 0o600  # narrowed, not kept at 0644
        atomic_write(target, "newer", mode=0o666, state_root=str(tmp_path))
        assert stat.S_IMODE(target.stat().st_mode) == 0o644  # the umask still applies
    finally:
        os.umask(old)


def test_reading_a_fifo_is_refused_not_blocked_on(tmp_path: Path) -> None:
    fifo = tmp_path / "doc.md"
    os.mkfifo(fifo)
    for fn in ("read_bytes", "read_text", "read_settled"):
        p = _child(f"import sys\nfrom safefile import {fn}\n"
                   "try:\n    {fn}(sys.argv[1])\nexcept OSError as e:\n    print(e)\n"
                   .replace("{fn}", fn), str(fifo))
        assert "is a FIFO (named pipe), not a regular file" in p.stdout, p
    p = _child("import sys\nfrom safefile import atomic_write\n"
               "try:\n    atomic_write(sys.argv[1], 'x')\nexcept OSError as e:\n    print(e)\n",
               str(fifo))
    assert "FIFO" in p.stdout and stat.S_ISFIFO(os.lstat(fifo).st_mode), p


def test_append_line_refuses_a_link_and_a_fifo(tmp_path: Path) -> None:
    from safefile import NotRegularFileError, append_line

    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (tmp_path / "claims.log").symlink_to(victim)
    with pytest.raises(NotRegularFileError):
        append_line(tmp_path / "claims.log", "Claimed x\n")
    assert victim.read_bytes() == b"precious\n"
    os.mkfifo(tmp_path / "fifo.log")
    p = _child("import sys\nfrom safefile import append_line\n"
               "try:\n    append_line(sys.argv[1], 'x\\n')\nexcept OSError as e:\n    print(e)\n",
               str(tmp_path / "fifo.log"))
    assert "FIFO" in p.stdout, p
