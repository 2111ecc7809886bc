"""The submit cycle: ``run`` (:func:`submit`), ``write`` (:func:`write_response`) and
``recover`` (:func:`recover`) — SPEC A6 steps 1–9.

1. The **submit lock** (``locks/<hash>.submit.lock``) is held across the whole cycle, so two
   runs of one document make one agent call (C1); ``no_wait`` returns ``busy`` with the holder
   instead of waiting. A response left pending by a run that died is applied first.
2. Under the **document lock** the document is read **once**; the session UUID is added
   (atomic write) if missing; the diff is computed from that same text against the snapshot
   (C3). No diff → ``unchanged``.
3. Git pre-commit of the document alone (:mod:`agent_doc.gitops`), unless ``no_git``.
4. The prompt is built and the agent called with **no** document lock held; elapsed seconds on
   stderr while waiting when stderr is a terminal.
5. The response goes durably to ``.agent-doc/pending/<hash>.json`` (response, session id, the
   document's session id, the exact sent text, agent, time) **before** the document is touched
   (C11). Ctrl-C or an agent error before this point leaves document, snapshot and pending
   untouched. Before the agent is called (issue 11), the journal's room is reserved
   (:func:`reserve_pending`) and the document and snapshot writes are checked possible, so a
   full disk or a folder we may not write fails *before* anything is paid; an answer the
   journal still cannot hold is kept in a file the error names (:func:`rescue_answer`), or
   printed — never dropped. A journal whose document was renamed meanwhile is found by the
   document's session id (``recover NEWNAME``, ``run NEWNAME``).
6–9. :func:`apply_response` (shared by all three commands), under the document lock: re-read;
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

import json
import os
import re
import sys
import time
from stat import S_ISREG

from agent_doc.document import read_document, set_field
from agent_doc.errors import AgentDocError, FrontmatterError
from agent_doc.errors import say as _say
from agent_doc.merge import merge3way, newline_of
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
    open_state,
    read_bytes,
    read_holder,
    read_settled,
    unlink_state,
)

TYPE_CHECKING = False  # `import typing` costs ~5 ms of start-up
if TYPE_CHECKING:  # pragma: no cover
    import threading
    from collections.abc import Callable
    from typing import Any

    from agent_doc.stream import Region

PENDING_VERSION = 1
#: how long a run waits for another cycle of the same document (agent calls take minutes)
SUBMIT_WAIT = 900.0
#: bounded retries when an editor keeps saving during the write-back
MAX_SWAPS = 50

_ASSISTANT_HEADING = re.compile(r"^\s{0,3}##\s+Assistant\s*#*\s*$")
_USER_HEADING = re.compile(r"^\s{0,3}##\s+User\s*#*\s*$")


class SubmitOptions(Record):
    """How :func:`submit` runs."""

    agent: str | None = None
    model: str | None = None
    branch: bool = False
    dry_run: bool = False
    no_git: bool = False
    no_wait: bool = False
    progress: bool | None = None  # None = auto (stderr is a tty)
    stream: bool | None = None  # stream the answer into the document; None = config ([stream])


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


def submit_wait() -> float:
    raw = os.environ.get("AGENT_DOC_SUBMIT_WAIT")
    if raw:
        try:
            return float(raw)
        except ValueError:
            pass
    return SUBMIT_WAIT


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


# -- pending journal ------------------------------------------------------------------------


def _pending_path(project: Project, doc: str | os.PathLike[str]) -> str:
    return project.pending_path(doc)


def pending_record(
    doc: str, *, sent: str, response: str, session_id: str | None, agent: str,
    doc_session: str | None = None,
) -> dict[str, Any]:
    """The pending journal's record. ``session_id`` is the agent's conversation (``resume``);
    ``agent_doc_session`` the document's own session id, by which a response whose document
    was renamed meanwhile is found again (``status`` lists it, ``recover NEWNAME`` applies it).
    """
    return {
        "version": PENDING_VERSION,
        "document": os.path.realpath(doc),
        "file": doc,
        "agent": agent,
        "session_id": session_id,
        "agent_doc_session": doc_session,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "pid": os.getpid(),
        "response": response,
        "sent": sent,
    }


def write_pending(
    project: Project, doc: str | os.PathLike[str], *, sent: str, response: str,
    session_id: str | None, agent: str, doc_session: str | None = None,
) -> str:
    doc = os.fspath(doc)
    path = _pending_path(project, doc)
    record = pending_record(doc, sent=sent, response=response, session_id=session_id,
                            agent=agent, doc_session=doc_session)
    # a copy of the document's text: never more readable than the document; never written
    # through a link planted under .agent-doc/
    atomic_write(path, json.dumps(record, ensure_ascii=False, indent=1), mode=0o600,
                 make_parents=True, state_root=project.root)
    return path


# -- reserving the journal before the agent is paid (issue 11) --------------------------------

#: room kept for the answer itself, beyond the exact size of the rest of the record
RESERVE_FOR_ANSWER = 256 * 1024


def _reserve_path(project: Project, doc: str) -> str:
    pending = _pending_path(project, doc)
    return pending[: -len(".json")] + ".reserve" if pending.endswith(".json") else (
        pending + ".reserve")


def reserve_pending(project: Project, doc: str, *, sent: str) -> str:
    """Before the agent is called: prove that its answer can be journaled, and keep the room.

    ``pending/<hash>.reserve`` is created and allocated (``posix_fallocate``) with the size of
    the record the answer will need (the sent text as JSON, plus :data:`RESERVE_FOR_ANSWER`).
    A full disk, a folder we may not write, a missing ``.agent-doc/`` that cannot be made all
    fail here — before anything is paid for — with the file and the real cause. When the answer
    comes, :func:`journal_answer` frees the room and writes the journal in it.
    """
    from agent_doc.errors import os_cause, os_hint

    path = _reserve_path(project, doc)
    size = len(json.dumps(sent, ensure_ascii=False).encode("utf-8")) + RESERVE_FOR_ANSWER
    fd = -1
    try:
        fd = open_state(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600,
                        state_root=project.root)
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
            fd = -1
            _drop_reserve(path)
        raise AgentDocError(
            f"cannot reserve room for the answer to {doc} in {os.path.dirname(path)}: "
            f"{os_cause(exc, path)}; nothing was sent to the agent",
            hint=os_hint(exc, os.path.dirname(path)) + ", then run again",
        ) from None
    finally:
        if fd >= 0:
            os.close(fd)
    return path


def _drop_reserve(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def journal_answer(
    project: Project, doc: str, record: dict[str, Any], reserve: str | None = None
) -> str:
    """Write the paid answer durably to the pending journal (step 5). The reservation's room
    is freed first, so the journal fits in it. If the write still fails, the answer is kept
    elsewhere (see :func:`rescue_answer`) and the error says where — it is never dropped."""
    from agent_doc.errors import os_cause, os_hint

    _drop_reserve(reserve)
    path = _pending_path(project, doc)
    try:
        atomic_write(path, json.dumps(record, ensure_ascii=False, indent=1), mode=0o600,
                     make_parents=True, state_root=project.root)
    except OSError as exc:
        where = rescue_answer(record, doc)
        if where is None:
            kept = ("it is printed on standard output above — copy it now, it is kept nowhere "
                    "else")
            fix = f"copy the answer from standard output into {doc}"
        else:
            kept = f"it is kept in {where}"
            from shlex import quote

            fix = (f"then run `mv {quote(where)} {quote(path)} && agent-doc recover "
                   f"{quote(doc)}`")
        raise AgentDocError(
            f"the agent answered, but the answer for {doc} could not be journaled in {path}: "
            f"{os_cause(exc, path)}; {kept}; the document was not changed",
            hint=f"{os_hint(exc, os.path.dirname(path))}, {fix}",
        ) from None
    return path


def rescue_answer(record: dict[str, Any], doc: str) -> str | None:
    """Keep an answer the journal could not hold: in the user's state folder, else in the
    temporary folder; None when neither could be written — then the answer text is printed on
    standard output (the one place left)."""
    import tempfile

    state = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state")
    stem = os.path.splitext(os.path.basename(doc))[0] or "document"
    name = f"agent-doc-answer-{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"
    data = json.dumps(record, ensure_ascii=False, indent=1)
    for folder in (os.path.join(state, "agent-doc", "rescued"), tempfile.gettempdir()):
        target = os.path.join(folder, name)
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            atomic_write(target, data, mode=0o600)
        except OSError:
            continue
        return target
    try:
        sys.stdout.write(record["response"] + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    return None


def load_pending(project: Project, doc: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = _pending_path(project, doc)
    try:
        raw = read_bytes(path, state_root=project.root)
    except FileNotFoundError:
        return None
    try:
        record = json.loads(raw.decode("utf-8"))
        if not isinstance(record, dict):
            raise ValueError("not an object")
        for key in ("response", "sent"):
            if not isinstance(record.get(key), str):
                raise ValueError(f"'{key}' is missing")
        sid = record.get("session_id")
        if sid is not None and not isinstance(sid, str):
            raise ValueError("'session_id' is not a string")
    except (ValueError, UnicodeDecodeError) as exc:
        raise AgentDocError(
            f"the pending response for {doc} ({path}) is unreadable: {exc}",
            hint=f"look at {path} (the response text is in it), copy what you need, then "
            "delete it and run again",
        ) from None
    return record


def _delete_pending(project: Project, doc: str) -> None:
    unlink_state(_pending_path(project, doc), state_root=project.root)


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
            hint=f"the response is kept in {_pending_path(project, doc)}; fix the problem, then "
            f"run `agent-doc recover {doc}`",
        ) from None
    except OSError as exc:
        raise AgentDocError(
            f"could not write the response into {doc}: {os_cause(exc, doc)}; the document "
            "was not changed",
            hint=f"{os_hint(exc, doc)}; the response is kept in {_pending_path(project, doc)}: "
            f"then run `agent-doc recover {doc}`",
        ) from None


def _apply(
    doc: str, project: Project, *, sent: str, response: str, session_id: str | None,
    region: Region | None = None,
) -> SubmitResult:
    from agent_doc.snapshot import SnapshotStore

    ours = sent + response_block(sent, response)
    try:
        snapshot_text = _with_resume(ours, session_id, doc)
    except FrontmatterError:
        snapshot_text = ours
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
            _delete_pending(project, doc)
            _say(f"The response was already applied to {doc}")
            return SubmitResult("answered", response, 0, None)
        final, final_bytes, conflicts, bases = _write_loop(
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
                _delete_pending(project, doc)
            except OSError as exc:
                _say(f"warning: the answer is in {doc}, but its journal "
                     f"{_pending_path(project, doc)} could not be deleted: {exc.strerror}; "
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


_faults_done: set[str] = set()


def _fault(point: str) -> None:
    """Test-only fault injection: ``AGENT_DOC_FAULT="POINT=kill,POINT=stop"`` SIGKILLs (or
    SIGSTOPs, once per point) this process at ``POINT`` — ``before-exchange``,
    ``after-exchange`` (a write's exchange done, its displaced file not yet dealt with),
    ``before-snapshot`` (the answer written, snapshot and journal not yet). Unset: nothing."""
    spec = os.environ.get("AGENT_DOC_FAULT")
    if not spec or point in _faults_done:
        return
    for item in spec.split(","):
        where, _eq, action = item.partition("=")
        if where.strip() == point:
            _faults_done.add(point)
            sig = signal_module()
            os.kill(os.getpid(), sig.SIGSTOP if action.strip() == "stop" else sig.SIGKILL)


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


def _write_loop(
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
            hint=f"it is kept in {_pending_path(project, doc)}: run `agent-doc recover "
            f"{doc}` once the other program has finished saving",
        ) from None
    except FileNotFoundError:
        raise AgentDocError(
            f"{doc} was deleted, renamed or moved while the agent was answering",
            hint=f"the response is kept in {_pending_path(project, doc)} (`agent-doc "
            "status` lists it by session id); restore the file and run `agent-doc recover "
            f"{doc}`, or, if you renamed it, run `agent-doc recover NEWNAME`",
        ) from None
    if not _writable(real):
        raise AgentDocError(
            f"cannot write the response into {doc}: the file is read-only",
            hint=f"make it writable, then run `agent-doc recover {doc}` (the response is "
            f"kept in {_pending_path(project, doc)})",
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
            current, expected, final = final, final_bytes, repaired
            continue
        merged = merge3way(current, final, theirs)
        conflicts += merged.conflicts
        current, expected, final = final, final_bytes, merged.text
    else:
        # the disk holds our previous round; the editor's last save (which that round
        # displaced) exists only here: keep it where the hint says
        saved = _save_aside(real, last_save.encode("utf-8"))
        _unlink_quiet(kept)
        raise AgentDocError(
            f"{doc} kept changing while the response was being written ({MAX_SWAPS} tries)",
            hint=f"the last version saved by your editor is in {saved}; the response is kept "
            f"in {_pending_path(project, doc)}: run `agent-doc recover {doc}` when the "
            "editor is quiet",
        )
    # the document holds every displaced save now (merged): their files may go
    _unlink_quiet(kept)
    return final, final_bytes, conflicts, bases


def _warn_after_write(doc: str, snapshot: str, exc: OSError, project: Project) -> None:
    from agent_doc.errors import os_cause, os_hint

    _say(f"warning: the answer is in {doc}, but its snapshot could not be saved: "
         f"{os_cause(exc, snapshot)}; until it is, `agent-doc diff` shows the answer as a "
         f"change (the answer stays journaled in {_pending_path(project, doc)})\n"
         f"hint: {os_hint(exc, snapshot)}, then run `agent-doc recover {doc}`")


def _save_aside(real: str, data: bytes) -> str:
    """Keep a version of the document we could not merge next to it (never overwriting)."""
    saved = f"{real}.agent-doc-saved-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    atomic_write(saved, data, mode=doc_mode(real))  # no more readable than the document
    return saved


def _apply_pending(doc: str, project: Project, record: dict[str, Any]) -> SubmitResult:
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


# -- streaming (issue 16) ---------------------------------------------------------------------


def stream_enabled(options_stream: bool | None, project: Project) -> tuple[bool, float]:
    """``(stream?, interval)``: the option when given, else the ``[stream]`` config."""
    from agent_doc.stream import DEFAULT_INTERVAL

    if options_stream is False:
        return False, DEFAULT_INTERVAL
    from agent_doc.config import stream_settings

    enabled, interval = stream_settings(project.root)
    enabled = True if options_stream else enabled
    return enabled and _editors_take_streams(project), interval


def _editors_take_streams(project: Project) -> bool:
    """False while an editor with the plugin may hold the document in a live buffer and the
    editor bridge cannot show a streaming answer there (``flush_in_editor``): flushes on disk
    would fight the buffer, so the answer is written whole, into the buffer, as before."""
    if not os.path.isdir(os.path.join(project.state_dir, "editors")):
        return True
    from agent_doc.editors import bridge

    return hasattr(bridge, "flush_in_editor")


class _Streamer:
    """One answer streaming into ``doc``: the journal, the flushes, and how it ends.

    Each flush that shows more text first writes the journal (``response`` = the partial
    text, ``stream`` = boundary, flushed lengths, ``complete: false``), then writes the
    document through :func:`_write_loop` under the document lock — the final write-back's own
    loop. A flush that fails is a warning once; the answer goes on streaming and the final
    write reports as without streaming."""

    def __init__(self, doc: str, project: Project, *, sent: str, agent: str,
                 doc_session: str | None, reserve: str | None, interval: float) -> None:
        from agent_doc.stream import Flusher, Region

        self.doc = doc
        self.project = project
        self.region = Region(sent)
        self.base = pending_record(doc, sent=sent, response="", session_id=None, agent=agent,
                                   doc_session=doc_session)
        self.reserve = reserve
        self.journaled = False
        self._warned: set[str] = set()
        self.flusher = Flusher(self._flush, interval)
        if os.path.isdir(os.path.join(project.state_dir, "editors")):  # (Neovim helper)
            from agent_doc.editors import bridge  # its RPC client loads while the agent starts

            bridge.warm_up(doc, project)

    def record(self, response: str, *, complete: bool, session_id: str | None = None,
               flushed: list[int] | None = None) -> dict[str, Any]:
        record = dict(self.base, response=response, session_id=session_id,
                      time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        record["stream"] = {
            "boundary": self.region.boundary,
            "flushed": self.region.flushed_lengths() if flushed is None else flushed,
            "complete": complete,
        }
        return record

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _say(message)

    def _flush(self, partial: str) -> bool:
        """Journal, then show ``partial`` (the flusher thread). False: stop flushing."""
        region = self.region
        flushed = [len(p) for p in [partial, *region.partials] if partial.startswith(p)]
        try:
            if not self.journaled:
                _drop_reserve(self.reserve)  # its room is the journal's now
                self.reserve = None
            atomic_write(_pending_path(self.project, self.doc),
                         json.dumps(self.record(partial, complete=False, flushed=flushed),
                                    ensure_ascii=False, indent=1),
                         mode=0o600, make_parents=True, state_root=self.project.root)
            self.journaled = True
        except OSError as exc:
            self._warn("journal", f"warning: the streaming answer could not be journaled in "
                       f"{_pending_path(self.project, self.doc)} ({exc.strerror or exc}); it "
                       f"is no longer shown in {self.doc} as it arrives, it is written there "
                       "when the agent has finished")
            return False
        try:
            with self.project.doc_lock(self.doc):
                text = self._show(partial)
        except (AgentDocError, OSError) as exc:
            message = exc.message if isinstance(exc, AgentDocError) else (
                exc.strerror or str(exc))
            self._warn("flush", f"warning: could not show the streaming answer in {self.doc} "
                       f"({message}); it is written there when the agent has finished")
            return True
        if text is not None:
            region.wrote(text, partial)
        if region.fallback:
            self._warn("fallback", f"[stream] {self.doc}: you typed inside the answer while "
                       "it streams; your text is merged with it")
        return True

    def _show(self, partial: str) -> str | None:
        """Write the document showing ``partial``; the text written (None: in an editor)."""
        def compose(current: str) -> tuple[str, int]:
            return self.region.compose(current, partial, final=False)

        if os.path.isdir(os.path.join(self.project.state_dir, "editors")):
            from agent_doc.editors import bridge

            in_editor = getattr(bridge, "flush_in_editor", None)
            if in_editor is not None:
                shown: list[str] = []

                def compose_text(current: str) -> str:
                    shown.append(compose(current)[0])
                    return shown[-1]

                if in_editor(self.doc, self.project, compose_text):
                    return shown[-1] if shown else None
        final, _bytes, _conflicts, _bases = _write_loop(
            self.doc, self.project, compose, {}, answer=None, user_of=self.region.withdraw,
            sent=self.region.sent)
        return final

    def finish(self, response: str, session_id: str | None) -> Region | None:
        """The agent has finished: journal the whole answer (``complete: true``; the caller
        applies it). Returns the region to cut out (None: nothing was ever shown)."""
        self.flusher.stop()
        if not self.journaled and not self.region.partials:
            journal_answer(self.project, self.doc, dict(
                self.base, response=response, session_id=session_id), self.reserve)
            return None
        journal_answer(self.project, self.doc,
                       self.record(response, complete=True, session_id=session_id),
                       self.reserve)
        return self.region

    def interrupted(self) -> bool:
        """Ctrl-C (or a stop) during the stream: keep the partial answer with the note,
        snapshot consistent, journal deleted. False when nothing was streamed yet."""
        from agent_doc.stream import interrupted_answer

        partial = self.flusher.stop()
        if not self.journaled and not self.region.partials:
            return False
        response = interrupted_answer(partial)
        journal_answer(self.project, self.doc, self.record(response, complete=True),
                       self.reserve)
        apply_response(self.doc, self.project, sent=self.region.sent, response=response,
                       session_id=None, region=self.region)
        return True

    def keep_interrupted(self, what: str) -> None:
        """Ctrl-C: :meth:`interrupted`, and say what happened (a failure to write is said,
        not raised: the interrupt goes on; the journal then keeps the partial answer)."""
        try:
            if self.interrupted():
                _say(f"Interrupted: the partial answer is kept in {self.doc}, marked "
                     f"*[answer interrupted]*; {what}")
        except AgentDocError as exc:
            _say(f"warning: the partial answer could not be written into {self.doc} "
                 f"({exc.message}); run `agent-doc recover {self.doc}` to write it, marked "
                 "as interrupted")

    def withdraw(self) -> None:
        """The agent failed mid-stream: take the partial answer back out of the document
        (it was never answered) and drop the journal. If that fails, the journal stays and
        the next run or `recover` marks the answer as interrupted."""
        self.flusher.stop()
        if not self.journaled and not self.region.partials:
            return
        try:
            with self.project.doc_lock(self.doc):
                _write_loop(self.doc, self.project,
                            lambda current: (self.region.withdraw(current), 0), {},
                            answer=None, user_of=self.region.withdraw, sent=self.region.sent)
                _delete_pending(self.project, self.doc)
        except (AgentDocError, OSError) as exc:
            message = exc.message if isinstance(exc, AgentDocError) else str(exc)
            _say(f"warning: could not take the partial answer back out of {self.doc} "
                 f"({message}); `agent-doc recover {self.doc}` keeps it, marked as "
                 "interrupted")
        else:
            _say(f"[stream] the partial answer was taken back out of {self.doc}")


# -- progress -------------------------------------------------------------------------------


class _Progress:
    """``waiting for NAME... Ns`` on stderr, rewritten in place every second."""

    def __init__(self, name: str, enabled: bool) -> None:
        self.name = name
        self.enabled = enabled
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._width = 0

    def _loop(self, stop: threading.Event) -> None:
        start = time.monotonic()
        while not stop.wait(1.0):
            line = f"  waiting for {self.name}... {int(time.monotonic() - start)}s"
            self._width = max(self._width, len(line))
            sys.stderr.write("\r" + line)
            sys.stderr.flush()

    def __enter__(self) -> _Progress:
        if self.enabled:
            import threading  # only when shown: `threading` is start-up cost otherwise

            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stop,), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None and self._stop is not None:
            self._stop.set()
            self._thread.join()
            if self._width:
                sys.stderr.write("\r" + " " * self._width + "\r")
                sys.stderr.flush()


# -- run ------------------------------------------------------------------------------------


def _check_document_writable(doc: str) -> None:
    """Before the agent is paid: the document can be written (its folder takes the temporary
    file of the swap, the file itself is not read-only)."""
    real = os.path.realpath(doc)
    folder = os.path.dirname(real)
    if not _writable(folder):
        raise AgentDocError(
            f"cannot write the answer into {doc}: no permission to create a file in {folder} "
            "(the answer is written to a temporary file beside the document, then swapped in); "
            "nothing was sent to the agent",
            hint=f"make {folder} writable, then run again",
        )
    if not _writable(real):
        raise AgentDocError(
            f"cannot write the answer into {doc}: the file is read-only; nothing was sent to "
            "the agent",
            hint=f"make it writable (chmod u+w {doc}), then run again",
        )


def _check_snapshot_writable(doc: str, project: Project, text: str) -> None:
    """Before the agent is paid: the snapshot can be written (else the answer would land in
    the document and then show up as the user's change in the next diff)."""
    from agent_doc.errors import os_cause, os_hint
    from agent_doc.preflight import check_write
    from agent_doc.snapshot import SnapshotStore

    snap = SnapshotStore(project).path(doc)
    try:
        check_write(snap, len(text.encode("utf-8")), state_root=project.root)
    except OSError as exc:
        raise AgentDocError(
            f"cannot save the snapshot of {doc} ({snap}): {os_cause(exc, snap)}; nothing was "
            "sent to the agent",
            hint=f"{os_hint(exc, snap)}, then run again",
        ) from None


def _check_document(path: str | os.PathLike[str]) -> str:
    doc = os.fspath(path)
    if not os.path.exists(doc):
        from agent_doc.errors import missing_file_error

        raise missing_file_error(path)  # not found, or not reachable: says which
    if os.path.isdir(doc):
        raise AgentDocError(
            f"{path} is a folder, not a document", hint="give the path of a Markdown file"
        )
    return doc


def submit(path: str | os.PathLike[str], options: SubmitOptions) -> SubmitResult:
    """One whole cycle for the document at ``path`` (``agent-doc run``)."""
    doc = _check_document(path)
    project = Project.for_document(doc)
    _say(f"[submit] starting for {path}")
    if options.dry_run:
        return _dry_run(doc, project, options)
    lock = project.submit_lock(doc, timeout=submit_wait())
    if options.no_wait:
        if not lock.acquire(blocking=False):
            holder = read_holder(lock.path)
            _say(f"[submit] a cycle for {path} is already running ({holder or 'unknown'})")
            return SubmitResult("busy", holder=holder)
    else:
        lock.acquire()
    try:
        return _cycle(doc, project, options)
    finally:
        lock.release()


def _moved_pending(doc: str, project: Project) -> str | None:
    """The pending journal of a document that was renamed or moved to ``doc`` while its agent
    answered: a record in ``pending/`` with ``doc``'s session id whose own document is gone.
    None when there is none (or ``doc`` has no session id)."""
    folder = project.pending_dir
    own = os.path.basename(_pending_path(project, doc))
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".json") and n != own]
    except OSError:
        return None
    if not names:
        return None
    try:
        session = read_document(doc).session
    except (AgentDocError, OSError):
        return None
    if not session:
        return None
    found: list[tuple[float, str]] = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            record = json.loads(_read_nofollow(path).decode("utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("agent_doc_session") != session:
            continue
        old = record.get("document")
        if isinstance(old, str) and os.path.exists(old) and os.path.realpath(old) != (
                os.path.realpath(doc)):
            continue  # a copy: that document still exists and owns the answer
        try:
            found.append((os.stat(path).st_mtime, path))
        except OSError:
            continue
    return max(found)[1] if found else None


def _read_nofollow(path: str) -> bytes:
    """A file under ``.agent-doc/``, never through a symbolic link (SPEC A13)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        if not S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _adopt_moved_pending(doc: str, project: Project) -> bool:
    """Move the journal of a renamed document to ``doc``'s own slot (the caller holds its
    submit lock). The new journal is written before the old one is deleted."""
    old = _moved_pending(doc, project)
    if old is None:
        return False
    record = json.loads(_read_nofollow(old).decode("utf-8"))
    _say(f"[submit] a response left pending for {record.get('file') or old} (session "
         f"{record.get('agent_doc_session')}) belongs to {doc}, which it was renamed to")
    record["document"] = os.path.realpath(doc)
    record["file"] = doc
    atomic_write(_pending_path(project, doc), json.dumps(record, ensure_ascii=False, indent=1),
                 mode=0o600, make_parents=True, state_root=project.root)
    os.unlink(old)
    return True


def _apply_left_pending(doc: str, project: Project) -> bool:
    record = load_pending(project, doc)
    if record is None and _adopt_moved_pending(doc, project):
        record = load_pending(project, doc)
    if record is None:
        return False
    _say(f"[submit] applying a response left pending by an earlier run "
         f"({record.get('agent') or 'agent'}, {record.get('time') or 'unknown time'})")
    _apply_pending(doc, project, record)
    return True


def _read_and_diff(doc: str, project: Project) -> tuple[str, str | None]:
    """Step 2: under the document lock, read once, ensure the session UUID, load the snapshot."""
    from agent_doc.diff import compute
    from agent_doc.document import (
        decode_document,
        ensure_session,
        parse,
        read_document_bytes,
        replace_document,
    )
    from agent_doc.snapshot import SnapshotStore

    with project.doc_lock(doc):
        from agent_doc import repair

        repair.check(project, doc)  # an answer lost to a stale editor save (issue 17)
        raw = read_document_bytes(doc)
        text = decode_document(raw, doc)
        parse(text, doc)
        new, _sid, changed = ensure_session(text, doc)
        if changed:
            # a save that lands meanwhile is merged into what is on disk; diff what we sent
            text = replace_document(doc, raw, new).decode("utf-8")
        snapshot = SnapshotStore(project).load(doc)
    return text, compute(snapshot, text)


def _cycle(doc: str, project: Project, options: SubmitOptions) -> SubmitResult:
    from agent_doc.agents import AgentError, select_agent
    from agent_doc.document import parse
    from agent_doc.prompts import build_prompt

    applied = _apply_left_pending(doc, project)
    text, diff = _read_and_diff(doc, project)
    if diff is None:
        _say(f"[submit] Nothing changed since last submit for {doc}")
        return SubmitResult("unchanged", pending_applied=applied)
    _say(f"[submit] diff computed ({len(diff.encode('utf-8'))} bytes)")
    parsed = parse(text, doc)
    agent = select_agent(options.agent, parsed.agent, project.root)
    streaming, interval = (stream_enabled(options.stream, project)
                           if getattr(agent, "streams", False) else (False, 0.0))
    if not options.no_git:
        from agent_doc import gitops

        if options.branch:
            gitops.ensure_branch(doc)
        try:
            gitops.commit_document(doc, project=project)
        except gitops.GitError as exc:
            # the pre-commit only saves the user's text in history: say so, do not stop
            _say(f"warning: could not commit {doc} before submitting: {exc.message}"
                 + (f" ({exc.hint})" if exc.hint else "") + "; continuing without the commit")
    # the answer must be journaled whatever happens: make sure it can be, before paying (and
    # before the conversation id is recorded: a failure here changes nothing)
    _check_document_writable(doc)
    _check_snapshot_writable(doc, project, text)
    reserve = reserve_pending(project, doc, sent=text)
    try:
        conversation = None
        if getattr(agent, "chooses_conversation_id", False):
            if parsed.model and not options.model:
                from agent_doc.agents.claude import check_model

                check_model(parsed.model, f"{doc}: frontmatter `model:`")
            text, conversation = _own_conversation(doc, project, text, parsed.resume)
        resumed = parsed.resume is not None if conversation is None else not conversation[1]
        prompt = build_prompt(text, diff, resumed=resumed)
        streamer: _Streamer | None = None
        extra: dict[str, Any] = {}
        if streaming:
            streamer = _Streamer(doc, project, sent=text, agent=agent.name,
                                 doc_session=parsed.session, reserve=reserve,
                                 interval=interval)
            extra["stream"] = streamer.flusher
        _say(f"Submitting to {agent.name}...")
        progress = sys.stderr.isatty() if options.progress is None else options.progress
        try:
            with _Progress(agent.name, progress):
                reply = _send(agent, prompt, doc, project, parsed, options, conversation, extra)
        except KeyboardInterrupt:
            if streamer is not None:
                streamer.keep_interrupted("the agent was stopped")
            raise
        except BaseException:
            if streamer is not None:
                streamer.withdraw()
            raise
        response = clean_response(reply.text)
        if not response.strip():
            if streamer is not None:
                streamer.withdraw()
            raise AgentError(
                f"{agent.name} returned an empty response for {doc}",
                hint="nothing was written; run again", agent=agent.name,
            )
        region = None
        if streamer is not None:
            region = streamer.finish(response, reply.session_id)
        else:
            journal_answer(project, doc, pending_record(
                doc, sent=text, response=response, session_id=reply.session_id,
                agent=agent.name, doc_session=parsed.session), reserve)
    finally:
        _drop_reserve(reserve)
    result = apply_response(doc, project, sent=text, response=response,
                            session_id=reply.session_id, region=region)
    result.pending_applied = applied
    _say(f"Response appended to {doc}")
    return result


def _send(agent: Any, prompt: str, doc: str, project: Project, parsed: Any,
          options: SubmitOptions, conversation: tuple[str, bool] | None,
          extra: dict[str, Any]) -> Any:
    """Step 4: the agent call (``extra``: ``stream=`` when the answer streams)."""
    from agent_doc.agents import AgentError

    if conversation is None:
        reply = agent.send(
            prompt,
            resume_id=parsed.resume,
            fork=parsed.resume is None,
            model=options.model or parsed.model,
            **extra,
        )
    else:
        recorded_now = parsed.resume is None
        try:
            reply = agent.send(
                prompt, resume_id=conversation[0], fork=False,
                model=options.model or parsed.model, new_conversation=conversation[1],
                document=doc, **extra,
            )
            if not clean_response(reply.text).strip():
                raise AgentError(
                    f"{agent.name} returned an empty response for {doc}",
                    hint="nothing was written; run again", agent=agent.name,
                )
        except BaseException:
            if recorded_now:
                _forget_conversation(doc, project, conversation[0])
            raise
        from agent_doc.agents.claude import is_conversation_id

        if not is_conversation_id(reply.session_id or ""):  # keep the id we recorded
            reply = type(reply)(reply.text, conversation[0])
    return reply


def _own_conversation(
    doc: str, project: Project, text: str, resume: str | None
) -> tuple[str, tuple[str, bool]]:
    """The document's own agent conversation: ``(sent text, (id, new))``.

    For an agent that takes a conversation id chosen by us (Claude Code's ``--session-id``),
    a document without ``resume`` gets a fresh id, recorded in its frontmatter **before** the
    call (so a crash between the two leaves no conversation that no document knows); the call
    then creates that conversation. A call that fails cleanly takes the line back
    (:func:`_forget_conversation`), so a failed submit changes nothing. A recorded id is new
    until an answer in it was applied: the snapshot (sent text + answer) carries the
    ``resume`` of the last applied answer. Values from the frontmatter are data: ``resume``
    must be a conversation id.
    """
    from agent_doc.agents.claude import check_conversation_id
    from agent_doc.document import new_session_id, parse, replace_document
    from agent_doc.snapshot import SnapshotStore

    if resume is not None:
        check_conversation_id(resume, doc)
        try:
            snap = SnapshotStore(project).peek(doc)
            applied = parse(snap, doc).resume if snap is not None else None
        except AgentDocError:
            applied = None
        return text, (resume, applied != resume)
    sid = new_session_id()
    new_text = set_field(text, "resume", sid, doc)
    with project.doc_lock(doc):
        # a save that landed since the read is merged with our one-line change
        replace_document(doc, text.encode("utf-8"), new_text)
    return new_text, (sid, True)


def _forget_conversation(doc: str, project: Project, sid: str) -> None:
    """Take back the ``resume`` line recorded for a first call that failed (an API error,
    Ctrl-C, a timeout): a failed submit leaves the document as it was. Only a run killed
    outright leaves the line, and then the next run continues that conversation."""
    from agent_doc.document import edit_document, parse

    def change(text: str) -> str:
        return set_field(text, "resume", None, doc) if parse(text, doc).resume == sid else text

    try:
        edit_document(doc, change, project=project)
    except AgentDocError as exc:
        _say(f"warning: could not take `resume: {sid}` back out of {doc} ({exc.message}); "
             "the next run continues that conversation")


def _dry_run(doc: str, project: Project, options: SubmitOptions) -> SubmitResult:
    """Everything up to the prompt, writing nothing at all (not even a lock file)."""
    from agent_doc.agents import select_agent
    from agent_doc.diff import compute
    from agent_doc.document import ensure_session, parse
    from agent_doc.prompts import build_prompt
    from agent_doc.snapshot import SnapshotStore

    if os.path.exists(_pending_path(project, doc)):
        _say(f"[submit] a pending response for {doc} would be applied first "
             "(`agent-doc recover` applies it)")
    text = read_document(doc).text
    text, _sid, _changed = ensure_session(text, doc)
    diff = compute(SnapshotStore(project).peek(doc), text)  # dry-run: no lock file either
    if diff is None:
        _say(f"[submit] Nothing changed since last submit for {doc}")
        return SubmitResult("unchanged")
    _say(f"[submit] diff computed ({len(diff.encode('utf-8'))} bytes)")
    parsed = parse(text, doc)
    select_agent(options.agent, parsed.agent, project.root)
    prompt = build_prompt(text, diff, resumed=parsed.resume is not None)
    return SubmitResult("dry-run", diff=diff, prompt_bytes=len(prompt.encode("utf-8")))


# -- write and recover ----------------------------------------------------------------------


def write_response(
    path: str | os.PathLike[str], response: str, *, session_id: str | None = None
) -> SubmitResult:
    """``agent-doc write``: apply a response produced elsewhere (the skill's own cycle).

    The base ("sent text") is the document as it is when ``write`` takes the document lock:
    the skill read the document, answered, and hands us the answer; we cannot know which later
    keystrokes it did not see, and the snapshot would be the wrong base (the user's question,
    added since the snapshot, would then compete with the answer for the same place and the
    snapshot would lose it). So the response is appended to the current text and the snapshot
    becomes that text plus the response.
    """
    doc = _check_document(path)
    project = Project.for_document(doc)
    if session_id is not None:  # it becomes `resume`, which `run` passes to claude: data only
        from agent_doc.agents.claude import is_conversation_id

        if not is_conversation_id(session_id):
            raise AgentDocError(
                f"not writing to {path}: --session-id {session_id!r} is not a Claude "
                "conversation id (a UUID)",
                hint="pass the session_id Claude Code reported, or leave --session-id out",
            )
    text = clean_response(response)
    if not text.strip():
        raise AgentDocError(
            f"no response to write to {path}: standard input was empty",
            hint="pipe the response text into `agent-doc write FILE`",
        )
    with project.submit_lock(doc, timeout=submit_wait()):
        applied = _apply_left_pending(doc, project)
        with project.doc_lock(doc):
            from agent_doc import repair

            repair.check(project, doc)  # an answer lost to a stale editor save (issue 17)
            parsed = read_document(doc)
            sent = parsed.text
            # the response read on stdin exists nowhere else: journal it, or keep it elsewhere
            journal_answer(project, doc, pending_record(
                doc, sent=sent, response=text, session_id=session_id, agent="write",
                doc_session=parsed.session))
            result = apply_response(doc, project, sent=sent, response=text,
                                    session_id=session_id)
    result.pending_applied = applied
    _say(f"Response appended to {path}")
    return result


def write_stream(
    path: str | os.PathLike[str], fd: int, *, session_id: str | None = None,
    interval: float | None = None,
) -> SubmitResult:
    """``agent-doc write`` with the response arriving on a pipe (issue 16): it is shown in the
    document as it arrives, exactly as `run` streams an answer; EOF = the answer is complete,
    and the whole of it is written as :func:`write_response` would. ``fd`` is read until EOF.
    """
    import codecs

    doc = _check_document(path)
    project = Project.for_document(doc)
    if session_id is not None:
        from agent_doc.agents.claude import is_conversation_id

        if not is_conversation_id(session_id):
            raise AgentDocError(
                f"not writing to {path}: --session-id {session_id!r} is not a Claude "
                "conversation id (a UUID)",
                hint="pass the session_id Claude Code reported, or leave --session-id out",
            )
    if interval is None:
        interval = stream_enabled(True, project)[1]
    head = _read_head(fd)
    if head is None or head[1]:  # all of it at once (a heredoc, a file): as without a pipe
        data = b"" if head is None else head[0]
        try:
            whole = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AgentDocError(
                f"the response for {path} on standard input is not valid UTF-8 "
                f"(byte {exc.start})",
                hint="send UTF-8 text",
            ) from None
        return write_response(path, whole, session_id=session_id)
    with project.submit_lock(doc, timeout=submit_wait()):
        applied = _apply_left_pending(doc, project)
        with project.doc_lock(doc):
            from agent_doc import repair

            repair.check(project, doc)  # an answer lost to a stale editor save (issue 17)
            parsed = read_document(doc)
        sent = parsed.text
        streamer = _Streamer(doc, project, sent=sent, agent="write",
                             doc_session=parsed.session, reserve=None, interval=interval)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        chunks: list[str] = []
        first: bytes | None = head[0]
        try:
            while True:
                data, first = (first, None) if first is not None else (os.read(fd, 65536),
                                                                       None)
                piece = decoder.decode(data, final=not data)
                if piece:
                    chunks.append(piece)
                    streamer.flusher.write(piece)
                if not data:
                    break
        except KeyboardInterrupt:
            streamer.keep_interrupted("standard input was not read to the end")
            raise
        except UnicodeDecodeError as exc:
            streamer.withdraw()
            raise AgentDocError(
                f"the response for {path} on standard input is not valid UTF-8 "
                f"(byte {exc.start} of a chunk)",
                hint="send UTF-8 text",
            ) from None
        except BaseException:
            streamer.withdraw()
            raise
        text = clean_response("".join(chunks))
        if not text.strip():
            streamer.withdraw()
            raise AgentDocError(
                f"no response to write to {path}: standard input was empty",
                hint="pipe the response text into `agent-doc write FILE`",
            )
        region = streamer.finish(text, session_id)
        result = apply_response(doc, project, sent=sent, response=text, session_id=session_id,
                                region=region)
    result.pending_applied = applied
    _say(f"Response appended to {path}")
    return result


#: a pipe that pauses longer than this before EOF streams (`write`); else it is read whole
WRITE_STREAM_GRACE = 0.05


def _read_head(fd: int) -> tuple[bytes, bool] | None:
    """Read what ``fd`` delivers without pausing: ``(data, at EOF)``; None for no data at
    all. A heredoc or a fast writer reaches EOF here and is written as without streaming."""
    import select

    head: list[bytes] = []
    while True:
        data = os.read(fd, 65536)
        if not data:
            return (b"".join(head), True) if head else None
        head.append(data)
        ready, _w, _x = select.select([fd], [], [], WRITE_STREAM_GRACE)
        if not ready:
            return b"".join(head), False


def recover(path: str | os.PathLike[str]) -> SubmitResult | None:
    """``agent-doc recover``: apply the pending response of ``path``; None if there is none."""
    doc = _check_document(path)
    project = Project.for_document(doc)
    if not os.path.exists(_pending_path(project, doc)) and _moved_pending(doc, project) is None:
        return None
    with project.submit_lock(doc, timeout=submit_wait()):
        record = load_pending(project, doc)  # again, under the lock: another recover may
        if record is None and _adopt_moved_pending(doc, project):  # have applied it meanwhile
            record = load_pending(project, doc)
        if record is None:
            return None
        _say(f"Applying the pending response for {path} "
             f"({record.get('agent') or 'agent'}, {record.get('time') or 'unknown time'})")
        result = _apply_pending(doc, project, record)
    _say(f"Response appended to {path}")
    return result
