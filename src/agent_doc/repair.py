"""Putting back an answer that an editor's stale save wrote over (issue 17).

**The loss.** Every editor that checks the file before saving has a window between that check
and its write. When agent-doc's write-back lands in that window, the editor's save — built on
the text it read, which has no answer yet — replaces the document: the answer is gone although
the write-back reported success, and the next diff tells the agent the user deleted it. The
write-back's exchange-and-re-merge (:mod:`agent_doc.cycle`) protects against the opposite order
only (a save landing between agent-doc's read and its write).

**What is recorded.** After every write-back, under the document lock, agent-doc keeps
``.agent-doc/repair/<sha256(realpath)>.json`` (mode 0600, atomic write; the reference tool
never looks in ``repair/``): the text it wrote (W), the versions without the answer it wrote
over (P: the text it read, and any save it displaced and merged during the write-back; stored
as small line deltas from W, oldest first; the previous record's P are carried over while its
window lasts, so a save older than two answers gets both back), the answer and the time. The
file is two JSON lines: a small head (version, time, the sha256 of W and of each P, the
answer) that the common checks read alone, then the body (W and the P deltas). It is written
without ``fsync`` (see :func:`_store`).

**The test.** A later version S of the document is a *stale save* when, for one of the
recorded P (the oldest that qualifies):

1. S differs from W and from P (S == P exactly is not repaired: an undo that restored the
   version before the answer looks the same);
2. S adds at least one non-blank line to P, and *none* of the lines S adds to P is a line that
   W added to P (W's lines are the ``## Assistant`` heading, the answer, the new ``## User``
   heading, a new ``resume:`` value, user lines merged in during the call). A user who had W
   in their editor and deleted the answer leaves such a line behind (the trailing ``## User``
   heading they type under, part of the answer, the ``resume`` field) — then nothing is done;
3. the 3-way merge (base P, ours W, theirs S) has no conflict: S's changes do not touch the
   answer's place;
4. S was saved (its mtime) at most :data:`REPAIR_WINDOW` seconds after the write-back.

Then S is P plus user changes the user made without ever having had the answer, and the merge —
the answer back in its place, every user line kept — is written (document lock,
:func:`agent_doc.document.replace_document`'s exchange write), with a line on stderr, and noted
in the record for ``status``. The snapshot is not touched: it already is the sent text plus the
answer, so the next diff shows only the user's lines.

**Who checks.** Every command that reads the document for a cycle: ``run`` (and so the watch
daemon, whose cycles are runs, at the first change event after the save), ``write``,
``patch``, the write-back itself (a stale save of the previous answer is repaired before the
next answer is merged), ``diff`` and ``status`` — each only when a record exists (one
``stat`` otherwise).

**Patches.** ``patch`` keeps a record too (:func:`record_patch`, when it updates the
snapshot): the block of lines it inserted plays the answer, so a stale save over a component
entry is repaired the same way (soak seed 7957 lost one in 1,609 patches without it). A patch
that only deletes lines renews the previous record with the patched text instead, so that a
repair of the answer keeps the deletion. ``patch`` checks before it writes (its record
replaces the one that could repair the previous answer).

**How long.** A record lives until the next write-back of that document replaces it, until the
snapshot no longer holds the answer (``reset``, another tool; ``patch`` keeps it), or until a
check made more than :data:`REPAIR_WINDOW` seconds after the write-back (that check still
repairs a stale save made inside the window, however late it runs). Why 60 s: an editor's
check-then-write window is milliseconds (issue 17's trace: the stand-in editor's save landed
8 ms after agent-doc's write, at load average 10), so a minute covers slow disks and loaded
machines by three orders of magnitude, while keeping short the time in which the one ambiguous
case below (a deliberate deletion of the whole block) can occur. Documents above
:data:`MAX_BYTES` are not recorded.

**Limits.** A user who had the answer, deleted the whole block including the trailing
``## User`` heading (with no ``resume`` change in that write-back) and typed new lines
elsewhere within the window cannot be told from a stale save: the answer comes back, and
stderr says so. A stale save that only deletes lines, or that adds only blank lines, is not
repaired (nothing tells it from a deliberate deletion). A stale save older than the window
(an editor that kept an old buffer for minutes and was told to overwrite) is not repaired.
"""

from __future__ import annotations

import os
import sys
import time

from agent_doc.errors import AgentDocError
from agent_doc.project import Project, doc_hash

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

