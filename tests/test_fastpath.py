"""fastpath: each start-up trick gives the library's own result on its fast path and on its
fallback (the private module missing), the fast path really avoids the costly import, no other
module imports a private one, and ``AGENT_DOC_TRACE=1`` traces program runs, git calls and lock
waits (and costs nothing when off)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastpath
from helpers.cli import run_cli
from helpers.paths import SRC
from helpers.tmux import TmuxServer

MISSING = ("_no_such_module_",)


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


# -- sha256 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [fastpath.SHA256_MODULES, MISSING, ("_sha2",), ("_sha256",)])
def test_sha256_equals_hashlib_on_every_path(names: tuple[str, ...]) -> None:
    impl = fastpath._load_sha256(names)
    for data in (b"", b"abc", "/tmp/d\u00e9j\u00e0 vu.md".encode(), os.urandom(5000)):
        assert impl(data).hexdigest() == hashlib.sha256(data).hexdigest()
    h = impl(b"ab")
    h.update(b"c")
    assert h.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_sha256_fast_path_does_not_import_hashlib() -> None:
    p = _python("import sys, fastpath; d = fastpath.sha256(b'x').hexdigest(); "
                "print(d, 'hashlib' in sys.modules, '_hashlib' in sys.modules)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [hashlib.sha256(b"x").hexdigest(), "False", "False"]


# -- signal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [fastpath.SIGNAL_MODULES, MISSING])
def test_signal_module_masks_sigint_on_every_path(names: tuple[str, ...]) -> None:
    import signal

    mod = fastpath.signal_module(names)
    old = mod.pthread_sigmask(mod.SIG_BLOCK, {mod.SIGINT})
    try:
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        mod.pthread_sigmask(mod.SIG_SETMASK, old)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert mod.getsignal(mod.SIGINT) is not None


def test_signal_fast_path_does_not_import_signal() -> None:
    p = _python("import sys, fastpath; m = fastpath.signal_module(); "
                "print(m.__name__, 'signal' in sys.modules)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["_signal", "False"]


# -- json -----------------------------------------------------------------------------------

JSON_SAMPLES = [
    '{"a": 1, "b": [true, false, null], "c": "d\\u00e9j\\u00e0", "e": 1.5e3}',
    "  [1, 2, 3]\n", '"plain"', "-Infinity", '{"nested": {"x": {}}}', "\ufeff{}",
]
JSON_BAD = ["", "{", "[1,]", "{} x", "nul"]


@pytest.mark.parametrize("fast", [True, False])
def test_json_loads_equals_json_on_every_path(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastpath, "_scanner", fastpath._make_scanner() if fast else False)
    if fast:
        assert fastpath._scanner is not False
    assert fastpath._make_scanner(MISSING) is False
    for text in JSON_SAMPLES:
        if text.startswith("\ufeff"):
            with pytest.raises(json.JSONDecodeError):
                json.loads(text)
            with pytest.raises(json.JSONDecodeError):
                fastpath.json_loads(text)
            continue
        assert fastpath.json_loads(text) == json.loads(text)
    for text in JSON_BAD:
        with pytest.raises(json.JSONDecodeError) as ours:
            fastpath.json_loads(text)
        with pytest.raises(json.JSONDecodeError) as theirs:
            json.loads(text)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("names", [("_json",), MISSING])
def test_json_quote_equals_json_on_every_path(names: tuple[str, ...]) -> None:
    quote = fastpath._load_quote(names)
    quote_ascii = fastpath._load_quote(names, ascii=True)
    for text in ["", "plain", 'q"uote\\', "d\u00e9j\u00e0 \U0001f600", "\x00\x1f\n\t", "\ud800"]:
        assert quote(text) == json.dumps(text, ensure_ascii=False)
        assert quote_ascii(text) == json.dumps(text)


def test_json_fast_path_imports_neither_json_nor_re() -> None:
    p = _python("import sys, fastpath; v = fastpath.json_loads('{\"a\": [1]}'); "
                "q = fastpath.json_quote('x'); print(v, q, 'json' in sys.modules, "
                "'re' in sys.modules)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["{'a':", "[1]}", '"x"', "False", "False"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("names", [("_json",), MISSING])
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_VALUES, indent=st.sampled_from([None, 0, 1, 2, 4]), ascii=st.booleans())
def test_json_dumps_equals_json_on_every_path(names: tuple[str, ...], value: object,
                                              indent: int | None, ascii: bool) -> None:
    """Byte for byte what ``json.dumps(value, ensure_ascii=..., indent=...)`` writes (the
    pending journal's format, indented; a record's compact lines), through `_json`'s encoders
    and through json's own."""
    want = json.dumps(value, ensure_ascii=ascii, indent=indent)
    if indent is None:
        compact = fastpath._load_compact(names, ascii=ascii)
        if names == MISSING:
            assert compact is None  # json_dumps then hands the value to json.dumps
        else:
            assert compact(value) == want
    else:
        assert fastpath._dumps(value, indent, fastpath._load_quote(names, ascii)) == want
    assert fastpath.json_dumps(value, indent=indent, ensure_ascii=ascii) == want


