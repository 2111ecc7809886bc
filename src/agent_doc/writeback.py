"""The write-back of an answer into its document: SPEC A6 steps 6–9, shared by ``run``,
``write``, ``recover``, ``watch`` and the streamed flushes (issue 16).

:func:`apply_response` (shared by all three commands), under the document lock: re-read;
unchanged → sent text + response block; changed → :func:`agent_doc.merge.merge3way`; then
``resume`` is set surgically on the result; the result is swapped in (see below); the
snapshot becomes **sent text + response block** with ``resume`` — not the merged text, so
the user's edits made during the call show up in the next diff (C4); the pending file is
deleted. Ctrl-C is deferred during these few milliseconds. Once the document holds the
answer, nothing fails the command any more: a snapshot that cannot be saved is a warning
and the journal stays, so ``recover`` records the snapshot later without a second answer.

**The last-instant check (step 8).** SPEC A6 asks to confirm "just before the atomic replace"
that the file still holds what was merged. Any check before ``rename`` leaves a window in which
an editor's save (in place or by rename) is overwritten and lost; with ``atomic_write`` the
window includes its ``fsync`` (milliseconds). So on Linux the new text is put in place with
``renameat2(RENAME_EXCHANGE)``: the old and the new file swap names atomically and the file we
displaced is still in our hands. If it is not byte-identical to what we merged against, an
editor saved in between: we merge again against *that* text and swap again (bounded). Nothing
an editor saved can be dropped, whatever the timing. A writer that opened the file before the
swap and is still writing into the displaced inode is waited for with a read lease (the kernel
refuses a read lease while anyone holds the file open for writing). Where the exchange is not
available (non-Linux, a file system without it) the cycle re-checks size, mtime and content
right before :func:`safefile.atomic_write` — the SPEC's version with its small window.
The exchange is :func:`safefile.exchange_write` (the same temporary file, mode/owner, fsync
and folder fsync as ``atomic_write``). After a displaced save, the next round merges our text
with it against what that save replaced, so a save built on an intermediate version loses
nothing either. The displaced file stays on disk (``.NAME.agent-doc-displaced-PID-...``, a
name no temp-file cleaner removes) until the merged text is in place, and the next write-back
of the document merges one a killed run left before anything else — so a SIGKILL at any point
loses no save (issue 16: a streamed answer makes one exchange per flush). ``diff`` after a
kill between the final write and the snapshot save compares with the snapshot the settle
would save (:func:`settled_snapshot`).

The response block is ``\\n## Assistant\\n\\n<text>\\n\\n## User\\n\\n`` (SPEC A3) in the
document's newline style (CRLF documents get CRLF). If the sent text does not end with a
newline, one more newline is put first so the heading is preceded by a blank line, as it is
when the text ends normally. A leading ``## Assistant`` heading and a trailing empty ``## User``
heading in the response are dropped, as are blank lines around it.
"""

from __future__ import annotations

import os
import re
import sys
import time

from agent_doc.document import set_field
from agent_doc.errors import AgentDocError, FrontmatterError
from agent_doc.errors import say as _say
from agent_doc.journal import delete_pending, pending_path
from agent_doc.merge import merge3way, nearest_base, newline_of
from agent_doc.project import Project
from agent_doc.record import Record
from fastpath import sha256 as _sha256  # without `hashlib` (see fastpath)
from fastpath import signal_module
from safefile import (
    BusyError,
    DecodeError,
    atomic_write,
    doc_mode,
    exchange_write,
    read_bytes,
    read_settled,
)

TYPE_CHECKING = False  # `typing` stays off the start-up path (bench/IMPORTS.md)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

    from agent_doc.stream import Region

#: bounded retries when an editor keeps saving during the write-back
MAX_SWAPS = 50

_ASSISTANT_HEADING = re.compile(r"^\s{0,3}##\s+Assistant\s*#*\s*$")
_USER_HEADING = re.compile(r"^\s{0,3}##\s+User\s*#*\s*$")


