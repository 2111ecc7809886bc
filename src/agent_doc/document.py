"""Session documents: frontmatter parsing and surgical edits (SPEC A5, Part B §2.2).

A document has frontmatter when its first line is exactly ``---`` (LF or CRLF). The block ends
at the next line that is exactly ``---``. Known keys: ``agent_doc_session`` (legacy alias
``session``), ``resume``, ``agent``, ``model``, ``branch``, ``tmux_session``; any other key is
kept untouched.

**Never re-serialised.** Setting a key replaces or inserts exactly one line and leaves every
other byte (unknown keys, comments, quoting, key order, line endings) as it was, so parse then
write is byte-identical and no blank lines pile up.

**Parsing cost.** The common frontmatter (``key: value`` lines and comments) is read by a small
line scanner; anything else (block scalars, lists, flow style, escapes) goes to PyYAML's safe
loader. Importing PyYAML (``bench/IMPORTS.md``) would double the start-up of hotkey commands such
as ``route`` and ``claim`` that only need the session UUID; the scanner accepts only lines whose
YAML meaning is unambiguous and hands everything else to PyYAML.

Parse rules (SPEC A5, Part B §2.2 with its recommendations taken):

* the block opens with a first line that is exactly ``---`` (LF or CRLF) and closes at the next
  line that is exactly ``---`` (``---\n---\n`` is an empty block; a ``----`` rule does not
  close it); the body starts after the closing line's newline, so nothing piles up;
* no closing line → :class:`FrontmatterError` "FILE:1: unterminated frontmatter";
* every scalar is read as a **string** (``agent: yes`` is ``"yes"``, ``model: 4`` is ``"4"``);
  an empty value, ``~`` and ``null`` mean unset; a quoted ``""`` is set to the empty string;
* a key given twice, or both ``agent_doc_session`` and the legacy ``session`` set, is an error
  naming both lines; known keys must be single values.

Malformed frontmatter raises :class:`FrontmatterError` naming the file and line; callers never
write a document they could not parse.
"""

from __future__ import annotations

import os

from agent_doc.errors import FrontmatterError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from re import Pattern

KNOWN_KEYS = ("agent_doc_session", "resume", "agent", "model", "branch", "tmux_session")
SESSION_KEY = "agent_doc_session"
LEGACY_SESSION_KEY = "session"

#: ``key: value`` lines, as this pattern reads them; matched by hand (:func:`_key_line`, tested
#: against the pattern) so that reading a document needs no ``re`` (start-up time with ``enum``,
#: bench/IMPORTS.md, paid by every hotkey command)
_KEY_LINE_PATTERN = r"^([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]+(.*?)|)[ \t]*$"
_KEY_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_KEY_CHARS = _KEY_START | frozenset("0123456789.-")


def _key_end(line: str) -> int:
    """Offset of the ``:`` ending a ``key:`` at the start of ``line`` (spaces or tabs may come
    before it); -1 when the line does not start that way.

    The pattern: ``^([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:`` (ASCII letters only)."""
    if not line or line[0] not in _KEY_START:
        return -1
    i, n = 1, len(line)
    while i < n and line[i] in _KEY_CHARS:
        i += 1
    while i < n and line[i] in " \t":
        i += 1
    return i if i < n and line[i] == ":" else -1


def _any_key(line: str) -> str | None:
    """The key of a line that starts with ``key:`` (any value after it), else None."""
    end = _key_end(line)
    if end < 0:
        return None
    return line[:end].rstrip(" \t")


def _key_line(line: str) -> tuple[str, str | None] | None:
    """``(key, value)`` of a whole ``key: value`` line as :data:`_KEY_LINE_PATTERN` matches it
    (value None for ``key:`` with nothing after the colon, ``""`` for only blanks); None when
    the pattern would not match."""
    if "\n" in line:  # `$` may match before a final newline: leave such lines to the pattern
        import re

        m = re.match(_KEY_LINE_PATTERN, line)
        return None if m is None else (m.group(1), m.group(2))
    end = _key_end(line)
    if end < 0:
        return None
    key = line[:end].rstrip(" \t")
    rest = line[end + 1 :]
    if not rest:
        return key, None
    if rest[0] not in " \t":
        return None
    return key, rest.strip(" \t")