def test_json_dumps_hands_what_it_does_not_write_to_json() -> None:
    """Values beyond plain JSON types get json's own result or error."""
    class Text(str):
        pass

    class Number(int):
        pass

    odd: list[object] = [{1: "int key"}, {None: 1.5}, [Number(3)], {"t": (1, 2)}, Text("s"),
                         {"s": Text("x")}]
    for indent in (1, None):
        for value in odd:
            assert fastpath.json_dumps(value, indent=indent) == json.dumps(
                value, ensure_ascii=False, indent=indent)
        with pytest.raises(TypeError) as ours:
            fastpath.json_dumps({"a": {1, 2}}, indent=indent)
        with pytest.raises(TypeError) as theirs:
            json.dumps({"a": {1, 2}}, indent=indent)
        assert str(ours.value) == str(theirs.value)
        loop: list[object] = []
        loop.append(loop)
        with pytest.raises(ValueError, match="Circular reference"):
            fastpath.json_dumps(loop, indent=indent)


def test_json_dumps_imports_neither_json_nor_re() -> None:
    p = _python("import sys, fastpath; d = fastpath.json_dumps({'a': [1, 'x', None]}); "
                "c = fastpath.json_dumps({'a': ['\u00e9', 1.5]}, indent=None, ensure_ascii=True); "
                "print(repr(d), c, 'json' in sys.modules, 're' in sys.modules)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == (repr('{\n "a": [\n  1,\n  "x",\n  null\n ]\n}')
                                + ' {"a": ["\\u00e9", 1.5]} False False')


# -- renameat2 ------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [("_ctypes",), MISSING])
def test_renameat2_exchanges_two_files_on_every_path(
    names: tuple[str, ...], tmp_path: Path
) -> None:
    found = fastpath.load_renameat2(names)
    assert found is not None  # Linux with glibc >= 2.28
    fn, get_errno = found
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A")
    b.write_text("B")
    at_fdcwd, exchange = -100, 2
    assert fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), exchange) == 0
    assert (a.read_text(), b.read_text()) == ("B", "A")
    assert fn(at_fdcwd, os.fsencode(tmp_path / "gone"), at_fdcwd, os.fsencode(b), exchange) == -1
    assert get_errno() == 2  # ENOENT, read through the errno function that came with it


