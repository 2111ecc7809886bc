"""The append-friendly 3-way merge used when the user edited a document during an agent call.

``merge3way(base, ours, theirs)``: ``base`` is the text the agent answered (the sent text),
``ours`` is that text with the response block appended, ``theirs`` is the document as it is on
disk now. The result never drops a side and never fails (SPEC A6 step 6, Part B §4.7):

* only one side changed a region → that side;
* both sides inserted at the same point (the region of ``base`` between them is empty) → the
  agent's response first, then the user's text — the common "user typed a follow-up while the
  agent was answering" case, which plain ``git merge-file`` and ``merge3`` report as a conflict.
  If the user's insertion already *contains* the response (a pending response applied a second
  time after the document was written), the user's text alone is kept, so a response never
  appears twice;
* the user changed lines right before the point where the response was appended (the question
  just asked) → the user's lines, then the response: adjacent is not overlapping, although
  ``git merge-file`` calls it a conflict;
* the user only appended after the end of the sent text (``theirs == base + X``) → ``ours + X``;
* real overlaps → diff3 conflict markers ``<<<<<<< agent-response`` / ``||||||| original`` /
  ``=======`` / ``>>>>>>> your-edits``, counted in :attr:`MergeResult.conflicts`, any number.

Lines are aligned on their content without the line terminator, so CRLF documents, a missing
final newline and a user's editor converting line endings do not create false conflicts;
unchanged lines are taken byte-for-byte from ``theirs`` (the file on disk). A line without a
terminator that ends up followed by more text gets the document's newline.

Why ``merge3`` and a small region walk of our own: ``merge3`` (pure Python, import cost in
``bench/IMPORTS.md``, its merge time in ``bench/bench_cycle.py``'s "merge 5k lines", same
output as ``git merge-file``; ``../shared/LIBRARIES.md``)
finds the sync regions; we walk them ourselves (about 30 lines) because its
``merge_regions()`` reports unchanged regions by ``base`` index only, and we need the ``theirs``
bytes and our own conflict policy. This is the only module that imports ``merge3``. The
matcher trims the common prefix and suffix first and then runs ``difflib.SequenceMatcher``
with ``autojunk=False`` on the middle: the default ``autojunk`` treats lines such as blank lines
as junk in long documents and misaligns them (LIBRARIES.md: a one-line edit became a 10,006-line
diff), and the trimming makes the usual "appended at the end" case linear.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent_doc.record import FrozenRecord

LABEL_OURS = "agent-response"
LABEL_BASE = "original"
LABEL_THEIRS = "your-edits"

MARK_START = f"<<<<<<< {LABEL_OURS}"
MARK_BASE = f"||||||| {LABEL_BASE}"
MARK_MID = "======="
MARK_END = f">>>>>>> {LABEL_THEIRS}"


class MergeResult(FrozenRecord):
    """The merged text and how many conflict blocks it holds (immutable)."""

    text: str
    conflicts: int


def split_lines(text: str) -> list[str]:
    """Split after every ``\\n`` keeping the terminators (``str.splitlines`` would also split on
    ``\\r``, ``\\x0b``, ``\\u2028``... which are content here)."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _key(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


def newline_of(text: str) -> str:
    """The newline style of ``text``: CRLF if its first line ends with it, else LF."""
    i = text.find("\n")
    return "\r\n" if i > 0 and text[i - 1] == "\r" else "\n"


class _TrimmingMatcher:
    """``difflib.SequenceMatcher`` (``autojunk=False``) on the part between the common prefix
    and suffix; the interface ``merge3`` needs (``get_matching_blocks``)."""

    def __init__(
        self,
        isjunk: object = None,
        a: Sequence[str] = (),
        b: Sequence[str] = (),
        autojunk: bool = False,
    ) -> None:
        self.a, self.b = a, b

    def get_matching_blocks(self) -> list[tuple[int, int, int]]:
        import difflib

        a, b = self.a, self.b
        la, lb = len(a), len(b)
        pre = 0
        while pre < la and pre < lb and a[pre] == b[pre]:
            pre += 1
        suf = 0
        while suf < la - pre and suf < lb - pre and a[la - 1 - suf] == b[lb - 1 - suf]:
            suf += 1
        blocks: list[tuple[int, int, int]] = []
        if pre:
            blocks.append((0, 0, pre))
        mid_a, mid_b = a[pre : la - suf], b[pre : lb - suf]
        if mid_a and mid_b:
            sm = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
            for i, j, n in sm.get_matching_blocks():
                if n:
                    blocks.append((pre + i, pre + j, n))
        if suf:
            blocks.append((la - suf, lb - suf, suf))
        # merge adjacent blocks, as difflib guarantees for its own output
        merged: list[tuple[int, int, int]] = []
        for i, j, n in blocks:
            if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
                pi, pj, pn = merged[-1]
                merged[-1] = (pi, pj, pn + n)
            else:
                merged.append((i, j, n))
        merged.append((la, lb, 0))
        return merged


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    if n == 0:
        return True
    first = needle[0]
    for i in range(len(haystack) - n + 1):
        if haystack[i] == first and haystack[i : i + n] == needle:
            return True
    return False