class SubmitResult(Record):
    """What :func:`submit` did."""

    status: str  # "answered" | "unchanged" | "busy" | "dry-run"
    response: str | None = None
    conflicts: int = 0
    written_hash: str | None = None  # sha256 hex of the document bytes we wrote
    holder: str | None = None  # who holds the submit lock when status == "busy"
    diff: str | None = None  # dry-run: the diff that would be sent
    prompt_bytes: int | None = None  # dry-run: the UTF-8 size of the prompt
    pending_applied: bool = False  # a response left pending earlier was applied first


# -- the response block ---------------------------------------------------------------------


def clean_response(text: str) -> str:
    """Drop a leading ``## Assistant`` heading, a trailing empty ``## User`` heading and the
    blank lines around the response; normalise its line endings to LF."""
    lines = text.replace("\r\n", "\n").split("\n")

    def strip_blank() -> None:
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()

    strip_blank()
    if lines and _ASSISTANT_HEADING.match(lines[0]):
        lines.pop(0)
        strip_blank()
    if lines and _USER_HEADING.match(lines[-1]):
        lines.pop()
        strip_blank()
    return "\n".join(lines)


def response_block(sent: str, response: str) -> str:
    """What is appended to the sent text (SPEC A3 format, in the document's newline style)."""
    nl = newline_of(sent)
    body = response.replace("\n", nl) if nl != "\n" else response
    lead = nl if sent and not sent.endswith("\n") else ""
    return f"{lead}{nl}## Assistant{nl}{nl}{body}{nl}{nl}## User{nl}{nl}"


def _with_resume(text: str, session_id: str | None, doc: str) -> str:
    if not session_id:
        return text
    return set_field(text, "resume", session_id, doc)


def _sha(data: bytes) -> str:
    return _sha256(data).hexdigest()


# -- swapping the new text in (step 8) ------------------------------------------------------

class _SigintDeferred:
    """``with _SigintDeferred():`` holds back SIGINT (Ctrl-C) in the main thread for the few
    milliseconds of a write-back; it is delivered right after.

    A small class rather than ``@contextlib.contextmanager``, and ``threading`` is not
    imported for the main-thread check: both are start-up cost of every hotkey command.
    """

    __slots__ = ("_old",)

    def __init__(self) -> None:
        self._old: set[Any] | None = None

    def __enter__(self) -> None:
        # if `threading` was never imported, no other Python thread exists: this is the main one
        th = sys.modules.get("threading")
        if th is not None and th.current_thread() is not th.main_thread():
            return
        _signal = signal_module()  # the C module, without ``signal``'s enums (see fastpath)

        self._old = _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGINT})

    def __exit__(self, *exc: object) -> None:
        old, self._old = self._old, None
        if old is not None:
            _signal = signal_module()
            _signal.pthread_sigmask(_signal.SIG_SETMASK, old)


# -- steps 6-9 ------------------------------------------------------------------------------


def _writable(path: str) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)


def _decode(data: bytes, doc: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"{doc}: not valid UTF-8 (byte {exc.start}) — it changed while the agent was "
            "answering"
        ) from None


def _final_for(current: str, sent: str, ours: str, session_id: str | None, doc: str,
               notes: dict[str, Any]) -> tuple[str, int]:
    from agent_doc.merge import merge3way

    if current == sent:
        text, conflicts = ours, 0
    else:
        if not notes.get("merging"):
            notes["merging"] = True
            _say("File was modified during submit. Merging changes...")
        m = merge3way(sent, ours, current)
        text, conflicts = m.text, m.conflicts
    return _resumed(text, session_id, doc, notes), conflicts


def _resumed(text: str, session_id: str | None, doc: str, notes: dict[str, Any]) -> str:
    try:
        return _with_resume(text, session_id, doc)
    except FrontmatterError as exc:
        if not notes.get("resume_warned"):
            notes["resume_warned"] = True
            _say(f"warning: could not set `resume` in {doc} ({exc.message}); the next run "
                 "starts a new conversation unless you fix the frontmatter")
    return text