RECORD_VERSION = 2
#: the record's first line (read alone by the common checks); the rest is the second line
_HEAD_KEYS = ("version", "time", "written_sha", "base_shas", "answer")
#: a stale save made (mtime) later than this after the write-back is not repaired (s)
REPAIR_WINDOW = 60.0
#: documents larger than this (characters) get no record
MAX_BYTES = 8 * 1024 * 1024
#: at most this many pre-answer versions are kept per record (those of the previous record
#: included while its window lasts)
MAX_BASES = 4


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def repair_dir(project: Project) -> str:
    return os.path.join(project.state_dir, "repair")


def record_path(project: Project, doc: str | os.PathLike[str]) -> str:
    return os.path.join(repair_dir(project), f"{doc_hash(doc)}.json")


def sha_hex(data: str | bytes) -> str:
    """sha256 (hex) of ``data`` (str as UTF-8)."""
    return _sha(data)


def _sha(data: str | bytes) -> str:
    from fastpath import sha256

    raw = data.encode("utf-8") if isinstance(data, str) else data
    for known, hexdigest in _SHAS:  # a write-back hashes the same texts several times
        if known == raw:  # the whole content compared: never stale
            return hexdigest
    hexdigest = sha256(raw).hexdigest()
    if len(raw) <= MAX_BYTES:
        _SHAS.insert(0, (raw, hexdigest))
        del _SHAS[_SHAS_KEPT:]
    return hexdigest


#: how many texts ``_sha`` remembers: a write-back hashes the version the check read, the one
#: it wrote and each it wrote over, several times each (with two, a run hashed its 62 KB
#: document 3-4 times over; bench/RESULTS.md)
_SHAS_KEPT = 4
#: the last texts ``_sha`` hashed, with their digests, the latest first
_SHAS: list[tuple[bytes, str]] = []


def tracing() -> bool:
    return bool(os.environ.get("AGENT_DOC_TRACE"))


def trace(event: str, doc: str | os.PathLike[str], **fields: Any) -> None:
    """Append one JSON line about a document write to the file named by ``AGENT_DOC_TRACE``
    (the stress suite sets it, to trace a lost line or answer to one write); nothing when it
    is unset. Never fails the caller."""
    path = os.environ.get("AGENT_DOC_TRACE")
    if not path:
        return
    import json

    rec = {"t": time.time(), "pid": os.getpid(), "cmd": " ".join(sys.argv[1:2]),
           "event": event, "doc": os.path.realpath(os.fspath(doc)), **fields}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    except OSError:
        pass


# -- line alignment -------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    from agent_doc.merge import split_lines

    return split_lines(text)


def _keys(text: str) -> list[str]:
    """The lines of ``text`` without terminators (CRLF and LF alike), split at C speed."""
    return text.replace("\r\n", "\n").split("\n")


def _added(base: str, other: str) -> set[str]:
    """The non-blank lines (without terminators) ``other`` has beyond ``base`` (unmatched by a
    minimal line alignment)."""
    from agent_doc.diff import matching_runs

    ok = _keys(other)
    out: set[str] = set()
    j = 0
    for _i, b, n in [*matching_runs(_keys(base), ok), (0, len(ok), 0)]:
        out.update(k for k in ok[j:b] if k.strip())
        j = b + n
    return out


def _has(text: str, answer: str) -> bool:
    """Whether the answer (LF lines) is in ``text`` as a whole."""
    if not answer:
        return False
    return answer in (text.replace("\r\n", "\n") if "\r" in text else text)


#: :func:`_quick_runs` gives up after this many edits (then the full alignment runs)
_QUICK_EDITS = 8
#: ... or when re-synchronising after an edit needs to skip more lines than this
_QUICK_SKIP = 3


def _quick_runs(w: list[str], p: list[str]) -> list[tuple[int, int, int]] | None:
    """Matching runs of ``w`` and ``p`` found by a greedy walk, when the two differ by a few
    short edits, as a write-back's W and P do (the answer appended, a frontmatter field set);
    None otherwise. Each run is a true match and they increase in both indexes, which is all
    :func:`_delta` needs for ``_undelta`` to rebuild ``p`` exactly; they need not be minimal."""
    from agent_doc.diff import _common_prefix  # slice comparisons: C speed

    runs: list[tuple[int, int, int]] = []
    i = j = 0
    lw, lp = len(w), len(p)
    for _edit in range(_QUICK_EDITS + 1):
        n = _common_prefix(w, i, lw, p, j, lp)
        if n:
            runs.append((i, j, n))
            i, j = i + n, j + n
        if i == lw or j == lp:
            return runs
        for d in range(1, 2 * _QUICK_SKIP + 1):  # the smallest skip whose next two lines match
            for dw in range(max(0, d - _QUICK_SKIP), min(d, _QUICK_SKIP) + 1):
                a, b = i + dw, j + d - dw
                if a < lw and b < lp and w[a] == p[b] and (
                        a + 1 == lw or b + 1 == lp or w[a + 1] == p[b + 1]):
                    i, j = a, b
                    break
            else:
                continue
            break
        else:
            return None
    return None