def test_renameat2_fast_path_does_not_import_ctypes() -> None:
    p = _python("import sys, fastpath; f = fastpath.load_renameat2(); "
                "print(f is not None, 'ctypes' in sys.modules)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["True", "False"]


# -- fast exit ------------------------------------------------------------------------------

# an object whose finalizer runs only in Python's own shutdown (module teardown)
_SHUTDOWN_PROBE = (
    "import sys, fastpath\n"
    "class Probe:\n"
    "    def __del__(self): sys.stdout.write('shutdown ran\\n'); sys.stdout.flush()\n"
    "probe = Probe()\n"
    "sys.stdout.write('output kept\\n')\n"
)


def test_fast_exit_skips_the_shutdown_and_keeps_buffered_output() -> None:
    p = _python(_SHUTDOWN_PROBE + "sys.exit(fastpath.fast_exit(3))")
    assert (p.returncode, p.stdout) == (3, "output kept\n"), p


@pytest.mark.parametrize("setup", [
    "import atexit; atexit.register(lambda: print('atexit ran'))",
    "import atexit; del atexit._ncallbacks",  # an interpreter that cannot say
    "import threading, time; threading.Thread(target=time.sleep, args=(0.2,)).start()",
])
def test_fast_exit_falls_back_to_the_normal_shutdown(setup: str) -> None:
    p = _python(_SHUTDOWN_PROBE + setup + "\nsys.exit(fastpath.fast_exit(3))")
    assert p.returncode == 3, p
    assert p.stdout.startswith("output kept\n") and "shutdown ran" in p.stdout, p


# -- no private imports elsewhere -----------------------------------------------------------

#: documented low-level modules, not start-up tricks (``_thread``: safefile.lock's thread ids)
PUBLIC_UNDERSCORE = {"_thread"}
_PRIVATE_IMPORT = re.compile(
    r"^\s*(?:import\s+(_\w+)|from\s+(_\w+)\s+import)"
    r"|__import__\(\s*['\"](_\w+)|\b\w+\._ncallbacks\b",
    re.M,
)


def test_no_module_but_fastpath_imports_a_private_module() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.parts[-2] == "fastpath":
            continue
        text = path.read_text(encoding="utf-8")
        for m in _PRIVATE_IMPORT.finditer(text):
            name = next((g for g in m.groups() if g), m.group(0))
            if name not in PUBLIC_UNDERSCORE and not name.startswith("__"):
                line = text.count("\n", 0, m.start()) + 1
                offenders.append(f"{path.relative_to(SRC)}:{line}: {name}")
    assert offenders == []


# -- tracing --------------------------------------------------------------------------------

TRACE_LINE = re.compile(r"^agent-doc trace \d\d:\d\d:\d\d\.\d{3} \[pid \d+\] (\w[\w.-]*): (.*)$")


def _traces(stderr: str) -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in map(TRACE_LINE.match, stderr.splitlines()) if m]


def test_trace_off_by_default_and_on_with_the_variable() -> None:
    code = "import procrun; procrun.run(['true']); procrun.run(['sh', '-c', 'exit 3'])"
    quiet = _python(code, env={"AGENT_DOC_TRACE": "0"})
    assert quiet.returncode == 0 and quiet.stderr == "", quiet
    p = _python(code, env={"AGENT_DOC_TRACE": "1"})
    assert p.returncode == 0, p
    got = _traces(p.stderr)
    assert [k for k, _ in got] == ["true", "sh"], p.stderr
    assert re.fullmatch(r"true -> rc 0, 0 B out, 0 B err, pid \d+ \(\d+\.\d ms\)", got[0][1])
    assert got[1][1].startswith("sh -c 'exit 3' -> rc 3,"), got


def test_trace_names_a_program_that_could_not_start() -> None:
    p = _python("import procrun\ntry: procrun.run(['/nonexistent/prog'])\nexcept OSError: pass",
                env={"AGENT_DOC_TRACE": "1"})
    assert p.returncode == 0, p
    (kind, what), = _traces(p.stderr)
    assert kind == "prog" and "not started: FileNotFoundError" in what, p.stderr


def test_trace_of_a_command_shows_the_command_and_its_git_calls(git_project: Path) -> None:
    doc = git_project / "doc.md"
    doc.write_text("---\nagent_doc_session: 11111111-2222-3333-4444-555555555555\n---\n\nhi\n")
    r = run_cli("commit", str(doc), cwd=git_project, env={"AGENT_DOC_TRACE": "1"})
    assert r.returncode == 0, r
    got = _traces(r.stderr)
    assert got[0] == ("command", f"agent-doc commit {doc}"), got
    gits = [what for kind, what in got if kind == "git"]
    assert any(w.startswith("git commit ") and " -> rc 0 (" in w for w in gits), got
    assert any("rev-parse --show-toplevel -> rc 0" in w for w in gits), got
    plain = run_cli("commit", str(doc), cwd=git_project)
    assert plain.returncode == 0 and _traces(plain.stderr) == [], plain


