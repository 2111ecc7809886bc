"""The live editor buffer as a participant in the write-back (issue 15).

An editor with the plugin registers itself for a document it has open:
``.agent-doc/editors/<sha256(realpath)>.<pid>.json`` (its RPC address, pid and process start
time), written by ``agent-doc editor register`` with :func:`safefile.atomic_write`. When an
answer is written back (``run``, ``watch``, ``write``, ``recover`` all go through
:func:`agent_doc.writeback.apply_response`), :func:`apply_in_editor` is tried first, under the
document lock:

1. ask the editor for the buffer (its lines including unsaved typing, its ``changedtick``, the
   text it last read from or wrote to disk);
2. if the disk changed behind the editor's back (a write-back that fell back to disk while the
   editor was frozen, ``patch``), merge that change into the buffer text first;
3. merge the answer against the buffer text exactly as the disk path merges against the file
   (:func:`agent_doc.writeback._final_for`), turn the result into line hunks;
4. ask the editor to apply the hunks **only if** ``changedtick`` is unchanged (compare-and-swap;
   on a mismatch the user typed in between: read again and retry), as one undo step, then to
   save the buffer (``:write!``) so disk and buffer agree — no "file changed" warning can
   follow, since the editor wrote the file itself;
5. save the snapshot and drop the pending journal entry.

Every call carries a deadline (:func:`editor_timeout`, ≤ 1 s in all): an editor that is frozen,
gone, or answers with an error makes :func:`apply_in_editor` return ``None`` and the caller
takes the disk path; the pending journal written before keeps the answer until one of the two
paths has confirmed it. The apply request also carries the deadline, and the plugin refuses it
once passed, so a frozen editor that wakes up late does not apply an answer the disk path
already wrote.

Streamed answers (issue 16): :func:`flush_in_editor` shows each flush of a growing answer the
same way (read, ``compose`` from :mod:`agent_doc.stream`, hunks, compare-and-swap), and the
final write (:func:`apply_in_editor` with the stream's region) ends it; in the buffer the
flushes and the final write are one undo step. **Flushes are saved by the editor** like the
final write: the buffer and the file stay one version, so a later fall-back to disk (the
editor froze) merges cleanly into the buffer when it wakes (its base already holds our
region), a crash of ``run`` leaves on disk exactly a region the journal (written before each
flush) describes — settled by the next ``run``/``recover`` — and a crash of the editor loses
nothing of the answer. Not saving would keep the partial answer only in the editor's memory
and make every later merge of the buffer with the file conflict (partial vs. answer); see
:func:`flush_in_editor`.

The registration files are state: read, written and removed with the project root as
``state_root`` (:mod:`safefile.state`), so a link planted under ``.agent-doc/editors/`` is
never followed (a linked registration is ignored, never written through).
"""

from __future__ import annotations

import json
import os
import time

from agent_doc.errors import say as _say
from agent_doc.project import Project, doc_hash
from safefile import BusyError, atomic_write, read_bytes, read_settled, unlink_state

TYPE_CHECKING = False  # `typing` stays off the first streamed flush (bench/IMPORTS.md)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

#: the whole editor attempt (connect, read, apply, save) must finish within this many seconds
EDITOR_TIMEOUT = 0.8
#: compare-and-swap rounds before giving up (the user typed between every read and apply)
MAX_CAS = 40
REGISTRATION_VERSION = 1

_GET = "return require('agent_doc')._bridge_get(...)"
_PUT = "return require('agent_doc')._bridge_put(...)"


def editor_timeout() -> float:
    raw = os.environ.get("AGENT_DOC_EDITOR_TIMEOUT")
    if raw:
        try:
            return min(1.0, max(0.01, float(raw)))
        except ValueError:
            pass
    return EDITOR_TIMEOUT


# -- registration ---------------------------------------------------------------------------


def editors_dir(project: Project) -> str:
    return os.path.join(project.state_dir, "editors")