def _delta(w: list[str], p: list[str]) -> list[list[Any]]:
    """``p`` as hunks ``[w_lo, w_hi, text]`` replacing lines of ``w`` (exact bytes)."""
    hunks: list[list[Any]] = []
    i = j = 0
    runs = _quick_runs(w, p)
    if runs is None:
        from agent_doc.diff import matching_runs

        runs = matching_runs(w, p)
    for a, b, n in [*runs, (len(w), len(p), 0)]:
        if a > i or b > j:
            hunks.append([i, a, "".join(p[j:b])])
        i, j = a + n, b + n
    return hunks


def _undelta(w: list[str], hunks: list[list[Any]]) -> str:
    out: list[str] = []
    i = 0
    for lo, hi, text in hunks:
        out.extend(w[i:lo])
        out.append(text)
        i = hi
    out.extend(w[i:])
    return "".join(out)


# -- the test -------------------------------------------------------------------------------


def stale_merge(bases: list[str], written: str, current: str,
                why: list[str] | None = None, answer: str = "") -> str | None:
    """The repaired text if ``current`` is a stale save of one of ``bases`` (oldest first)
    that lost the answer ``written`` added (module docstring, conditions 1–3); else None.

    The oldest base that qualifies wins: a save made from a version older than the previous
    answer gets both answers back, and a save made from a newer one cannot qualify for an
    older base (it holds lines ``written`` added to that base).

    ``why``, if given, gets one reason per base that did not qualify (for the trace). With
    ``answer`` (the response text), a ``current`` that holds it whole is left alone at once."""
    from agent_doc.merge import merge3way

    notes: list[str] = why if why is not None else []
    if current == written:
        notes.append("the document is what the write-back wrote")
        return None
    if _has(current, answer):
        notes.append("the answer is in the document")
        return None
    for n, base in enumerate(bases):
        if current == base:
            notes.append(f"base {n}: the document is exactly that version")
            continue
        ours = _added(base, written)
        theirs = _added(base, current)
        if not theirs:
            notes.append(f"base {n}: the document adds no line to it")
            continue
        if theirs & ours:  # it comes from a version that had the answer
            notes.append(f"base {n}: the document has lines the write-back added: "
                         f"{sorted(theirs & ours)[:2]}")
            continue
        merged = merge3way(base, written, current)
        if merged.conflicts:
            notes.append(f"base {n}: {merged.conflicts} conflict(s)")
            continue
        return _keep_resume(merged.text, written)
    return None


def _keep_resume(merged: str, written: str) -> str:
    """``merged`` with the ``resume`` (the agent conversation) that ``written`` recorded: a
    stale save may come from a version read before agent-doc recorded the conversation id
    (it does so before calling the agent), and must not take the document out of it."""
    from agent_doc.document import parse, set_field

    try:
        want = parse(written).resume
        if want is not None and parse(merged).resume != want:
            return set_field(merged, "resume", want)
    except AgentDocError:
        pass  # frontmatter the merge cannot carry the field in: leave the text as merged
    return merged


# -- the record -----------------------------------------------------------------------------


