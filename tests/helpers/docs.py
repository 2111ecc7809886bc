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


def doc_text(
    name: str = "doc.md",
    *,
    session: str | bool | None = "auto",
    before: str = "",
    agent: str | None = None,
    extra: str = "",
    blank: bool = False,
    title: str = "# {name}\n",
    body: str = "",
    unsessioned: str | None = None,
) -> str:
    """The text :func:`make_doc` writes (see the module docstring for the layout).

    SESSION: ``"auto"`` a fresh UUID, another string that id as is (e.g. ``"null"``), ``None``
    or ``False`` no front matter at all -- then UNSESSIONED (``{name}`` filled in) is the whole
    text when given, else TITLE and BODY alone. ``{name}`` in TITLE is the file name.
    """
    if not session:
        if unsessioned is not None:
            return unsessioned.format(name=name)
        return title.format(name=name) + body
    sid = str(uuid.uuid4()) if session == "auto" else session
    fm = f"---\n{before}agent_doc_session: {sid}\n"
    if agent is not None:
        fm += f"agent: {agent}\n"
    fm += f"{extra}---\n" + ("\n" if blank else "")
    return fm + title.format(name=name) + body


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
    """Write FOLDER/NAME (FOLDER created) and return its path.

    TEXT is written as given; without it the text is :func:`doc_text` of the other options.
    Every ``\\n`` becomes NEWLINE (e.g. ``"\\r\\n"``); MODE, when given, is chmod-ed.
    """
    if text is None:
        text = doc_text(name, session=session, before=before, agent=agent, extra=extra,
                        blank=blank, title=title, body=body, unsessioned=unsessioned)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    if mode is not None:
        path.chmod(mode)
    return path