def registration_path(project: Project, doc: str, pid: int) -> str:
    return os.path.join(editors_dir(project), f"{doc_hash(doc)}.{int(pid)}.json")


def _start_time(pid: int) -> str | None:
    """The process start time (clock ticks since boot) — a pid's identity across reuse."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or _start_time(pid) in (None, start)


def _own_socket(server: str) -> bool:
    """Only a Unix socket (absolute path) owned by this user is an editor we talk to: a
    registration file cannot send a document's text to a TCP address or someone else's
    process."""
    import stat

    if not os.path.isabs(server):
        return False
    try:
        st = os.stat(server)
    except OSError:
        return True  # gone: the connection fails and the disk path is taken
    return stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid()


def register(doc: str, *, server: str, pid: int, editor: str = "nvim") -> str:
    """Record that the editor ``pid`` (RPC at ``server``) has ``doc`` open."""
    from agent_doc.errors import AgentDocError

    if not os.path.isabs(server):
        raise AgentDocError(
            f"editor address {server!r} for {doc} is not a Unix socket path",
            hint="start Neovim with `--listen /path/to/socket` (or none: it makes one)",
        )
    project = Project.for_document(doc)
    path = registration_path(project, doc, pid)
    record = {
        "version": REGISTRATION_VERSION,
        "editor": editor,
        "server": server,
        "pid": int(pid),
        "start": _start_time(int(pid)),
        "document": os.path.realpath(doc),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write(path, json.dumps(record, indent=1), mode=0o600, make_parents=True,
                 state_root=project.root)
    return path


def unregister(doc: str, *, pid: int) -> bool:
    project = Project.for_document(doc)
    return unlink_state(registration_path(project, doc, pid), state_root=project.root)


def _read_registration(path: str, root: str) -> dict[str, Any] | None:
    try:
        raw = read_bytes(path, state_root=root)  # a link there: an OSError, ignored
        record = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    if not isinstance(record.get("server"), str) or not isinstance(record.get("pid"), int):
        return None
    return record


def live_editors(project: Project, doc: str) -> list[dict[str, Any]]:
    """The registered editors of ``doc`` that are still running, newest first; registrations
    of editors that are gone (killed, or the pid reused) are removed."""
    folder = editors_dir(project)
    prefix = doc_hash(doc) + "."
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".json")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    found: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        path = os.path.join(folder, name)
        record = _read_registration(path, project.root)
        if record is None:
            continue
        if not _own_socket(record["server"]):
            continue  # not a socket of ours: never send a document there
        if not _alive(record["pid"], record.get("start")):
            try:
                unlink_state(path, state_root=project.root)
            except OSError:
                pass
            continue
        found.append((str(record.get("time", "")), record))
    found.sort(key=lambda item: item[0], reverse=True)
    return [record for _t, record in found]


def _saved_mark_path(project: Project, doc: str) -> str:
    return os.path.join(editors_dir(project), f"{doc_hash(doc)}.saved")


def mark_saved(project: Project, doc: str, data: bytes) -> None:
    """Remember the hash of what the editor saved for a write-back: that save also put the
    user's unsaved typing on disk, which is not a save of theirs for ``watch`` to submit."""
    from agent_doc.writeback import _sha

    # not durable: lost in a crash, it costs one extra submit by `watch`, never data
    atomic_write(_saved_mark_path(project, doc), _sha(data), mode=0o600, make_parents=True,
                 durable=False, state_root=project.root)


def saved_by_editor(project: Project, doc: str, digest: str) -> bool:
    """True if the document's bytes (sha256 ``digest``) are what an editor saved for a
    write-back (``watch`` then treats them as its own write, not a save of the user's)."""
    try:
        mark = read_bytes(_saved_mark_path(project, doc), state_root=project.root)
        return mark.decode("ascii").strip() == digest
    except (OSError, UnicodeDecodeError):
        return False


# -- the write-back -------------------------------------------------------------------------


