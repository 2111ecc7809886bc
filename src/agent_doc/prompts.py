"""The prompt sent to the agent, and the system instruction every backend adds (Part B §4.4).

Two templates, chosen by whether the frontmatter has a ``resume`` value (not by whether a
snapshot exists):

* first run (``resumed=False``): an opening sentence, the full document in a ``<document>``
  block, three instruction lines. The diff is not included.
* resumed: an opening sentence, the diff since the last submit in a ``<diff>`` block, a sentence
  introducing the document, the ``<document>`` block, the same three instructions (the first
  one says to answer the *new* content).

The wording is our own. :func:`parse_prompt` is the inverse (used by the offline agent); it
relies on the fixed text around the blocks, so keep the two in step.
"""

from __future__ import annotations

SYSTEM_PROMPT = (
    "You are answering inside an interactive session document managed by agent-doc. The user "
    "writes in a Markdown file and submits it; each submit sends you what changed since the "
    "last submit together with the whole document, and your reply is appended to the file "
    "under a '## Assistant' heading. Answer concisely in Markdown. Respond to the new content: "
    "new '## User' blocks, and inline annotations the user added anywhere in the document, "
    "such as blockquotes or comments. Do not write the '## Assistant' or '## User' headings "
    "yourself, do not repeat the document, and do not edit the document file: your reply is "
    "written into it for you."
)

FIRST_OPENING = (
    "The user is starting a session document: a Markdown file in which they write and you "
    "answer. The full document follows."
)
RESUMED_OPENING = (
    "The user edited their session document. The changes since the last submit follow as a "
    "diff of the whole document: lines starting with '+' were added, lines starting with '-' "
    "were removed, the others are unchanged."
)
DOCUMENT_INTRO = "The full document as it is now:"

_INSTRUCTIONS_FIRST = (
    "Answer the user's content in Markdown.\n"
    "Do not write a '## Assistant' heading: one is added automatically.\n"
    "Also answer questions asked inline, for example in blockquotes."
)
_INSTRUCTIONS_RESUMED = (
    "Answer the user's new content in Markdown.\n"
    "Do not write a '## Assistant' heading: one is added automatically.\n"
    "Also answer questions asked inline, for example in blockquotes."
)


def build_prompt(document_text: str, diff: str | None, resumed: bool) -> str:
    """The prompt for one submit. ``diff`` is used only when ``resumed`` (None = empty)."""
    document_block = f"<document>\n{document_text}\n</document>"
    if not resumed:
        return f"{FIRST_OPENING}\n\n{document_block}\n\n{_INSTRUCTIONS_FIRST}\n"
    return (
        f"{RESUMED_OPENING}\n\n<diff>\n{diff or ''}\n</diff>\n\n{DOCUMENT_INTRO}\n\n"
        f"{document_block}\n\n{_INSTRUCTIONS_RESUMED}\n"
    )


def parse_prompt(prompt: str) -> tuple[str | None, str | None]:
    """``(diff, document)`` found in a prompt made by :func:`build_prompt`; None when absent.

    A ``<diff>`` block counts only before the first ``<document>`` tag. Lines of the diff
    always start with ``+``, ``-`` or a space, so the first ``\\n</diff>\\n``
    after ``<diff>`` ends the diff block even when the document itself mentions the tags; the
    document block ends at the *last* ``\\n</document>`` (only instructions follow it).
    """
    diff: str | None = None
    rest_from = 0
    start = prompt.find("<diff>\n")
    doc_at = prompt.find("<document>\n")
    if start != -1 and (doc_at == -1 or start < doc_at):
        start += len("<diff>\n")
        end = prompt.find("\n</diff>\n", start - 1)
        if end != -1:
            diff = prompt[start:end] if end >= start else ""
            rest_from = end + len("\n</diff>\n")
    document: str | None = None
    start = prompt.find("<document>\n", rest_from)
    if start != -1:
        start += len("<document>\n")
        end = prompt.rfind("\n</document>")
        if end >= start - 1:
            document = prompt[start:end] if end >= start else ""
    return diff, document
