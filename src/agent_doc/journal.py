"""The pending journal of the submit cycle (SPEC A6 step 5, C11).

The response goes durably to ``.agent-doc/pending/<hash>.json`` (response, session id, the
document's session id, the exact sent text, agent, time) **before** the document is touched
(C11). Ctrl-C or an agent error before this point leaves document, snapshot and pending
untouched. Before the agent is called (issue 11), the journal's room is reserved
(:func:`reserve_pending`) and the document and snapshot writes are checked possible, so a
full disk or a folder we may not write fails *before* anything is paid; an answer the
journal still cannot hold is kept in a file the error names (:func:`rescue_answer`), or
printed — never dropped. A journal whose document was renamed meanwhile is found by the
document's session id (``recover NEWNAME``, ``run NEWNAME``).
"""

from __future__ import annotations

import os
import sys
import time

from agent_doc.errors import AgentDocError
from agent_doc.project import Project
from fastpath import json_dumps, json_loads, json_quote  # `json` pulls in `re` (bench/IMPORTS.md)
from safefile import (
    atomic_write,
    open_state,
    read_bytes,
    unlink_state,
)

TYPE_CHECKING = False  # `typing` stays off the start-up path (bench/IMPORTS.md)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any


PENDING_VERSION = 1


def pending_path(project: Project, doc: str | os.PathLike[str]) -> str:
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
    path = pending_path(project, doc)
    record = pending_record(doc, sent=sent, response=response, session_id=session_id,
                            agent=agent, doc_session=doc_session)
    # a copy of the document's text: never more readable than the document; never written
    # through a link planted under .agent-doc/
    atomic_write(path, json_dumps(record, indent=1), mode=0o600,
                 make_parents=True, state_root=project.root)
    return path


# -- reserving the journal before the agent is paid (issue 11) --------------------------------

#: room kept for the answer itself, beyond the exact size of the rest of the record
RESERVE_FOR_ANSWER = 256 * 1024


def _reserve_path(project: Project, doc: str) -> str:
    pending = pending_path(project, doc)
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
    size = len(json_quote(sent).encode("utf-8")) + RESERVE_FOR_ANSWER  # json.dumps(sent)'s
    fd = -1
    try:
        fd = open_state(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600,
                        state_root=project.root)
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
            fd = -1
            drop_reserve(path)
        raise AgentDocError(
            f"cannot reserve room for the answer to {doc} in {os.path.dirname(path)}: "
            f"{os_cause(exc, path)}; nothing was sent to the agent",
            hint=os_hint(exc, os.path.dirname(path)) + ", then run again",
        ) from None
    finally:
        if fd >= 0:
            os.close(fd)
    return path


def drop_reserve(path: str | None) -> None:
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

    drop_reserve(reserve)
    path = pending_path(project, doc)
    try:
        atomic_write(path, json_dumps(record, indent=1), mode=0o600,
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
    data = json_dumps(record, indent=1)
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
    path = pending_path(project, doc)
    try:
        raw = read_bytes(path, state_root=project.root)
    except FileNotFoundError:
        return None
    try:
        record = json_loads(raw.decode("utf-8"))
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


def delete_pending(project: Project, doc: str) -> None:
    unlink_state(pending_path(project, doc), state_root=project.root)


