"""Documents on disk for tests: :func:`make_doc` writes one, in whichever shape a test needs.

A document is an optional front matter and a text::

    ---
    {before}agent_doc_session: {id}
    agent: {agent}            (only when AGENT is given)
    {extra}---
                              (a blank line when BLANK)
    {title}{body}

Test files bind the options they always use once, e.g.
``make_doc = partial(helpers.docs.make_doc, agent="claude", blank=True, title=CONVERSATION)``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

#: the title and first user heading of a conversation document (``## User`` then the question)
CONVERSATION = "# Session: Test\n\n## User\n\n"


def make_doc(
    folder: Path,
    name: str = "doc.md",
    *,
    text: str | None = None,
    newline: str = "\n",
    mode: int | None = None,
    session: str | bool | None = "auto",
    before: str = "",
    agent: str | None = None,
    extra: str = "",
    blank: bool = False,
    title: str = "# {name}\n",
    body: str = "",
    unsessioned: str | None = None,
) -> Path:
    """Write FOLDER/NAME (folders created) and return its path.

    TEXT is written as given; without it the text is built from the other options (the layout in
    the module docstring). SESSION: ``"auto"`` a fresh UUID, another string that id as is (e.g.
    ``"null"``), ``None`` or ``False`` no front matter at all -- then UNSESSIONED (``{name}``
    filled in) is the whole text when given, else TITLE and BODY alone. ``{name}`` in TITLE is
    the file name. Every newline becomes NEWLINE (e.g. ``"\\r\\n"``); MODE, when given, is
    chmod-ed.
    """
    if text is None:
        if not session:
            text = (unsessioned.format(name=name) if unsessioned is not None
                    else title.format(name=name) + body)
        else:
            sid = str(uuid.uuid4()) if session == "auto" else session
            text = f"---\n{before}agent_doc_session: {sid}\n"
            if agent is not None:
                text += f"agent: {agent}\n"
            text += f"{extra}---\n" + ("\n" if blank else "") + title.format(name=name) + body
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    if mode is not None:
        path.chmod(mode)
    return path


def with_line(text: str, after: str, line: str) -> str:
    """``text`` with ``line`` inserted right after the (first) line ``after``."""
    at = text.index(after + "\n") + len(after) + 1
    return text[:at] + line + "\n" + text[at:]


def save_in_place(path: Path, text: str) -> None:
    """An editor's in-place save: the same file (inode) truncated and written."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(text.encode())