def _split(text: str, nl: str) -> tuple[list[str], bool]:
    """Buffer lines and the 'eol' flag of ``text`` in a buffer whose newline is ``nl``."""
    if text == "":
        return [""], False
    eol = text.endswith(nl)
    body = text[: -len(nl)] if eol else text
    return body.split(nl), eol


def hunks_between(old: list[str], new: list[str]) -> list[list[Any]]:
    """``[start, end, lines]`` (0-based, end exclusive, on ``old``) turning ``old`` into
    ``new``; applied from the last to the first, indices stay valid."""
    from agent_doc.diff import line_opcodes

    return [[i1, i2, new[j1:j2]] for tag, i1, i2, j1, j2 in line_opcodes(old, new)
            if tag != "equal"]


def _restore_read_time(real: str, seen: Any) -> None:
    """Give the file back the modification time the editor last read or wrote it at, when the
    file changed behind its back (the change is merged into what the editor is about to
    write). Neovim 0.7 otherwise stops ``:write!`` at "The file has been changed since reading
    it!!! Do you really want to write to it (y/n)?" — a modal prompt, in the middle of an RPC
    call. Done here (nanoseconds) rather than in Lua: luv takes a float and loses them."""
    if not isinstance(seen, dict):
        return
    try:
        want = int(seen["sec"]) * 1_000_000_000 + int(seen["nsec"])
        st = os.stat(real)
        if st.st_mtime_ns != want:
            os.utime(real, ns=(st.st_atime_ns, want))
    except (KeyError, TypeError, ValueError, OSError):
        pass


class _Retry(Exception):
    pass


def _apply_cas(client: Any, real: str, doc: str, **kw: Any) -> tuple[str, int] | None:
    """:func:`_apply_once` until its compare-and-swap holds (the user typed between our read
    of the buffer and our change: read and merge again), at most :data:`MAX_CAS` rounds;
    then ``EditorTimeout`` (the disk path takes over)."""
    from agent_doc.editors.rpc import EditorTimeout

    for _round in range(MAX_CAS):
        try:
            return _apply_once(client, real, doc, **kw)
        except _Retry:
            continue
    raise EditorTimeout("the buffer kept changing")


def _apply_once(client: Any, real: str, doc: str, *, sent: str, ours: str | None,
                session_id: str | None, notes: dict[str, Any], deadline: float,
                wall_deadline: float, compose: Callable[[str], Any] | None = None,
                strip: Callable[[str], str | None] | None = None,
                stream: dict[str, Any] | None = None) -> tuple[str, int] | None:
    """One read-merge-apply round; ``(final text, conflicts)``, None if the buffer is not
    loaded there; raises _Retry when the user typed in between. ``compose`` (a streamed answer,
    issue 16) replaces the merge with ``sent``/``ours``: buffer text -> text to show; ``strip``
    (buffer text -> that text without our streaming region) lets the final write come as two
    undo steps when the user typed during the stream (see the plugin's ``_bridge_put``)."""
    from agent_doc.merge import merge3way
    from agent_doc.writeback import _decode, _final_for

    got = client.exec_lua(_GET, [real], deadline=deadline)
    if not isinstance(got, dict) or not got.get("found"):
        return None
    tick, nl = got["tick"], got.get("nl") or "\n"
    buffer_text = got["text"]
    theirs, conflicts = buffer_text, 0
    saved = got.get("saved")
    if isinstance(saved, str):
        try:
            disk = _decode(read_settled(real, wait=max(0.0, deadline - time.monotonic())), doc)
        except (OSError, ValueError):
            disk = saved
        if disk != saved and disk != buffer_text:
            # the file changed behind the editor's back: take that change into the buffer too
            m = merge3way(saved, disk, buffer_text)
            theirs, conflicts = m.text, m.conflicts
    if compose is not None:
        shown = compose(theirs)
        final, more = (shown, 0) if isinstance(shown, str) else (shown[0], int(shown[1]))
    elif ours is None:  # no answer: only bring the disk's change into the buffer (pull)
        final, more = theirs, 0
    else:
        final, more = _final_for(theirs, sent, ours, session_id, doc, notes)
    old_lines, _eol = _split(buffer_text, nl)
    new_lines, new_eol = _split(final, nl)
    args: list[Any] = [real, tick, hunks_between(old_lines, new_lines), new_eol, wall_deadline]
    if stream is not None:
        # the answer's identity for joining undo steps: its boundary marker (a flush shows it;
        # the final write gets it from the region), so two answers never join
        sid = stream.get("id") or _boundary_in(final) or ""
        sent_stream = {"id": sid, "final": bool(stream.get("final"))}
        if stream.get("final") and strip is not None:
            # two steps: the region out (user_only), then the answer in: `u` after it leaves
            # the user's text with no trace of the answer
            user_only = strip(theirs)
            if isinstance(user_only, str) and user_only != buffer_text:
                mid_lines, _mid_eol = _split(user_only, nl)
                sent_stream["pre"] = hunks_between(old_lines, mid_lines)
                args[2] = hunks_between(mid_lines, new_lines)
        args.append(sent_stream)
    _restore_read_time(real, got.get("mtime"))
    res = client.exec_lua(_PUT, args, deadline=deadline)
    status = res.get("status") if isinstance(res, dict) else None
    if status == "retry":
        raise _Retry
    if status != "ok":
        from agent_doc.editors.rpc import EditorError

        raise EditorError(str((res or {}).get("error") or status))
    return final, conflicts + more


