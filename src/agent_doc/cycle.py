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
5. The response goes durably to the pending journal (:mod:`agent_doc.journal`) **before**
   the document is touched (C11); the journal's room is reserved before the agent is paid.
6–9. The write-back (:mod:`agent_doc.writeback`): merge, exchange, snapshot, journal dropped;
   a streamed answer (issue 16) flushes through the same write loop as it grows
   (:class:`_Streamer`, :mod:`agent_doc.stream`).
"""

from __future__ import annotations

import os
import sys
import time
from stat import S_ISREG

from agent_doc.document import read_document, set_field
from agent_doc.errors import AgentDocError
from agent_doc.errors import say as _say
from agent_doc.journal import (
    delete_pending,
    drop_reserve,
    journal_answer,
    load_pending,
    pending_path,
    pending_record,
    reserve_pending,
)
from agent_doc.project import Project
from agent_doc.record import Record
from agent_doc.writeback import (
    SubmitResult,
    _writable,
    apply_pending,
    apply_response,
    clean_response,
    write_loop,
)
from fastpath import json_dumps, json_loads  # `json` pulls in `re` (bench/IMPORTS.md)
from safefile import (
    atomic_write,
    read_holder,
)

TYPE_CHECKING = False  # `typing` stays off the start-up path (bench/IMPORTS.md)
if TYPE_CHECKING:  # pragma: no cover
    import threading
    from typing import Any

    from agent_doc.document import Document
    from agent_doc.stream import Region

#: how long a run waits for another cycle of the same document (agent calls take minutes)
SUBMIT_WAIT = 900.0


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


def submit_wait() -> float:
    raw = os.environ.get("AGENT_DOC_SUBMIT_WAIT")
    if raw:
        try:
            return float(raw)
        except ValueError:
            pass
    return SUBMIT_WAIT


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
    document through :func:`write_loop` under the document lock — the final write-back's own
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
                drop_reserve(self.reserve)  # its room is the journal's now
                self.reserve = None
            atomic_write(pending_path(self.project, self.doc),
                         json_dumps(self.record(partial, complete=False, flushed=flushed),
                                    indent=1),
                         mode=0o600, make_parents=True, state_root=self.project.root)
            self.journaled = True
        except OSError as exc:
            self._warn("journal", f"warning: the streaming answer could not be journaled in "
                       f"{pending_path(self.project, self.doc)} ({exc.strerror or exc}); it "
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
        final, _bytes, _conflicts, _bases = write_loop(
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
                write_loop(self.doc, self.project,
                            lambda current: (self.region.withdraw(current), 0), {},
                            answer=None, user_of=self.region.withdraw, sent=self.region.sent)
                delete_pending(self.project, self.doc)
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
    own = os.path.basename(pending_path(project, doc))
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
            record = json_loads(_read_nofollow(path).decode("utf-8"))
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
    record: Any = json_loads(_read_nofollow(old).decode("utf-8"))
    _say(f"[submit] a response left pending for {record.get('file') or old} (session "
         f"{record.get('agent_doc_session')}) belongs to {doc}, which it was renamed to")
    record["document"] = os.path.realpath(doc)
    record["file"] = doc
    atomic_write(pending_path(project, doc), json_dumps(record, indent=1),
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
    apply_pending(doc, project, record)
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
        drop_reserve(reserve)
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

    if os.path.exists(pending_path(project, doc)):
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


def _check_session_id(path: str | os.PathLike[str], session_id: str | None) -> None:
    """``write --session-id``: it becomes ``resume``, which `run` passes to claude — data only,
    so it must be a Claude conversation id."""
    if session_id is None:
        return
    from agent_doc.agents.claude import is_conversation_id

    if not is_conversation_id(session_id):
        raise AgentDocError(
            f"not writing to {path}: --session-id {session_id!r} is not a Claude "
            "conversation id (a UUID)",
            hint="pass the session_id Claude Code reported, or leave --session-id out",
        )


def _repaired_document(doc: str, project: Project) -> Document:
    """The document as ``write`` answers it (the caller holds the document lock): an answer a
    stale editor save removed is put back first (issue 17)."""
    from agent_doc import repair

    repair.check(project, doc)
    return read_document(doc)


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
    _check_session_id(path, session_id)
    text = clean_response(response)
    if not text.strip():
        raise AgentDocError(
            f"no response to write to {path}: standard input was empty",
            hint="pipe the response text into `agent-doc write FILE`",
        )
    with project.submit_lock(doc, timeout=submit_wait()):
        applied = _apply_left_pending(doc, project)
        with project.doc_lock(doc):
            parsed = _repaired_document(doc, project)
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
    _check_session_id(path, session_id)
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
            parsed = _repaired_document(doc, project)
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
    if not os.path.exists(pending_path(project, doc)) and _moved_pending(doc, project) is None:
        return None
    with project.submit_lock(doc, timeout=submit_wait()):
        record = load_pending(project, doc)  # again, under the lock: another recover may
        if record is None and _adopt_moved_pending(doc, project):  # have applied it meanwhile
            record = load_pending(project, doc)
        if record is None:
            return None
        _say(f"Applying the pending response for {path} "
             f"({record.get('agent') or 'agent'}, {record.get('time') or 'unknown time'})")
        result = apply_pending(doc, project, record)
    _say(f"Response appended to {path}")
    return result