def _state_root(path: str) -> str:
    """The project root of a record path (``<root>/.agent-doc/repair/<hash>.json``): records
    are state, never read or written through a link (:mod:`safefile.state`)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(path)))


def _remove(path: str) -> None:
    from safefile import unlink_state

    unlink_state(path, state_root=_state_root(path))


def record_writeback(
    project: Project, doc: str | os.PathLike[str], *, bases: list[str], written: str,
    response: str, what: str = "the answer",
) -> None:
    """Keep what a later check needs (called by the write-back under the document lock, right
    after ``written`` was put in place). Never fails the write-back: a record that cannot be
    written is reported on stderr. ``what`` names ``response`` in the message of a repair
    (``record_patch``: the patch of a component)."""

    doc = os.fspath(doc)
    path = record_path(project, doc)
    try:
        if len(written) > MAX_BYTES or not _has(written, response):
            _remove(path)
            return
        # the versions to keep, oldest first, each once, none holding the answer already
        kept_bases: list[str] = []
        kept_shas: list[str] = []

        def keep(texts: list[str]) -> None:
            for base in texts:
                sha = _sha(base)
                if sha not in kept_shas and not _has(base, response):
                    kept_bases.append(base)
                    kept_shas.append(sha)

        # a stale save may predate the previous answer too: keep that record's versions
        # (older first) while its window lasts, so both answers come back. Its head says
        # when it was made and which versions it holds: the body is parsed only when they
        # are not already the first of ours (then carrying them changes nothing)
        head = _load(path, head_only=True) if os.path.exists(path) else None
        carried = False
        if head is not None and time.time() <= head["time"] + REPAIR_WINDOW:
            old_shas = head.get("base_shas")
            if not isinstance(old_shas, list):
                old_shas = None  # no list of versions in the head: read the body
            mine = [_sha(b) for b in bases[:len(old_shas)]] if old_shas is not None else None
            if old_shas is None or old_shas != mine:
                older = _load(path)
                if older is not None:
                    old_w = _split(older["written"])
                    keep([_undelta(old_w, h) for h in older["bases"]])
                    carried = True
        keep(bases)
        w_lines = _split(written)
        kept = [_delta(w_lines, _split(base)) for base in kept_bases[-MAX_BASES:]]
        kept_shas = kept_shas[-MAX_BASES:]
        written_sha = _sha(written)
        if tracing():
            trace("record", doc, written=written_sha, versions=len(bases), kept=len(kept),
                  carried=carried)
        if not kept:
            _remove(path)
            return
        now = time.time()
        record = {
            "version": RECORD_VERSION,
            "document": os.path.realpath(doc),
            "file": doc,
            "time": now,
            "time_text": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
            "pid": os.getpid(),
            "answer": response,
            "what": what,
            "written_sha": written_sha,
            "base_shas": kept_shas,
            "written": written,
            "bases": kept,
            "repaired": [],
        }
        _store(path, record)
    except OSError as exc:
        _say(f"warning: could not keep the repair record of {doc} ({path}: {exc}); an editor "
             "save that overwrites this answer will not be repaired")


def inserted_block(before: str, after: str) -> str:
    """The longest run of lines ``after`` inserted into ``before`` (LF endings), holding a
    non-blank line; "" when there is none (a patch that only deleted lines)."""
    from agent_doc.diff import matching_runs

    old, new = _keys(before), _keys(after)
    best: list[str] = []
    j = 0
    for _i, b, n in [*matching_runs(old, new), (0, len(new), 0)]:
        run = new[j:b]
        if len(run) > len(best) and any(line.strip() for line in run):
            best = run
        j = b + n
    return "".join(line + "\n" for line in best)


def record_patch(
    project: Project, doc: str | os.PathLike[str], *, before: str, merged_saves: list[str],
    written: str, component: str,
) -> None:
    """Keep a record for a ``patch`` write (under the document lock, right after it; the
    snapshot holds the patch): an editor's save made from ``before`` (or from a save the patch
    merged in) and written over the patch is repaired like a lost answer — the block the patch
    inserted plays the answer. The previous record's versions are carried over while its
    window lasts (as for an answer), so a save older than an answer and a patch gets both
    back. A patch that inserted nothing (it only deleted lines) renews the previous record
    with the patched text, so that a repair of its answer keeps the deletion; without one,
    nothing is recorded."""
    block = inserted_block(before, written)
    what = f"the patch of component '{component}'"
    if not block:
        path = record_path(project, doc)
        older = _load(path) if os.path.exists(path) else None
        if older is None or time.time() > older["time"] + REPAIR_WINDOW \
                or not _has(written, older["answer"]):
            return
        block, what = older["answer"], older.get("what", "the answer")
    record_writeback(project, doc, bases=[before, *merged_saves], written=written,
                     response=block, what=what)


def _store(path: str, record: dict[str, Any]) -> None:
    """Write the record: its head line, then the rest.

    Atomic (a reader sees the old record or the new one, never a mix) but not durable: no
    ``fsync`` of the file or of its folder, which only matters if the machine stops (power
    loss, kernel crash); a killed agent-doc leaves the record in the page cache, where every
    reader sees it. After the machine stops, the record may be missing, an older one, or
    (the rename reached the disk, the data did not) empty or truncated. That loses nothing:
    the record serves only for :data:`REPAIR_WINDOW` seconds after the write-back, and the
    editor whose stale buffer it guards died with the machine; a reboot and an editor that
    saves again take longer than the window, and a save later than the window is never
    repaired. An older record is still guarded by every condition of the check (the snapshot
    holds its answer, the window, the merge); an unreadable one is removed by :func:`_load`
    with a warning. Nothing the document, the snapshot or the journal hold depends on it."""
    from fastpath import json_dumps
    from safefile import atomic_write

    head = {k: record[k] for k in _HEAD_KEYS if k in record}
    head["version"] = RECORD_VERSION  # also when rewriting a version-1 record
    body = {k: v for k, v in record.items() if k not in head}
    # JSON without indent never holds a raw newline (strings escape them): one line each.
    # fastpath: json.dumps's bytes without importing json on run's path (bench/IMPORTS.md)
    data = (json_dumps(head, indent=None, ensure_ascii=True) + "\n"
            + json_dumps(body, indent=None))
    atomic_write(path, data, mode=0o600, make_parents=True, durable=False,
                 state_root=_state_root(path))


def _load(path: str, *, head_only: bool = False) -> dict[str, Any] | None:
    """The record at ``path`` (None: there is none, or it was unreadable and is removed now).
    ``head_only``: only its first line (``_HEAD_KEYS``)."""
    from fastpath import json_loads
    from safefile import read_bytes

    try:
        raw = read_bytes(path, state_root=_state_root(path))
    except FileNotFoundError:
        return None
    first, nl, rest = raw.partition(b"\n")
    try:
        rec: Any = json_loads(first.decode("utf-8"))
        # version 1 (before the head line): one JSON object, everything in it
        whole = isinstance(rec, dict) and rec.get("version") == 1 and not nl
        if not isinstance(rec, dict) or (rec.get("version") != RECORD_VERSION and not whole):
            raise ValueError("unknown format")
        checks: tuple[tuple[str, Any], ...] = (
            ("time", (int, float)), ("written_sha", str), ("answer", str))
        if whole:
            checks += (("written", str), ("bases", list), ("repaired", list))
        elif not head_only:
            body = json_loads(rest.decode("utf-8"))
            if not isinstance(body, dict):
                raise ValueError("unknown format")
            rec = {**body, **rec}
            checks += (("written", str), ("bases", list), ("repaired", list))
        for key, kind in checks:
            if not isinstance(rec.get(key), kind):
                raise ValueError(f"'{key}' is missing")
    except (ValueError, UnicodeDecodeError) as exc:
        _say(f"warning: the repair record {path} is unreadable ({exc}); removed it")
        _remove(path)
        return None
    return rec


# -- the check ------------------------------------------------------------------------------


def check(project: Project, doc: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Repair ``doc`` if a stale save removed the last answer; returns what was done (None:
    nothing). Cheap when there is no record (one ``stat``), and when the document is what the
    write-back wrote, the one version it replaced, or holds the answer (the record's head
    line and one read of the document). Takes
    the document lock (callers may already hold it: it is re-entrant)."""
    path = record_path(project, doc)
    if not os.path.exists(path):
        return None
    with project.doc_lock(doc):
        return _check_locked(project, os.fspath(doc), path)


