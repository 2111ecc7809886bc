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
loader. Importing PyYAML costs ~30 ms, which would double the start-up of hotkey commands such
as ``route`` and ``claim`` that only need the session UUID; the scanner accepts only lines whose
YAML meaning is unambiguous and hands everything else to PyYAML.

Malformed frontmatter raises :class:`FrontmatterError` naming the file and line; callers never
write a document they could not parse.
"""

from __future__ import annotations

import json
import os
import re
import uuid as _uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from agent_doc.errors import FrontmatterError

KNOWN_KEYS = ("agent_doc_session", "resume", "agent", "model", "branch", "tmux_session")
SESSION_KEY = "agent_doc_session"
LEGACY_SESSION_KEY = "session"

_KEY_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]+(.*?)|)[ \t]*$")
_NULLS = {"", "~", "null", "Null", "NULL"}
_PLAIN_BAD_START = set("'\"[]{}&*!|>%@`#,?:-")
_YAMLISH = re.compile(
    r"^(?:[-+]?(?:\d[\d_]*)(?:\.\d*)?(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|"
    r"\.inf|\.nan|[-+]\.inf|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|"
    r"on|On|ON|off|Off|OFF|~|null|Null|NULL|\d{4}-\d\d?-\d\d?.*)$"
)


@dataclass
class Document:
    """A parsed document. ``text`` is kept verbatim; offsets point into it."""

    text: str
    path: str | None = None
    has_frontmatter: bool = False
    newline: str = "\n"
    #: offset of the first character of the YAML text (after the opening line)
    yaml_start: int = 0
    #: offset of the start of the closing ``---`` line
    yaml_end: int = 0
    #: offset just past the closing line (and its newline): where the body starts
    body_start: int = 0
    fields: dict[str, object] = field(default_factory=dict)

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

    @property
    def body_first_line(self) -> int:
        """1-based line number (in the file) where the body starts."""
        return self.text.count("\n", 0, self.body_start) + 1


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
        m = _KEY_LINE.match(line)
        if not m:
            return None
        key, raw = m.group(1), (m.group(2) or "")
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


def _yaml_parse(yaml_text: str, path: str | None, first_line: int) -> dict[str, object]:
    import yaml  # deferred: ~30 ms, only for frontmatter the scanner does not handle

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(yaml_text, Loader=loader)  # noqa: S506 - safe loader
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
    for key in KNOWN_KEYS + (LEGACY_SESSION_KEY,):
        v = data.get(key)
        if isinstance(v, (dict, list)):
            raise FrontmatterError(
                f"{_where(path)}: frontmatter key '{key}' must be a single value, not a "
                f"{'mapping' if isinstance(v, dict) else 'list'}",
                hint="write it as 'key: value' on one line",
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
        fields = _yaml_parse(yaml_text.replace("\r\n", "\n"), p, 2)
        _check_duplicates(lines, p)
    if SESSION_KEY in fields and LEGACY_SESSION_KEY in fields:
        if fields[SESSION_KEY] is not None and fields[LEGACY_SESSION_KEY] is not None:
            raise FrontmatterError(
                f"{_where(p)}: frontmatter has both 'agent_doc_session' and the legacy "
                f"'session' key",
                hint="keep only 'agent_doc_session' (the same value) and delete the other line",
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


def _check_duplicates(lines: list[str], path: str | None) -> None:
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        m = _KEY_LINE.match(line) if line and line[0] not in " \t#" else None
        if not m:
            continue
        key = m.group(1)
        if key in seen:
            raise FrontmatterError(
                f"{_where(path)}:{i + 2}: duplicate frontmatter key '{key}' "
                f"(first on line {seen[key] + 2})",
                hint="delete one of the two lines",
            )
        seen[key] = i


# -- surgical edits -----------------------------------------------------------------------------


def yaml_scalar(value: str) -> str:
    """Render ``value`` as a YAML scalar that reads back as exactly this string."""
    if (
        value
        and value[0] not in _PLAIN_BAD_START
        and value == value.strip()
        and " #" not in value
        and ": " not in value
        and not value.endswith(":")
        and value not in _NULLS
        and not _YAMLISH.match(value)
        and all(c.isprintable() and c != "\t" for c in value)
    ):
        return value
    return json.dumps(value, ensure_ascii=False)


def _key_line_span(doc: Document, key: str) -> tuple[int, int] | None:
    """Offsets (start, end-including-newline) of the line(s) defining ``key``."""
    pos = doc.yaml_start
    while pos < doc.yaml_end:
        end = doc.text.find("\n", pos, doc.yaml_end)
        line_end = doc.yaml_end if end == -1 else end + 1
        line = doc.text[pos:line_end].rstrip("\r\n")
        m = _KEY_LINE.match(line) if line and line[0] not in " \t#" else None
        if m is None and line.startswith(key):
            # "key:" followed by a block/flow value the simple pattern does not match
            m2 = re.match(rf"^{re.escape(key)}[ \t]*:", line)
            if m2:
                m = m2
        if m is not None and m.group(0).split(":", 1)[0].strip() == key:
            stop = line_end
            # continuation lines of a multi-line value are indented
            while stop < doc.yaml_end:
                nxt_end = doc.text.find("\n", stop, doc.yaml_end)
                nxt_stop = doc.yaml_end if nxt_end == -1 else nxt_end + 1
                nxt = doc.text[stop:nxt_stop]
                if nxt[:1] in (" ", "\t") and nxt.strip():
                    stop = nxt_stop
                else:
                    break
            return pos, stop
        pos = line_end
    return None


def set_field(text: str, key: str, value: str | None, path: str | None = None) -> str:
    """Return ``text`` with frontmatter ``key`` set to ``value`` (None removes it).

    Only the key's own line changes; a document without frontmatter gains a block with this
    one key. Setting ``agent_doc_session`` replaces a legacy ``session`` line.
    """
    doc = parse(text, path)
    if not doc.has_frontmatter:
        if value is None:
            return text
        nl = "\r\n" if text.find("\n") > 0 and text[text.find("\n") - 1] == "\r" else "\n"
        return f"---{nl}{key}: {yaml_scalar(value)}{nl}---{nl}{text}"
    nl = doc.newline
    span = _key_line_span(doc, key)
    if span is None and key == SESSION_KEY:
        span = _key_line_span(doc, LEGACY_SESSION_KEY)
    if value is None:
        if span is None:
            return text
        return text[: span[0]] + text[span[1] :]
    new_line = f"{key}: {yaml_scalar(value)}{nl}"
    if span is not None:
        return text[: span[0]] + new_line + text[span[1] :]
    # insert just before the closing '---' line
    insert_at = doc.yaml_end
    prefix = ""
    if insert_at > doc.yaml_start and text[insert_at - 1] != "\n":
        prefix = nl
    return text[:insert_at] + prefix + new_line + text[insert_at:]


def new_session_id() -> str:
    return str(_uuid.uuid4())


def ensure_session(text: str, path: str | None = None) -> tuple[str, str, bool]:
    """Return ``(text, session_uuid, changed)``; a UUID4 is added when no session is set."""
    doc = parse(text, path)
    if doc.session is not None:
        return text, doc.session, False
    sid = new_session_id()
    return set_field(text, SESSION_KEY, sid, path), sid, True


def read_document(path: str | os.PathLike[str]) -> Document:
    """Read and parse a document file (strict UTF-8)."""
    from safefile import DecodeError, read_text

    from agent_doc.errors import AgentDocError, FileNotFound

    try:
        text = read_text(path)
    except FileNotFoundError:
        raise FileNotFound(path) from None
    except IsADirectoryError:
        raise AgentDocError(f"{path} is a folder, not a document") from None
    except DecodeError as exc:
        raise AgentDocError(str(exc)) from None
    except PermissionError:
        raise AgentDocError(
            f"cannot read {path}: permission denied", hint="check the file's permissions"
        ) from None
    return parse(text, path)


def edit_document(
    path: str | os.PathLike[str], change: Callable[[str], str], *, project: object = None
) -> tuple[str, str]:
    """Read-modify-write ``path`` under its document lock. Returns ``(old, new)`` text.

    ``change`` gets the current text and returns the new one; nothing is written if it is
    unchanged. ``change`` may raise to abort without writing.
    """
    from safefile import FileLock, atomic_write

    from agent_doc.project import Project

    proj = project if isinstance(project, Project) else Project.for_document(path)
    with FileLock(proj.doc_lock_path(path), what=f"document {os.fspath(path)}"):
        old = read_document(path).text
        new = change(old)
        if new != old:
            atomic_write(path, new)
    return old, new


def ensure_session_file(path: str | os.PathLike[str]) -> tuple[str, bool]:
    """Make sure the document on disk has a session UUID (under the document lock).

    Returns ``(uuid, generated)``. Concurrent callers agree on one UUID (fixes C8): the check
    and the write happen under the same lock.
    """
    doc = read_document(path)
    if doc.session is not None:
        return doc.session, False
    result: dict[str, object] = {}

    def change(text: str) -> str:
        new, sid, changed = ensure_session(text, os.fspath(path))
        result["sid"], result["changed"] = sid, changed
        return new

    edit_document(path, change)
    return str(result["sid"]), bool(result["changed"])