_NULLS = {"", "~", "null", "Null", "NULL"}
_PLAIN_BAD_START = set("'\"[]{}&*!|>%@`#,?:-")
#: plain scalars some YAML reader would not read as a string (numbers in every base, base-60,
#: floats, .inf/.nan, YAML 1.1 booleans, null, dates): quoted by :func:`yaml_scalar`
_YAMLISH_PATTERN = (
    r"^(?:[-+]?\d[\d_]*(?:\.[\d_]*)?(?:e[-+]?\d+)?|[-+]?\.\d[\d_]*(?:e[-+]?\d+)?|"
    r"[-+]?0x[0-9a-f_]+|[-+]?0o[0-7_]+|[-+]?0b[01_]+|[-+]?\d[\d_]*(?::[0-5]?\d)+(?:\.[\d_]*)?|"
    r"[-+]?\.inf|\.nan|y|n|yes|no|true|false|on|off|~|null|\d{4}-\d\d?-\d\d?.*)$"
)
_compiled: dict[str, Pattern[str]] = {}


#: every value the pattern matches starts with one of these (a sign, a digit, a dot, ~)...
_YAMLISH_START = frozenset("+-0123456789.~")
#: ...or is one of these words (any case), or PyYAML's "value" (``=``) and "merge" (``<<``) keys
_YAMLISH_WORDS = frozenset(
    ("y", "n", "yes", "no", "true", "false", "on", "off", "null", "=", "<<")
)


_HEX = frozenset("0123456789abcdefABCDEF")


def _is_uuid(value: str) -> bool:
    """``8-4-4-4-12`` hex digits: the shape of every session id we write."""
    return (
        len(value) == 36
        and value[8] == value[13] == value[18] == value[23] == "-"
        and _HEX.issuperset(value.replace("-", ""))
    )


def _yamlish(value: str) -> bool:
    """Whether a plain scalar would read as something else than a string.

    The pattern is start-up cost (``re``: bench/IMPORTS.md; its compile too): it is compiled
    on first use, and only for values that
    start like a number (the word forms are a set lookup), so a typical session id or agent
    name never needs it."""
    if not value:
        return False
    if value[0] not in _YAMLISH_START:
        return value.lower() in _YAMLISH_WORDS
    if _is_uuid(value):  # session ids and claude's resume ids: never a number or a date
        return False
    rx = _compiled.get("yamlish")
    if rx is None:
        import re

        rx = _compiled["yamlish"] = re.compile(_YAMLISH_PATTERN, re.IGNORECASE)
    return rx.match(value) is not None


class Document:
    """A parsed document. ``text`` is kept verbatim; offsets point into it.

    (A plain class: ``dataclasses`` costs start-up time on every hotkey command.)
    """

    __slots__ = (
        "body_start", "fields", "has_frontmatter", "newline", "path", "text", "yaml_end",
        "yaml_start",
    )

    def __init__(
        self,
        text: str,
        path: str | None = None,
        has_frontmatter: bool = False,
        newline: str = "\n",
        yaml_start: int = 0,
        yaml_end: int = 0,
        body_start: int = 0,
        fields: dict[str, object] | None = None,
    ) -> None:
        self.text = text
        self.path = path
        self.has_frontmatter = has_frontmatter
        self.newline = newline
        #: offset of the first character of the YAML text (after the opening line)
        self.yaml_start = yaml_start
        #: offset of the start of the closing ``---`` line
        self.yaml_end = yaml_end
        #: offset just past the closing line (and its newline): where the body starts
        self.body_start = body_start
        self.fields: dict[str, object] = {} if fields is None else fields

    def __repr__(self) -> str:
        return (
            f"Document(path={self.path!r}, has_frontmatter={self.has_frontmatter}, "
            f"fields={self.fields!r}, body_start={self.body_start})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Document) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__
        )

    __hash__ = None  # type: ignore[assignment]

    # -- field access -------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        v = self.fields.get(key)
        if v is None:
            return None
        return v if isinstance(v, str) else str(v)

    @property
    def session(self) -> str | None:
        v = self.get(SESSION_KEY)
        return v if v is not None else self.get(LEGACY_SESSION_KEY)

    @property
    def resume(self) -> str | None:
        return self.get("resume")

    @property
    def agent(self) -> str | None:
        return self.get("agent")

    @property
    def model(self) -> str | None:
        return self.get("model")

    @property
    def tmux_session(self) -> str | None:
        return self.get("tmux_session")

    @property
    def body(self) -> str:
        return self.text[self.body_start :]

    @property
    def yaml_text(self) -> str:
        return self.text[self.yaml_start : self.yaml_end] if self.has_frontmatter else ""