def _check_locked(project: Project, doc: str, path: str) -> dict[str, Any] | None:
    from agent_doc.snapshot import SnapshotStore
    from safefile import BusyError, read_settled

    head = _load(path, head_only=True)
    if head is None:
        return None
    real = os.path.realpath(doc)
    try:
        raw = read_settled(real)
    except (FileNotFoundError, BusyError):
        return None  # gone, or being saved: the command's own read reports it
    deadline = head["time"] + REPAIR_WINDOW
    read_sha = _sha(raw)
    if read_sha == head["written_sha"] or [read_sha] == head.get("base_shas"):
        # the document is what the write-back wrote, or exactly the one version it replaced
        # (an undo: condition 1): nothing to repair, whatever the snapshot holds now (a record
        # the snapshot has moved past is removed by the next check that finds the document
        # changed, before it could repair anything)
        if tracing():
            trace("repair-check", doc, read=read_sha, answer_time=head.get("time"),
                  why=["the document is what the write-back wrote"
                       if read_sha == head["written_sha"] else
                       "base 0: the document is exactly that version"])
        if time.time() > deadline:
            _remove(path)
        return None
    try:
        current: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        current = None
    if current is not None and _has(current, head["answer"]):
        # the usual case: the user typed on after the answer (condition 2 cannot hold)
        if tracing():
            trace("repair-check", doc, read=read_sha, answer_time=head.get("time"),
                  why=["the answer is in the document"])
        if time.time() > deadline:
            _remove(path)
        return None
    rec = _load(path)
    if rec is None:
        return None
    snapshot = SnapshotStore(project).load(doc)
    if snapshot is None or rec["answer"] not in snapshot.replace("\r\n", "\n"):
        _remove(path)  # a reset (or another tool) moved the baseline on: the record is over
        trace("repair-check", doc, answer=rec.get("answer", "")[:80],
              why=["the snapshot no longer holds the answer: record removed"])
        return None
    try:
        mtime = os.stat(real).st_mtime
    except FileNotFoundError:
        return None
    outcome: dict[str, Any] | None = None
    why: list[str] = []
    if mtime > deadline:
        why.append(f"saved {mtime - rec['time']:.0f}s after the write-back (window "
                   f"{REPAIR_WINDOW:.0f}s)")
    else:
        try:
            current = raw.decode("utf-8")
        except UnicodeDecodeError:
            current = None
        if current is not None and _has(current, rec["answer"]):
            why.append("the answer is in the document")
        elif current is not None:
            written = rec["written"]
            w_lines = _split(written)
            bases = [_undelta(w_lines, h) for h in rec["bases"]]
            merged = stale_merge(bases, written, current, why, rec["answer"])
            if merged is not None:
                outcome = _repair(doc, real, raw, merged, rec)
                rec["repaired"].append(outcome)
                try:
                    _store(path, rec)
                except OSError:
                    pass  # the repair is done; only the note for `status` is missing
    if tracing() and outcome is None:
        trace("repair-check", doc, read=_sha(raw), answer=rec.get("answer", "")[:80],
              answer_time=rec.get("time"), why=why)
    if time.time() > deadline:
        _remove(path)
    return outcome