def _final_compose(region: Any, sent: str, response: str, session_id: str | None, doc: str
                   ) -> tuple[Callable[[str], tuple[str, int]], Callable[[str], str | None]]:
    """The final write of a streamed answer as ``compose`` and ``strip`` for the buffer: the
    disk path's own computation (:func:`agent_doc.writeback.final_text` with the region)."""
    from agent_doc.writeback import final_text

    notes: dict[str, Any] = {}

    def strip(current: str) -> str | None:
        return None if region.fallback else region.user_only(current)

    def compose(current: str) -> tuple[str, int]:
        return final_text(current, sent=sent, response=response, session_id=session_id,
                          doc=doc, region=region, notes=notes)

    return compose, strip


def apply_in_editor(doc: str, project: Project, *, sent: str, response: str,
                    session_id: str | None, compose: Callable[[str], Any] | None = None,
                    strip: Callable[[str], str | None] | None = None,
                    region: Any = None) -> Any:
    """Write the answer into the live buffer of a registered editor and save it there.

    Returns the :class:`agent_doc.writeback.SubmitResult`, or None when no editor took it (none
    registered, none answered within the bound, buffer not loaded): then the caller writes to
    disk. Raises nothing for editor trouble; file-system errors propagate like the disk path's.

    After a streamed answer (:func:`flush_in_editor`) this is its final write: ``compose``
    (buffer text -> final text, our streaming region taken out) replaces the merge with
    ``sent``/``response`` when given, and the change joins the flushes' undo step. ``region``
    (an :class:`agent_doc.stream.Region`) gives both: the region cut out of the buffer text,
    then the usual merge (its in-place fallback when the user typed inside the region).
    """
    if region is not None and compose is None:
        compose, strip = _final_compose(region, sent, response, session_id, doc)
    failed = _STREAMS.pop(os.path.realpath(doc), {}) if region is not None else {}
    # an editor that failed during the stream is not waited for again: the file gets it
    editors = [e for e in live_editors(project, doc) if not _skipped(failed, e["pid"])]
    if not editors:
        return None
    from agent_doc.editors.rpc import Client, EditorError, EditorGone, EditorTimeout
    from agent_doc.journal import delete_pending
    from agent_doc.snapshot import SnapshotStore
    from agent_doc.writeback import (
        SubmitResult,
        _SigintDeferred,
        _writable,
        response_block,
        snapshot_after,
    )

    ours = sent + response_block(sent, response)
    snapshot_text = snapshot_after(sent, response, session_id, doc)
    store = SnapshotStore(project)
    real = os.path.realpath(doc)
    if not _writable(real):
        return None  # the disk path refuses it with the right error (an editor's :write! won't)
    bound = editor_timeout()
    with project.doc_lock(doc), _SigintDeferred():
        if store.load(doc) == snapshot_text:
            return None  # already applied: the disk path says so and cleans up
        for editor in editors:
            notes: dict[str, Any] = {}
            deadline = time.monotonic() + bound
            wall_deadline = time.time() + bound
            try:
                with Client(editor["server"], deadline=deadline) as client:
                    out = _apply_cas(client, real, doc, sent=sent, ours=ours,
                                     session_id=session_id, notes=notes,
                                     deadline=deadline, wall_deadline=wall_deadline,
                                     compose=compose, strip=strip,
                                     stream=None if region is None else
                                     {"id": region.boundary, "final": True})
            except (EditorGone, EditorTimeout, EditorError, BusyError) as exc:
                _say(f"[editor] could not write into the buffer of {editor.get('editor', 'the')}"
                     f" editor (pid {editor['pid']}): {exc}; writing to the file instead")
                continue
            if out is None:
                continue  # that editor no longer has the buffer loaded
            final, conflicts = out
            try:
                written = read_bytes(real)
            except OSError:
                written = final.encode("utf-8")
            store.save(doc, snapshot_text)
            delete_pending(project, doc)
            mark_saved(project, doc, written)
            if conflicts:
                _say(f"WARNING: {conflicts} merge conflict(s) in {doc}. Please resolve the "
                     "conflict markers (<<<<<<< agent-response ... >>>>>>> your-edits) manually.")
            from agent_doc.writeback import _sha

            return SubmitResult("answered", response, conflicts, _sha(written))
    return None