def apply_response(
    doc: str | os.PathLike[str], project: Project, *, sent: str, response: str,
    session_id: str | None, region: Region | None = None,
) -> SubmitResult:
    """Steps 6–9: merge the response into the document, write it, save the snapshot, drop the
    pending file. The caller holds the submit lock and has written the pending file; on any
    failure that file stays, and the error says how to apply it later.

    ``region``: the answer was streamed (issue 16); its region is cut out of the current text
    first (:mod:`agent_doc.stream`), so the result is the non-streamed one."""
    from agent_doc.errors import os_cause, os_hint

    doc = os.fspath(doc)
    if os.path.isdir(os.path.join(project.state_dir, "editors")):
        # an editor with the plugin may have the document open: write into its live buffer
        # (issue 15); None = no editor took it within the bound, so the disk path below runs
        from agent_doc.editors import bridge

        in_editor = None
        if region is None:
            in_editor = bridge.apply_in_editor(doc, project, sent=sent, response=response,
                                               session_id=session_id)
        elif hasattr(bridge, "flush_in_editor"):  # the bridge knows streamed answers
            in_editor = bridge.apply_in_editor(doc, project, sent=sent, response=response,
                                               session_id=session_id, region=region)
        if in_editor is not None:
            return in_editor
    try:
        return _apply(doc, project, sent=sent, response=response, session_id=session_id,
                      region=region)
    except DecodeError as exc:
        raise AgentDocError(
            f"could not write the response into {doc}: {exc}",
            hint=f"the response is kept in {pending_path(project, doc)}; fix the problem, then "
            f"run `agent-doc recover {doc}`",
        ) from None
    except OSError as exc:
        raise AgentDocError(
            f"could not write the response into {doc}: {os_cause(exc, doc)}; the document "
            "was not changed",
            hint=f"{os_hint(exc, doc)}; the response is kept in {pending_path(project, doc)}: "
            f"then run `agent-doc recover {doc}`",
        ) from None


def snapshot_after(sent: str, response: str, session_id: str | None, doc: str) -> str:
    """The snapshot a write-back of ``response`` to ``sent`` records: the sent text, the
    response block, and ``resume`` set to ``session_id`` (as the document gets it)."""
    ours = sent + response_block(sent, response)
    try:
        return _with_resume(ours, session_id, doc)
    except FrontmatterError:
        return ours


def _apply(
    doc: str, project: Project, *, sent: str, response: str, session_id: str | None,
    region: Region | None = None,
) -> SubmitResult:
    from agent_doc.snapshot import SnapshotStore

    snapshot_text = snapshot_after(sent, response, session_id, doc)
    store = SnapshotStore(project)
    notes: dict[str, Any] = {}

    def compose(current: str) -> tuple[str, int]:
        return final_text(current, sent=sent, response=response, session_id=session_id,
                          doc=doc, region=region, notes=notes)

    with project.doc_lock(doc), _SigintDeferred():
        from agent_doc import repair

        repair.check(project, doc)  # a stale save of the previous answer first (issue 17)
        if store.load(doc) == snapshot_text:
            # an earlier process wrote the document and the snapshot, then died
            delete_pending(project, doc)
            _say(f"The response was already applied to {doc}")
            return SubmitResult("answered", response, 0, None)
        final, final_bytes, conflicts, bases = write_loop(
            doc, project, compose, notes, answer=response,
            user_of=user_text_of(sent, response, region), sent=sent)
        _fault("before-snapshot")
        if repair.tracing():  # the stress suite's per-write trace
            repair.trace("write-back", doc, sent=_sha(sent.encode("utf-8")),
                         read=_sha(bases[0].encode("utf-8")),
                         merged=[_sha(b.encode("utf-8")) for b in bases[1:]],
                         written=_sha(final_bytes), answer=response[:80])
        # the document holds the answer now: what follows cannot fail the command (a retry
        # would append it twice); a failure is a warning and the journal stays, so `recover`
        # (or the next run) records the snapshot later without adding the answer again
        try:
            store.save(doc, snapshot_text)
        except OSError as exc:
            _warn_after_write(doc, store.path(doc), exc, project)
        else:
            # what a later check needs to put the answer back after a stale editor save
            repair.record_writeback(project, doc, bases=bases, written=final,
                                    response=response)
            try:
                delete_pending(project, doc)
            except OSError as exc:
                _say(f"warning: the answer is in {doc}, but its journal "
                     f"{pending_path(project, doc)} could not be deleted: {exc.strerror}; "
                     "it is harmless (a later run sees the answer is there and deletes it)")
    if notes.get("merging"):
        if conflicts:
            _say(f"WARNING: {conflicts} merge conflict(s) in {doc}. Please resolve the conflict "
                 "markers (<<<<<<< agent-response ... >>>>>>> your-edits) manually.")
        else:
            _say("Merge successful — user edits preserved.")
    return SubmitResult("answered", response, conflicts, _sha(final_bytes))