def _repair(doc: str, real: str, raw: bytes, merged: str, rec: dict[str, Any]) -> dict[str, Any]:
    from agent_doc.document import replace_document

    mtime = os.stat(real).st_mtime
    saved = time.strftime("%H:%M:%S", time.localtime(mtime))
    try:
        new = replace_document(real, raw, merged)
    except AgentDocError as exc:
        raise AgentDocError(
            f"could not restore {rec.get('what', 'the answer')} of {rec.get('time_text', '?')} "
            f"in {doc}, which a "
            f"stale editor save removed: {exc.message}",
            hint=exc.hint or "fix the problem and run the command again",
        ) from None
    trace("repair", doc, read=_sha(raw), read_mtime=mtime, written=_sha(new),
          answer=rec.get("answer", "")[:80], answer_time=rec.get("time"))
    now = time.time()
    _say(f"agent-doc: restored {rec.get('what', 'the answer')} written at "
         f"{rec.get('time_text', '?')} in {doc}: the "
         f"save of {saved} was made from a version without it (an editor's stale buffer); "
         "your lines are kept after it")
    return {
        "file": doc,
        "time": now,
        "time_text": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        "answer_time": rec.get("time_text"),
        "overwritten_sha": _sha(raw),
        "written_sha": _sha(new),
    }


def check_all(project: Project) -> list[dict[str, Any]]:
    """``status``: check every document with a record; one entry per record still kept or
    repaired now (``file``, ``since``, ``until``, ``repaired``: the repairs made so far)."""
    folder = repair_dir(project)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out: list[dict[str, Any]] = []
    for name in names:
        path = os.path.join(folder, name)
        rec = _load(path)
        if rec is None or not isinstance(rec.get("document"), str):
            continue
        doc = rec["document"]
        if record_path(project, doc) != path:
            continue
        try:
            now = check(project, doc)
        except AgentDocError as exc:
            _say(f"warning: {exc.message}")
            now = None
        after = _load(path) if os.path.exists(path) else None
        repaired = (after or rec)["repaired"] + ([now] if now and after is None else [])
        if after is None and not repaired:
            continue
        out.append({
            "file": project.rel(doc),
            "since": rec.get("time_text"),
            "until": time.strftime("%Y-%m-%dT%H:%M:%S%z",
                                   time.localtime(rec["time"] + REPAIR_WINDOW)),
            "kept": after is not None,
            "repaired": repaired,
        })
    return out