#: editors that failed during a streamed answer (issue 16), by the document's real path:
#: {pid: time.monotonic() of the failure}; for SKIP_FAILED seconds the flushes of that document
#: go to disk at once instead of waiting for the editor again (a frozen editor costs a long
#: stream one bound every SKIP_FAILED seconds, not one per flush)
_STREAMS: dict[str, dict[int, float]] = {}
SKIP_FAILED = 10.0


def _skipped(failed: dict[int, float], pid: int) -> bool:
    at = failed.get(pid)
    return at is not None and time.monotonic() - at < SKIP_FAILED


def _boundary_in(text: str) -> str | None:
    from agent_doc.stream import MARKER_PREFIX, MARKER_SUFFIX

    at = text.rfind(MARKER_PREFIX)
    if at < 0:
        return None
    end = text.find(MARKER_SUFFIX, at)
    return text[at + len(MARKER_PREFIX):end] if end > at else None


def flush_in_editor(doc: str, project: Project, compose: Callable[[str], Any]) -> bool | None:
    """Show a streamed answer's progress in the live buffer (one flush, issue 16).

    ``compose(text) -> str`` is the pure "current text -> text to show" of :mod:`agent_doc
    .stream` (it takes our streaming region out and merges the partial answer in again); it is
    applied to the buffer text (unsaved typing included) and the result goes in as hunks with
    the same compare-and-swap as :func:`apply_in_editor`, then Neovim saves the buffer.

    True: the editor shows it (and saved it). None: no editor took it — none registered, the
    buffer not loaded, or the editor did not answer within :func:`editor_timeout` (an editor
    that failed is not asked again for ``SKIP_FAILED`` seconds, so a frozen editor costs the
    stream one bound now and then, not one per flush) — then the caller writes the flush to
    disk. The flushes of one answer (recognised by its boundary marker) and its final write
    are one undo step in the buffer (see the plugin's ``_bridge_put``).

    Flushes are saved to disk by the editor (``:write!``), like the final write. Why: the
    buffer and the file stay one version, so (1) when a later flush or the final write falls
    back to disk (the editor froze), the file's change is merged into the buffer later against
    a base that already holds our region — the partial region is replaced cleanly instead of
    conflicting with the disk's answer, and no "file changed" prompt is needed for an
    unmodified buffer; (2) if ``run`` dies mid-stream, the file holds exactly a region the
    journal describes (it is written before each flush), which the next ``run``/``recover``
    settles, and a crash of the editor loses nothing of the answer either. Not saving would
    leave the partial answer only in the editor's memory, with a modified buffer whose every
    later merge with the disk conflicts. The file is never torn by us: Neovim writes it as it
    does for ``:w`` (with its 'writebackup' copy), under the document lock.

    The caller holds the document lock (it is re-entrant; taken here too, so a caller that does
    not is still safe).
    """
    real = os.path.realpath(doc)
    failed = _STREAMS.setdefault(real, {})
    editors = [e for e in live_editors(project, doc) if not _skipped(failed, e["pid"])]
    if not editors or not _writable(real):
        return None
    from agent_doc.editors.rpc import Client, EditorError, EditorGone, EditorTimeout

    bound = editor_timeout()
    with project.doc_lock(doc):
        for editor in editors:
            deadline = time.monotonic() + bound
            wall_deadline = time.time() + bound
            try:
                with Client(editor["server"], deadline=deadline) as client:
                    out = _apply_cas(client, real, doc, sent="", ours=None, session_id=None,
                                     notes={}, deadline=deadline, wall_deadline=wall_deadline,
                                     compose=compose, stream={"final": False})
            except (EditorGone, EditorTimeout, EditorError, BusyError) as exc:
                failed[editor["pid"]] = time.monotonic()
                _say(f"[editor] could not write into the buffer of "
                     f"{editor.get('editor', 'the')} editor (pid {editor['pid']}): {exc}; "
                     "streaming the answer into the file instead")
                continue
            if out is None:
                failed[editor["pid"]] = time.monotonic()
                continue
            try:
                mark_saved(project, doc, read_bytes(real))
            except OSError:
                pass
            return True
    return None