def user_text_of(sent: str, response: str, region: Region | None) -> Callable[[str], str]:
    """``text -> the user's text in it``: our streaming region (``region``) and the answer's
    response block cut out (what an exchange may have displaced or left on disk)."""
    block = response_block(sent, response)

    def user_of(text: str) -> str:
        if region is not None:
            text = region.withdraw(text)
        at = text.rfind(block)
        return text if at < 0 else text[:at] + text[at + len(block):]

    return user_of


def final_text(
    current: str, *, sent: str, response: str, session_id: str | None, doc: str,
    region: Region | None = None, notes: dict[str, Any] | None = None,
) -> tuple[str, int]:
    """The document after the write-back, for ``current`` (what is on disk or in an editor's
    buffer): ``(text, conflicts)``. With ``region`` (a streamed answer, issue 16) our region
    is cut out of ``current`` first, so the result is the non-streamed one."""
    notes = {} if notes is None else notes
    ours = sent + response_block(sent, response)
    if region is not None:  # a streamed answer: our region is not the user's text
        user = None if region.fallback else region.user_only(current)
        if user is None:
            if not notes.get("merging"):
                notes["merging"] = True
                _say("The streaming answer was edited in place. Merging changes...")
            text, conflicts = region.compose(current, response, final=True)
            return _resumed(text, session_id, doc, notes), conflicts
        current = user
    return _final_for(current, sent, ours, session_id, doc, notes)


_faults_done: dict[str, int] = {}


def _fault(point: str) -> None:
    """Test-only fault injection: ``AGENT_DOC_FAULT="POINT=kill,POINT=stop"`` SIGKILLs (or
    SIGSTOPs) this process at ``POINT`` — ``before-exchange``, ``after-exchange`` (a write's
    exchange done, its displaced file not yet dealt with), ``before-snapshot`` (the answer
    written, snapshot and journal not yet). Once per point; ``stop*N``: the first N times the
    point is reached. Unset: nothing."""
    spec = os.environ.get("AGENT_DOC_FAULT")
    if not spec:
        return
    for item in spec.split(","):
        where, _eq, action = item.partition("=")
        if where.strip() != point:
            continue
        action, _star, times = action.strip().partition("*")
        if _faults_done.get(point, 0) >= (int(times) if times else 1):
            return
        _faults_done[point] = _faults_done.get(point, 0) + 1
        sig = signal_module()
        os.kill(os.getpid(), sig.SIGSTOP if action == "stop" else sig.SIGKILL)
        return


#: the name part of a displaced file (``.NAME.agent-doc-displaced-PID-OURS-READ``)
DISPLACED_TAG = ".agent-doc-displaced-"


def _displaced_prefix(real: str) -> str:
    name = os.path.basename(real)
    while len(os.fsencode(name)) > 180:  # room for the tag, pid and hashes in NAME_MAX
        name = name[:-1]
    return os.path.join(os.path.dirname(real), f".{name}{DISPLACED_TAG}")