def _where(path: str | None) -> str:
    return path if path else "<document>"


def _scan_simple(lines: list[str]) -> dict[str, object] | None:
    """Parse ``key: value`` lines; None when a line needs a real YAML parser."""
    out: dict[str, object] = {}
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
            return None
        kv = _key_line(line)
        if kv is None:
            return None
        key, raw = kv[0], (kv[1] or "")
        if key in out:
            return None  # let YAML (and our duplicate check) decide
        if raw in _NULLS:
            out[key] = None
        elif raw[0] == '"':
            if len(raw) < 2 or not raw.endswith('"') or "\\" in raw or '"' in raw[1:-1]:
                return None
            out[key] = raw[1:-1]
        elif raw[0] == "'":
            if len(raw) < 2 or not raw.endswith("'") or "'" in raw[1:-1]:
                return None
            out[key] = raw[1:-1]
        else:
            if raw[0] in _PLAIN_BAD_START or " #" in raw or ": " in raw or raw.endswith(":"):
                return None
            if "\t" in raw:
                return None
            out[key] = raw
    return out


_STR_LOADER: type | None = None


def _string_loader() -> type:
    """PyYAML's safe loader with every implicit type but null removed: scalars stay strings,
    exactly as the line scanner reads them (so the result never depends on which one ran)."""
    global _STR_LOADER
    if _STR_LOADER is None:
        import yaml  # deferred: only for frontmatter the scanner does not handle

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        null = "tag:yaml.org,2002:null"
        _STR_LOADER = type(
            "_StringLoader",
            (base,),
            {
                "yaml_implicit_resolvers": {
                    ch: [(tag, rx) for tag, rx in rs if tag == null]
                    for ch, rs in base.yaml_implicit_resolvers.items()
                }
            },
        )
    return _STR_LOADER


def _key_line_no(lines: list[str], key: str, first_line: int) -> int:
    """File line number (1-based) of ``key``'s line in the YAML ``lines``; else the block's."""
    for i, line in enumerate(lines):
        kv = _key_line(line) if line and line[0] not in " \t#" else None
        found = kv[0] if kv is not None else _any_key(line)
        if found == key:
            return first_line + i
    return first_line