def warm_up(doc: str, project: Project) -> None:
    """When an editor has ``doc`` open: load what the first flush needs (the RPC client,
    msgpack: ~10-30 ms) in a background thread while the agent starts, so the first token is
    not delayed by imports. Nothing when no live editor is registered."""
    if not live_editors(project, doc):
        return
    import threading

    def load() -> None:
        import agent_doc.diff
        import agent_doc.editors.rpc  # noqa: F401

    threading.Thread(target=load, name="agent-doc-editor-warm-up", daemon=True).start()


def _writable(path: str) -> bool:
    from agent_doc.writeback import _writable as writable

    return writable(path)


def pull_into_editor(doc: str, *, pid: int | None = None) -> bool:
    """Merge a change made to the file behind the editor's back into its (modified) buffer
    and save it there — what the plugin asks for instead of Neovim's "file changed" prompt.
    True if an editor took it."""
    from agent_doc.editors.rpc import Client, EditorError, EditorGone, EditorTimeout

    project = Project.for_document(doc)
    real = os.path.realpath(doc)
    editors = [e for e in live_editors(project, doc) if pid is None or e["pid"] == pid]
    bound = editor_timeout()
    with project.doc_lock(doc):
        for editor in editors:
            deadline = time.monotonic() + bound
            try:
                with Client(editor["server"], deadline=deadline) as client:
                    out = _apply_cas(client, real, doc, sent="", ours=None, session_id=None,
                                     notes={}, deadline=deadline,
                                     wall_deadline=time.time() + bound)
                if out is not None:
                    if out[1]:
                        _say(f"WARNING: {out[1]} merge conflict(s) in {doc}")
                    return True
            except (EditorGone, EditorTimeout, EditorError, BusyError) as exc:
                _say(f"[editor] could not merge into the buffer (pid {editor['pid']}): {exc}")
    return False