def _displaced_path(real: str, ours: bytes, read: bytes) -> str:
    """Where an exchange keeps the file it displaced until its content is safe (issue 16):
    the name says who made it and the hashes of what we wrote and what we had read, so a
    later process knows whether it holds anything else (an editor's save)."""
    return (f"{_displaced_prefix(real)}{os.getpid()}-{_sha(ours)[:16]}-{_sha(read)[:16]}-"
            f"{os.urandom(2).hex()}")


def _unlink_quiet(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _lines_within(small: str, big: str) -> bool:
    """Every line of ``small`` occurs in ``big`` in the same order (nothing of it is lost)."""
    lines = iter(big.splitlines())
    return all(any(line == other for other in lines) for line in small.splitlines())


def _left_displaced(real: str, doc: str, disk: bytes, user_of: Callable[[str], str],
                    sent: str) -> tuple[str | None, list[str]]:
    """Displaced files a killed (or failed) write left beside ``real`` (the caller holds the
    document lock, so no write of this document is under way): ``(user text, files)``.

    A file holding what its writer wrote or had read holds nothing new. Any other is an
    editor's save our exchange displaced and nobody merged: its user text (``user_of``: our
    region / answer cut out) is merged into the current one — base = the user text of what
    that writer wrote when the document still holds exactly that (then the merge *is* the
    user's save), else the sent text (changes made on both sides collapse). The user text
    is None when no save needs merging. The caller deletes ``files`` once the document
    written from that text is on disk — never before."""
    prefix = _displaced_prefix(real)
    folder, start = os.path.split(prefix)
    try:
        names = sorted(n for n in os.listdir(folder or ".") if n.startswith(start))
    except OSError:
        return None, []
    files: list[str] = []
    found: list[tuple[float, str, str, str]] = []
    for name in names:
        full = os.path.join(folder, name)
        parts = name[len(start):].split("-")
        try:
            raw = read_bytes(full)
            mtime = os.stat(full).st_mtime
        except OSError:
            continue
        files.append(full)
        digest = _sha(raw)[:16]
        if len(parts) >= 3 and digest in (parts[1], parts[2]):
            continue  # what we wrote (never exchanged) or what we had read: nothing new
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            saved = _save_aside(real, raw)
            _say(f"warning: an editor's save of {doc} displaced by a write that was cut short "
                 f"is not valid UTF-8; it is kept in {saved}")
            continue
        found.append((mtime, name, text, parts[1] if len(parts) >= 3 else ""))
    if not found:
        return None, files
    current = _decode(disk, doc)
    user = user_of(current)
    for _mtime, _name, text, ours in sorted(found):
        theirs = user_of(text)
        if _lines_within(theirs, user):
            continue  # already in the document
        base = user if _sha(disk)[:16] == ours else sent
        _say(f"[submit] merging a save of {doc} that a write cut short had displaced")
        m = merge3way(base, user, theirs)
        if m.conflicts:
            _say(f"WARNING: {m.conflicts} merge conflict(s) in {doc} between the document and "
                 "that save; resolve the conflict markers manually")
        user = m.text
    return user, files


def write_loop(
    doc: str, project: Project, compose: Callable[[str], tuple[str, int]],
    notes: dict[str, Any], *, answer: str | None,
    user_of: Callable[[str], str] | None = None, sent: str | None = None,
) -> tuple[str, bytes, int, list[str]]:
    """Read, compute, swap in — the one read/merge/exchange loop of every write of an answer
    (the final write-back and each streaming flush; the caller holds the document lock).

    ``compose(current) -> (text, conflicts)`` gives the text to write for what is on disk.
    Returns ``(final text, its bytes, conflicts, bases)``; ``bases``: the versions without
    the answer we wrote over (for repair.py). ``answer``: the response text, for the
    stale-save repair of the final write (None for a flush: a flush is never repaired).

    Nothing an editor saved is lost at any kill point (issue 16): each exchange keeps the
    file it displaced (:func:`_displaced_path`) until the loop ends with everything merged
    and on disk; a displaced file a killed or failed write left is merged first
    (:func:`_left_displaced`, with ``user_of``: the user's text without our answer, and
    ``sent``) and deleted only after the write. The caller deletes the journal after this
    returns, so a displaced save never outlives its journal."""
    from agent_doc import repair

    real = os.path.realpath(doc)
    try:
        expected = read_settled(real)
    except BusyError as exc:
        raise AgentDocError(
            f"{exc.strerror}; the response was not written yet",
            hint=f"it is kept in {pending_path(project, doc)}: run `agent-doc recover "
            f"{doc}` once the other program has finished saving",
        ) from None
    except FileNotFoundError:
        raise AgentDocError(
            f"{doc} was deleted, renamed or moved while the agent was answering",
            hint=f"the response is kept in {pending_path(project, doc)} (`agent-doc "
            "status` lists it by session id); restore the file and run `agent-doc recover "
            f"{doc}`, or, if you renamed it, run `agent-doc recover NEWNAME`",
        ) from None
    if not _writable(real):
        raise AgentDocError(
            f"cannot write the response into {doc}: the file is read-only",
            hint=f"make it writable, then run `agent-doc recover {doc}` (the response is "
            f"kept in {pending_path(project, doc)})",
        )
    current = _decode(expected, doc)
    bases = [current]  # versions without the answer we wrote over (for repair.py)
    final_bytes = expected
    left: list[str] = []
    merged_left = None
    if user_of is not None and sent is not None:
        merged_left, left = _left_displaced(real, doc, expected, user_of, sent)
    final, conflicts = compose(current if merged_left is None else merged_left)
    last_save = current  # the editor's latest version we have seen (kept if we give up)
    seen = [current]  # every text on disk during the loop, latest first: what an editor read
    kept: list[str] = list(left)  # displaced files to delete once the loop is done
    for _attempt in range(MAX_SWAPS):
        final_bytes = final.encode("utf-8")
        if final_bytes == expected:
            break  # already there (a pending response applied twice)
        _fault("before-exchange")
        keep_as = _displaced_path(real, final_bytes, expected)
        displaced = exchange_write(real, final_bytes, keep_as=keep_as)
        if displaced is not None:
            kept.append(keep_as)
            _fault("after-exchange")
        if displaced is None:  # no exchange here: check, then replace (small window)
            now = read_bytes(real)
            if now != expected:
                expected, current = now, _decode(now, doc)
                last_save = current
                bases.append(current)
                seen.insert(0, current)
                final, conflicts = compose(current)
                continue
            atomic_write(real, final_bytes)
            break
        if displaced == expected:
            break
        # an editor saved between our read and the exchange: its text is `displaced`,
        # ours (`final`) is on disk now without it. Merge the two against what that save
        # replaced (`current`) — not against the sent text: a save built on the version
        # we put on disk in an earlier round must not drop the round before.
        try:
            theirs = _decode(displaced, doc)
        except DecodeError:
            saved = _save_aside(real, displaced)
            _unlink_quiet(kept)
            raise AgentDocError(
                f"{doc} was saved as invalid UTF-8 while the response was being written",
                hint=f"that version is kept in {saved}; the response is in the document "
                "now",
            ) from None
        notes["merging"] = True
        last_save = theirs
        # a save made from the version our last swap displaced (the editor read it before
        # that swap and saved after it) lacks the answer without the user having deleted
        # it: merge it against that version instead (repair.py's test; issue 17)
        repaired = None if answer is None else repair.stale_merge(
            bases[-1:], final, theirs, answer=answer)
        bases.append(theirs)
        if repaired is not None:
            seen[:0] = [final, theirs]
            current, expected, final = final, final_bytes, repaired
            continue
        # merged against the version the save was made from: mostly `current` (what that
        # save replaced), but an editor may have read a version an earlier round displaced
        merged = merge3way(nearest_base(theirs, seen), final, theirs)
        conflicts += merged.conflicts
        seen[:0] = [final, theirs]
        current, expected, final = final, final_bytes, merged.text
    else:
        # the disk holds our previous round; the editor's last save (which that round
        # displaced) exists only here: keep it where the hint says
        saved = _save_aside(real, last_save.encode("utf-8"))
        _unlink_quiet(kept)
        raise AgentDocError(
            f"{doc} kept changing while the response was being written ({MAX_SWAPS} tries)",
            hint=f"the last version saved by your editor is in {saved}; the response is kept "
            f"in {pending_path(project, doc)}: run `agent-doc recover {doc}` when the "
            "editor is quiet",
        )
    # the document holds every displaced save now (merged): their files may go
    _unlink_quiet(kept)
    return final, final_bytes, conflicts, bases


def _warn_after_write(doc: str, snapshot: str, exc: OSError, project: Project) -> None:
    from agent_doc.errors import os_cause, os_hint

    _say(f"warning: the answer is in {doc}, but its snapshot could not be saved: "
         f"{os_cause(exc, snapshot)}; until it is, `agent-doc diff` shows the answer as a "
         f"change (the answer stays journaled in {pending_path(project, doc)})\n"
         f"hint: {os_hint(exc, snapshot)}, then run `agent-doc recover {doc}`")


def _save_aside(real: str, data: bytes) -> str:
    """Keep a version of the document we could not merge next to it (never overwriting)."""
    saved = f"{real}.agent-doc-saved-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    atomic_write(saved, data, mode=doc_mode(real))  # no more readable than the document
    return saved


def apply_pending(doc: str, project: Project, record: dict[str, Any]) -> SubmitResult:
    region = None
    response = record["response"]
    info = stream_info(record)
    if info is not None:  # a streamed answer: its region is cut out first (issue 16)
        from agent_doc.stream import Region, interrupted_answer

        region = Region(record["sent"], info["boundary"],
                        [response[:n] for n in info["flushed"]])
        if not info["complete"]:
            _say(f"[submit] the answer streamed into {doc} was cut short (the run that "
                 "streamed it ended first); its partial text is kept, marked "
                 "*[answer interrupted]*")
            response = interrupted_answer(response)
    return apply_response(
        doc, project, sent=record["sent"], response=response,
        session_id=record.get("session_id"), region=region,
    )


def stream_info(record: dict[str, Any]) -> dict[str, Any] | None:
    """The ``stream`` field of a journal record, checked (None: not a streamed answer)."""
    info = record.get("stream")
    if not isinstance(info, dict):
        return None
    boundary = info.get("boundary")
    flushed = info.get("flushed")
    if not isinstance(boundary, str) or not isinstance(flushed, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in flushed):
        return None
    return {"boundary": boundary, "flushed": flushed, "complete": info.get("complete") is True}


def settled_snapshot(text: str, record: dict[str, Any], doc: str) -> str | None:
    """The snapshot that settling ``record`` (a journal) would save, when the document
    ``text`` already holds its answer as the settle writes it — a run killed between its
    final write and the snapshot save (or a live run in those milliseconds); else None.

    ``diff`` compares with this instead of the stored snapshot, read-only: settling from
    ``diff`` would need the submit lock (a live run holds it for minutes) and would write
    the document and the snapshot from a command that only reads. What a later settle
    finds is the same: the answer is there, the snapshot becomes this text."""
    info = stream_info(record)
    response = record["response"]
    if info is not None and not info["complete"]:
        from agent_doc.stream import interrupted_answer

        response = interrupted_answer(response)
    sent = record["sent"]
    block = response_block(sent, response)
    if block not in text:
        return None
    try:
        return _with_resume(sent + block, record.get("session_id"), doc)
    except FrontmatterError:
        return sent + block


def strip_streaming(text: str, record: dict[str, Any]) -> str:
    """``text`` without the region of the streamed answer ``record`` journals (``diff`` and
    ``status``: a streaming answer, live or left by a dead run, is not the user's text). A
    region that is not as journaled loses only its marker line and the text the journal
    holds is not recognised as ours — it stays in the diff."""
    info = stream_info(record)
    if info is None:
        return text
    from agent_doc.stream import Region

    response = record["response"]
    region = Region(record["sent"], info["boundary"], [response[:n] for n in info["flushed"]])
    user = region.user_only(text)
    if user is not None:
        return user
    return region.withdraw(text)