def _yaml_parse(
    yaml_text: str, path: str | None, first_line: int, lines: list[str] | None = None
) -> dict[str, object]:
    import yaml  # deferred: only for frontmatter the scanner does not handle

    loader = _string_loader()
    try:
        data = yaml.load(yaml_text, Loader=loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FrontmatterError(
            f"{_where(path)}:{line}: malformed frontmatter: {problem}",
            hint="fix the YAML between the two '---' lines; the document was not changed",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FrontmatterError(
            f"{_where(path)}:{first_line}: frontmatter must be a mapping of 'key: value' lines",
            hint="fix the YAML between the two '---' lines; the document was not changed",
        )
    for key in (*KNOWN_KEYS, LEGACY_SESSION_KEY):
        v = data.get(key)
        if isinstance(v, (dict, list)):
            line = _key_line_no(lines or [], key, first_line)
            raise FrontmatterError(
                f"{_where(path)}:{line}: frontmatter key '{key}' must be a single value, not a "
                f"{'mapping' if isinstance(v, dict) else 'list'}",
                hint="write it as 'key: value' on one line; the document was not changed",
            )
    return {str(k): v for k, v in data.items()}


def parse(text: str, path: str | os.PathLike[str] | None = None) -> Document:
    """Parse ``text``. Raises :class:`FrontmatterError` for malformed frontmatter."""
    p = os.fspath(path) if path is not None else None
    if text.startswith("---\n"):
        nl, open_len = "\n", 4
    elif text.startswith("---\r\n"):
        nl, open_len = "\r\n", 5
    else:
        return Document(text=text, path=p)
    # find the closing line: exactly '---' (optionally followed by \r) on its own line
    pos = open_len
    close_start = -1
    body_start = -1
    while pos <= len(text):
        end = text.find("\n", pos)
        line = text[pos:] if end == -1 else text[pos:end]
        if line.rstrip("\r") == "---":
            close_start = pos
            body_start = len(text) if end == -1 else end + 1
            break
        if end == -1:
            break
        pos = end + 1
    if close_start < 0:
        raise FrontmatterError(
            f"{_where(p)}:1: unterminated frontmatter: the opening '---' has no closing '---' line",
            hint="add a line containing only '---' after the frontmatter keys",
        )
    yaml_text = text[open_len:close_start]
    lines = [ln.rstrip("\r") for ln in yaml_text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    fields = _scan_simple(lines)
    if fields is None:
        _check_duplicates(lines, p)
        fields = _yaml_parse(yaml_text.replace("\r\n", "\n"), p, 2, lines)
    if "\x00" in yaml_text:
        _nul_error(yaml_text, p)
    for key, value in fields.items():
        if isinstance(value, str) and "\x00" in value:  # a "\0" escape in a quoted value
            raise FrontmatterError(
                f"{_where(p)}:{_key_line_no(lines, key, 2)}: frontmatter '{key}' contains a NUL "
                "character (\\0); frontmatter values are text and cannot hold one",
                hint=f"remove the \\0 from '{key}'; the document was not changed",
            )
    if fields.get(SESSION_KEY) is not None and fields.get(LEGACY_SESSION_KEY) is not None:
        a = _key_line_no(lines, SESSION_KEY, 2)
        b = _key_line_no(lines, LEGACY_SESSION_KEY, 2)
        raise FrontmatterError(
            f"{_where(p)}:{max(a, b)}: frontmatter has both 'agent_doc_session' (line {a}) "
            f"and the legacy 'session' key (line {b})",
            hint="keep only 'agent_doc_session' (the same value) and delete the other line; "
            "the document was not changed",
        )
    return Document(
        text=text,
        path=p,
        has_frontmatter=True,
        newline=nl,
        yaml_start=open_len,
        yaml_end=close_start,
        body_start=body_start,
        fields=fields,
    )


def _nul_error(yaml_text: str, path: str | None) -> None:
    line = yaml_text.count("\n", 0, yaml_text.index("\x00")) + 2
    raise FrontmatterError(
        f"{_where(path)}:{line}: the frontmatter contains a NUL byte (a binary file, or a "
        "corrupted save?)",
        hint="delete the NUL byte from that line (e.g. `tr -d '\\000'`); the document was not "
        "changed",
    )


def _check_duplicates(lines: list[str], path: str | None) -> None:
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        kv = _key_line(line) if line and line[0] not in " \t#" else None
        if kv is None:
            continue
        key = kv[0]
        if key in seen:
            raise FrontmatterError(
                f"{_where(path)}:{i + 2}: duplicate frontmatter key '{key}' "
                f"(first on line {seen[key] + 2})",
                hint="delete one of the two lines; the document was not changed",
            )
        seen[key] = i


# -- surgical edits -----------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _double_quoted(value: str) -> str:
    """A YAML double-quoted scalar; every non-printable character is escaped, including the
    YAML line breaks U+0085/U+2028/U+2029 that a JSON encoder would leave raw."""
    out = ['"']
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() and ch not in "\x85\u2028\u2029":
            out.append(ch)
        else:
            cp = ord(ch)
            out.append(f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000
                       else f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def yaml_scalar(value: str) -> str:
    """Render ``value`` as a YAML scalar that reads back as exactly this string.

    Plain when that is unambiguous for any YAML reader (PyYAML's 1.1 types and the Rust
    reference's serde_yaml alike: no value that looks like a number, bool, null, date or
    base-60 int), double-quoted otherwise.
    """
    if (
        value
        and value[0] not in _PLAIN_BAD_START
        and value == value.strip()
        and " #" not in value
        and ": " not in value
        and not value.endswith(":")
        and value not in _NULLS
        and not _yamlish(value)
        and all(c.isprintable() for c in value)
    ):
        return value
    return _double_quoted(value)


def _line_at(text: str, pos: int, limit: int) -> tuple[int, str]:
    """The line starting at ``pos``: (offset past its newline, its text without newline)."""
    end = text.find("\n", pos, limit)
    line_end = limit if end == -1 else end + 1
    return line_end, text[pos:line_end].rstrip("\r\n")


def _key_line_span(doc: Document, key: str) -> tuple[int, int] | None:
    """Offsets (start, end-including-newline) of the line(s) defining top-level ``key``.

    A multi-line value (block scalar, indented list or mapping, folded plain scalar) owns the
    indented lines that follow it, including blank lines between them.
    """
    pos = doc.yaml_start
    while pos < doc.yaml_end:
        line_end, line = _line_at(doc.text, pos, doc.yaml_end)
        if line and line[0] not in " \t#" and _any_key(line) == key:
            stop = line_end
            scan = line_end
            while scan < doc.yaml_end:
                nxt_end, nxt = _line_at(doc.text, scan, doc.yaml_end)
                if not nxt.strip():
                    scan = nxt_end  # blank: belongs to the value only if more follows
                    continue
                if nxt[:1] in (" ", "\t"):
                    stop = scan = nxt_end
                    continue
                break
            return pos, stop
        pos = line_end
    return None


def _trailing_comment(line: str) -> str:
    """The `` # comment`` at the end of a one-line ``key: value`` (with its leading blanks)."""
    colon = line.find(":")
    rest = line[colon + 1 :]
    body = rest.lstrip(" \t")
    lead = len(rest) - len(body)
    if body.startswith("#"):
        return rest if lead else ""
    i = 0
    if body[:1] == '"':
        i = 1
        while i < len(body) and body[i] != '"':
            i += 2 if body[i] == "\\" else 1
        i += 1
    elif body[:1] == "'":
        i = 1
        while i < len(body):
            if body[i] == "'":
                if body[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                break
            i += 1
        i += 1
    import re  # deferred: only edits need it, reading a document does not

    m = re.search(r"[ \t]+#.*$", body[i:])
    return body[i:][m.start() :] if m else ""


def set_field(text: str, key: str, value: str | None, path: str | None = None) -> str:
    """Return ``text`` with frontmatter ``key`` set to ``value`` (None removes it).

    Only the key's own line changes (a trailing ``# comment`` on it is kept; its line ending
    is kept); a new key is inserted just above the closing ``---``; a document without
    frontmatter gains a block with this one key. Setting ``agent_doc_session`` replaces a
    legacy ``session`` line (and removes it if both exist); removing it removes both.
    Raises :class:`FrontmatterError` for malformed frontmatter (nothing to write then).
    """
    doc = parse(text, path)
    if not doc.has_frontmatter:
        if value is None:
            return text
        first_nl = text.find("\n")
        nl = "\r\n" if first_nl > 0 and text[first_nl - 1] == "\r" else "\n"
        return f"---{nl}{key}: {yaml_scalar(value)}{nl}---{nl}{text}"
    span = _key_line_span(doc, key)
    legacy = _key_line_span(doc, LEGACY_SESSION_KEY) if key == SESSION_KEY else None
    if span is None and legacy is not None:
        span, legacy = legacy, None
    if legacy is not None:  # both lines present: drop the legacy one, then edit the other
        text = text[: legacy[0]] + text[legacy[1] :]
        if legacy[0] < span[0]:  # type: ignore[index]
            shift = legacy[1] - legacy[0]
            span = (span[0] - shift, span[1] - shift)  # type: ignore[index]
        doc = parse(text, path)
    if value is None:
        if span is None:
            return text
        return text[: span[0]] + text[span[1] :]
    if span is not None:
        old = text[span[0] : span[1]]
        first_end = old.find("\n")
        one_line = first_end == -1 or first_end == len(old) - 1
        ending = "\r\n" if old.endswith("\r\n") else "\n" if old.endswith("\n") else ""
        comment = _trailing_comment(old.rstrip("\r\n")) if one_line else ""
        if not one_line:
            ending = "\r\n" if old[:first_end].endswith("\r") else "\n"
        new_line = f"{key}: {yaml_scalar(value)}{comment}{ending}"
        return text[: span[0]] + new_line + text[span[1] :]
    # insert just before the closing '---' line
    nl = doc.newline
    insert_at = doc.yaml_end
    prefix = nl if insert_at > doc.yaml_start and text[insert_at - 1] != "\n" else ""
    return text[:insert_at] + prefix + f"{key}: {yaml_scalar(value)}{nl}" + text[insert_at:]


def new_session_id() -> str:
    """A random UUID4, lowercase hyphenated (36 characters).

    Built from ``os.urandom`` as RFC 4122 §4.4 describes; importing ``uuid`` costs start-up
    time (``bench/IMPORTS.md``), paid by `route`/`claim` on a document's first use.
    """
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ensure_session(text: str, path: str | None = None) -> tuple[str, str, bool]:
    """Return ``(text, session_uuid, changed)``; a UUID4 is added when no session is set."""
    doc = parse(text, path)
    if doc.session is not None:
        return text, doc.session, False
    sid = new_session_id()
    return set_field(text, SESSION_KEY, sid, path), sid, True


def read_document_bytes(path: str | os.PathLike[str]) -> bytes:
    """The document's bytes, read once no process has it open for writing.

    An editor saving in place (truncate, then write) is waited out, so we never take a
    half-saved file for the document (see :func:`safefile.read_settled`). Only a regular file
    (after the document's own symlink) is a document: a FIFO, socket or device is refused
    before anything could block on it.
    """
    from agent_doc.errors import AgentDocError, FileNotFound
    from safefile import BusyError, NotRegularFileError, read_settled

    try:
        return read_settled(path)
    except BusyError as exc:
        raise AgentDocError(
            exc.strerror or str(exc),
            hint="nothing was changed; let the other program finish saving, then run the "
            "command again",
        ) from None
    except FileNotFoundError:
        raise FileNotFound(path) from None
    except IsADirectoryError:
        raise AgentDocError(
            f"{path} is a folder, not a document",
            hint="give the path of a Markdown file inside it",
        ) from None
    except NotRegularFileError as exc:  # a FIFO, socket or device: refused before any read
        raise AgentDocError(exc.message, hint=exc.hint) from None
    except PermissionError:
        raise AgentDocError(
            f"cannot read {path}: permission denied", hint="check the file's permissions"
        ) from None


def decode_document(raw: bytes, path: str | os.PathLike[str]) -> str:
    """Strict UTF-8 decoding with an error that names the file, line and byte."""
    from agent_doc.errors import AgentDocError

    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise AgentDocError(
            f"{os.fspath(path)}: not valid UTF-8 (line {line}, byte {exc.start})",
            hint="agent-doc only edits UTF-8 text — convert the file (e.g. with iconv) and retry",
        ) from None


def read_document(path: str | os.PathLike[str]) -> Document:
    """Read and parse a document file (strict UTF-8, waiting out an in-place save)."""
    return parse(decode_document(read_document_bytes(path), path), path)


def replace_document(
    path: str | os.PathLike[str], expected: bytes, new_text: str, *, max_tries: int = 50,
    merged_saves: list[bytes] | None = None,
) -> bytes:
    """Write ``new_text`` over a document that held ``expected`` when we read it.

    The caller holds the document lock, but editors don't take it: a save can land between our
    read and our write. The new file goes in by atomic exchange
    (:func:`safefile.exchange_write`); if what it displaced is not ``expected``, that save is
    merged in (3-way: base = what we replaced, ours = what we wrote, theirs = the save) and
    written again, so neither side is ever lost. Returns the bytes left on disk;
    ``merged_saves``, if given, gets each save merged in (for :mod:`agent_doc.repair`).
    """
    from agent_doc.errors import AgentDocError
    from safefile import atomic_write, exchange_write, read_settled

    new = new_text.encode("utf-8")
    base = expected
    seen = [expected]  # what was on disk meanwhile, the latest first (what an editor read)
    for _ in range(max_tries):
        if new == base:
            return new
        try:
            displaced = exchange_write(path, new)
        except FileNotFoundError:
            raise AgentDocError(
                f"{path} was deleted while agent-doc was updating it",
                hint="restore the file and run the command again",
            ) from None
        except OSError as exc:
            raise AgentDocError(
                str(exc) if os.fspath(path) in str(exc) else f"cannot write {path}: {exc}",
                hint="check that the file and its folder are writable",
            ) from None
        if displaced is None:  # no atomic exchange here: check, then replace (small window)
            now = read_settled(path)
            if now != base:
                new = _merge_bytes(base, new, now, path)
                base = now
                seen.insert(0, now)
                if merged_saves is not None:
                    merged_saves.append(now)
                continue
            try:
                atomic_write(path, new)
            except OSError as exc:
                raise AgentDocError(f"cannot write {path}: {exc}") from None
            return new
        if displaced == base:
            return new
        # a save landed between our read and the exchange: our text is on disk without it
        # merged against the version that save was made from: mostly what it replaced
        # (`base`), but an editor may have read a version an earlier round displaced
        merged = _merge_bytes(_nearest_base(displaced, seen, path), new, displaced, path)
        seen[:0] = [new, displaced]
        base, new = new, merged
        if merged_saves is not None:
            merged_saves.append(displaced)
    raise AgentDocError(
        f"{path} kept changing while agent-doc was updating it ({max_tries} tries)",
        hint="let the editor finish saving and run the command again",
    )


def _nearest_base(save: bytes, seen: list[bytes], path: str | os.PathLike[str]) -> bytes:
    from agent_doc.merge import nearest_base

    texts = [decode_document(b, path) for b in seen]
    return seen[texts.index(nearest_base(decode_document(save, path), texts))]


def _merge_bytes(base: bytes, ours: bytes, theirs: bytes, path: str | os.PathLike[str]) -> bytes:
    from agent_doc.merge import merge3way

    result = merge3way(
        decode_document(base, path), decode_document(ours, path), decode_document(theirs, path)
    )
    if result.conflicts:
        import sys

        sys.stderr.write(
            f"WARNING: {path} was saved while agent-doc was updating it and both changed the "
            f"same lines: {result.conflicts} conflict(s) marked in the file (<<<<<<<).\n"
        )
    return result.text.encode("utf-8")


def edit_document(
    path: str | os.PathLike[str], change: Callable[[str], str], *, project: object = None
) -> tuple[str, str]:
    """Read-modify-write ``path`` under its document lock. Returns ``(old, new)`` text.

    ``change`` gets the current text and returns the new one; nothing is written if it is
    unchanged. ``change`` may raise to abort without writing. A document whose frontmatter
    does not parse is never written (:class:`FrontmatterError`).
    """
    from agent_doc.project import Project
    from safefile import FileLock

    proj = project if isinstance(project, Project) else Project.for_document(path)
    with FileLock(
        proj.doc_lock_path(path), what=f"document {os.fspath(path)}", state_root=proj.root
    ):
        raw = read_document_bytes(path)
        old = decode_document(raw, path)
        parse(old, path)  # never write a document whose frontmatter does not parse
        new = change(old)
        if new != old:
            replace_document(path, raw, new)
        else:
            # a writer killed after its exchange leaves the displaced old text in a temp file;
            # writes clean those up, and so does an edit that turned out to need no write
            from safefile import clean_stale_temps

            clean_stale_temps(os.path.realpath(path))
    return old, new


def ensure_session_file(path: str | os.PathLike[str]) -> tuple[str, bool]:
    """Make sure the document on disk has a session UUID (under the document lock).

    Returns ``(uuid, generated)``. Concurrent callers agree on one UUID (fixes C8): the check
    and the write happen under the same lock.
    """
    sid, generated, _changed = ensure_session_fields(path)
    return sid, generated


def ensure_session_fields(
    path: str | os.PathLike[str], *, tmux_session: str | None = None
) -> tuple[str, bool, bool]:
    """Give the document a session UUID if it has none and, when ``tmux_session`` is given,
    set that field if it differs — in ONE write under the document lock (``claim`` used to
    write twice). Returns ``(uuid, generated, tmux_session_changed)``.

    Nothing is written, and no lock taken, when everything is already right; the check is
    repeated under the lock, so concurrent callers agree on one UUID (C8).
    """
    doc = read_document(path)
    if doc.session is not None and tmux_session in (None, doc.tmux_session):
        return doc.session, False, False
    name = os.fspath(path)
    result: dict[str, object] = {}

    def change(text: str) -> str:
        text, sid, generated = ensure_session(text, name)
        result["sid"], result["generated"], result["changed"] = sid, generated, False
        if tmux_session is not None and parse(text, name).tmux_session != tmux_session:
            text = set_field(text, "tmux_session", tmux_session, name)
            result["changed"] = True
        return text

    edit_document(path, change)
    return str(result["sid"]), bool(result["generated"]), bool(result["changed"])