def test_trace_of_claim_shows_its_tmux_clients(project: Path, tmux_server: TmuxServer) -> None:
    pane = tmux_server.start()
    doc = project / "t.md"
    doc.write_text("---\nagent_doc_session: 11111111-2222-3333-4444-555555555555\n---\n\nhi\n")
    r = run_cli("claim", "t.md", "--pane", pane, cwd=project, env={"AGENT_DOC_TRACE": "1"})
    assert r.returncode == 0, r
    kinds = [kind for kind, _ in _traces(r.stderr)]
    assert kinds[0] == "command" and "tmux" in kinds, r.stderr


def test_trace_shows_a_lock_wait(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, safefile; l = safefile.FileLock(sys.argv[1]); "
         "l.acquire(); print('held', flush=True); sys.stdin.read(); l.release()", str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline() == "held\n"
    waiter = subprocess.Popen(
        [sys.executable, "-c", "import sys, safefile; l = safefile.FileLock(sys.argv[1]); "
         "l.acquire(); l.release()", str(lock)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "AGENT_DOC_TRACE": "1"},
    )
    assert waiter.stderr is not None
    first = waiter.stderr.readline()  # the waiter's notice: it is blocked on the lock now
    assert "waiting for lock" in first, first
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0
    rest = waiter.stderr.read()
    assert waiter.wait(timeout=30) == 0
    (kind, what), = _traces(rest)
    assert kind == "lock" and what.startswith(f"waited for {lock} -> acquired ("), rest


# -- one error base, mapped by type ---------------------------------------------------------


def test_every_tmux_router_error_shares_one_base() -> None:
    import inspect

    import tmux_router.cli
    import tmux_router.registry
    import tmux_router.sync
    import tmux_router.tmux
    from tmux_router.errors import TmuxRouterError

    classes = {
        obj for mod in (tmux_router.cli, tmux_router.registry, tmux_router.sync, tmux_router.tmux)
        for _name, obj in inspect.getmembers(mod, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__.startswith("tmux_router")
        and not obj.__name__.startswith("_")
    }
    assert len(classes) >= 5
    assert [c.__name__ for c in classes if not issubclass(c, TmuxRouterError)] == []


def test_the_cli_maps_errors_by_type_not_by_module_name() -> None:
    """A TmuxRouterError raised from code outside tmux_router (a resolver, a plug-in) is still
    the library's error: message, exit 1; an unrelated error still shows its traceback."""
    code = (
        "import sys\n"
        "from agent_doc.cli import run_command\n"
        "from tmux_router.errors import TmuxRouterError\n"
        "class Mine(TmuxRouterError): pass\n"
        "def fail(ns): raise Mine('the pane %1 is gone')\n"
        "sys.exit(run_command(fail, None))\n"
    )
    p = _python(code)
    assert (p.returncode, p.stderr) == (1, "Error: the pane %1 is gone\n"), p
    p = _python(code.replace("class Mine(TmuxRouterError)", "class Mine(Exception)"))
    assert p.returncode == 1 and "Traceback" in p.stderr, p


def test_trace_shows_an_http_agent_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from test_agents import FakeAPI

    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    api = FakeAPI()
    try:
        p = _python(
            "import sys\nfrom agent_doc.agents.openai import OpenAIAgent\n"
            f"a = OpenAIAgent('local', {api.url!r}, timeout=30)\n"
            "print(a.send('hi', resume_id=None, fork=False, model='m').text)\n",
            env={"AGENT_DOC_TRACE": "1"},
        )
    finally:
        api.close()
    assert p.returncode == 0 and p.stdout == "Hi from the API.\n", p
    (kind, what), = _traces(p.stderr)
    assert kind == "agent", p.stderr
    assert re.fullmatch(rf"local: POST {re.escape(api.url)}/chat/completions -> HTTP 200, "
                        r"\d+ B \(\d+\.\d ms\)", what), what


def test_sha256_tries_this_interpreters_module_first() -> None:
    """No failed import (a search of every `sys.path` folder) before the builtin module of
    this version: `_sha256` up to 3.11, `_sha2` from 3.12."""
    first = fastpath.SHA256_MODULES[0]
    assert first in sys.builtin_module_names or importlib.util.find_spec(first) is not None