def _append_text(ours: str, extra: str, base: str) -> str:
    """``ours + extra`` for the append-only case, keeping line structure readable."""
    if not extra:
        return ours
    if base and not base.endswith("\n"):
        # the newline the user typed to end the sent text's last line is already in ours
        if extra.startswith("\r\n"):
            extra = extra[2:]
        elif extra.startswith("\n"):
            extra = extra[1:]
        if not extra:
            return ours
    if ours and not ours.endswith("\n"):
        return ours + newline_of(ours) + extra
    return ours + extra


def merge3way(base: str, ours: str, theirs: str) -> MergeResult:
    """Merge ``ours`` (base + response) and ``theirs`` (the file now) against ``base``."""
    if theirs in (base, ours):
        return MergeResult(ours, 0)
    if ours == base:
        return MergeResult(theirs, 0)
    if theirs.startswith(base) and ours.startswith(base):
        ins_ours, ins_theirs = ours[len(base) :], theirs[len(base) :]
        if ins_ours and ins_ours in ins_theirs:
            return MergeResult(theirs, 0)  # the response is already there
        return MergeResult(_append_text(ours, ins_theirs, base), 0)
    return _merge_lines(base, ours, theirs)


def _merge_lines(base: str, ours: str, theirs: str) -> MergeResult:
    from merge3 import Merge3

    zl, al, bl = split_lines(base), split_lines(ours), split_lines(theirs)
    zk, ak, bk = [_key(x) for x in zl], [_key(x) for x in al], [_key(x) for x in bl]
    m = Merge3(zk, ak, bk, sequence_matcher=_TrimmingMatcher)
    nl = newline_of(theirs) if "\n" in theirs else newline_of(ours)
    out: list[str] = []
    conflicts = 0
    iz = ia = ib = 0
    for zmatch, zend, amatch, aend, bmatch, bend in m.find_sync_regions():
        if amatch > ia or bmatch > ib:
            ka, kb, kz = ak[ia:amatch], bk[ib:bmatch], zk[iz:zmatch]
            if ka in (kb, kz):
                out.extend(bl[ib:bmatch])
            elif kb == kz:
                out.extend(al[ia:amatch])
            else:
                resolved = _resolve(kz, ka, kb, al[ia:amatch], bl[ib:bmatch])
                if resolved is not None:
                    out.extend(resolved)
                else:
                    conflicts += 1
                    out.append(MARK_START + nl)
                    out.extend(al[ia:amatch])
                    out.append(MARK_BASE + nl)
                    out.extend(zl[iz:zmatch])
                    out.append(MARK_MID + nl)
                    out.extend(bl[ib:bmatch])
                    out.append(MARK_END + nl)
        if zend > zmatch:
            out.extend(bl[bmatch:bend])
        iz, ia, ib = zend, aend, bend
    return MergeResult(_join(out, nl), conflicts)


def _resolve(
    kz: list[str], ka: list[str], kb: list[str], a: list[str], b: list[str]
) -> list[str] | None:
    """Resolve a region both sides changed when no line of ``base`` is really contested.

    ``kz``/``ka``/``kb`` are the line keys of the base/ours/theirs region, ``a``/``b`` the
    lines of ours/theirs. Returns None for a real overlap (conflict markers).
    """
    n = len(kz)
    a_keeps = ka[:n] == kz  # ours = the base region + an insertion after it
    b_keeps = kb[:n] == kz
    if a_keeps and b_keeps:
        # both kept the base region and inserted after it: base, the response, the user's text
        ins_a, ins_b = ka[n:], kb[n:]
        if _contains(ins_b, ins_a):
            return b
        return b[:n] + a[n:] + b[n:]
    if a_keeps:
        # the user changed the region, the agent only added after it: user's text, response
        if _contains(kb, ka[n:]):
            return b
        return b + a[n:]
    if b_keeps:
        return a + b[n:]
    return None


def _join(lines: list[str], nl: str) -> str:
    """Concatenate lines, giving a terminator to any unterminated line that is not the last."""
    last = len(lines) - 1
    return "".join(
        line if i == last or line.endswith("\n") else line + nl for i, line in enumerate(lines)
    )


def nearest_base(save: str, seen: list[str]) -> str:
    """The version an editor most likely built ``save`` from, among ``seen`` (the texts that
    were on disk while a writer swapped its own in, the latest first): the nearest by lines
    (the fewest lines a minimal alignment leaves unmatched), the latest on a tie.

    A writer that finds an editor's save displaced by its exchange merges it in; merged
    against a version it was not made from, that version's extra lines read as the user's
    deletions. Mostly the save was made from the text it replaced (``seen[0]``), but an
    editor may have read a version an earlier round displaced and saved it, slowly and in
    place, into the next round's file (soak seed 7957: a user line lost)."""
    from agent_doc.diff import matching_runs

    keys = [_key(line) for line in split_lines(save)]
    best, best_distance = seen[0], -1
    for text in dict.fromkeys(seen):  # each distinct text once, in order
        other = [_key(line) for line in split_lines(text)]
        matched = sum(n for _i, _j, n in matching_runs(other, keys))
        distance = len(other) + len(keys) - 2 * matched
        if best_distance < 0 or distance < best_distance:
            best, best_distance = text, distance
    return best
