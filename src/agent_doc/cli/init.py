"""``agent-doc init FILE [TITLE] [--agent NAME]``: create a new session document (§3.4, §9.2).

Writes exactly::

    ---
    agent_doc_session: <new uuid>
    agent: <agent>
    ---

    # Session: <title>

    ## User

(``<title>`` defaults to ``Untitled Session``; ``<agent>`` is ``--agent``, else the config's
``default_agent``, else ``claude``), creating missing parent folders, and says ``Created FILE``
on stderr.

**Never overwrites.** The reference checks ``exists()`` and then writes, so two inits (or an
init racing an editor's save) can clobber a file (C7). Here the creation is exclusive and
atomic at once (:func:`safefile.create_new`): the scaffold is written and fsynced to a
temporary file beside FILE, then hard-linked into place with ``os.link``, which the kernel
refuses when the name exists. We chose the link over ``open(O_CREAT|O_EXCL)`` + write because
the latter is exclusive but not atomic: a watcher or editor could read the file while it is
still empty. Of two concurrent inits exactly one succeeds; the other exits 1 and the file is
byte-identical to the winner's. A symlink at FILE is written through (a dangling link creates
its target), like every other write.

Departures from the reference: the agent name is written as a YAML scalar (quoted only if
YAML would not read it back as that exact string; ordinary names are written as typed), and
line breaks in TITLE become spaces so the scaffold keeps its shape. The document lock is held
while creating (SPEC A4). An invalid config only warns here (init needs no agent; SPEC A7).
"""

from __future__ import annotations

import argparse
import os

from agent_doc.cli.common import say
from agent_doc.errors import AgentDocError

DESCRIPTION = (
    "Create a new session document with a fresh session id. Never overwrites an existing file."
)
DEFAULT_TITLE = "Untitled Session"
FALLBACK_AGENT = "claude"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the document to create (.md)")
    parser.add_argument(
        "title", metavar="TITLE", nargs="?", default=DEFAULT_TITLE,
        help=f"the session title (default: {DEFAULT_TITLE})",
    )
    parser.add_argument(
        "--agent", metavar="NAME",
        help="agent backend written into the frontmatter (default: config default_agent, "
        "else claude)",
    )


def scaffold(session_id: str, agent: str, title: str) -> str:
    """The exact text of a new document (Part B §9.2)."""
    from agent_doc.document import yaml_scalar

    title = title.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return (
        f"---\nagent_doc_session: {session_id}\nagent: {yaml_scalar(agent)}\n---\n\n"
        f"# Session: {title}\n\n## User\n\n"
    )


def default_agent(root: os.PathLike[str] | str) -> str:
    """The config's ``default_agent`` (global, then project), else ``claude``.

    The config module is imported lazily and its absence is tolerated; an invalid config is
    reported as a warning (init does not need an agent to work).
    """
    from pathlib import Path

    try:
        from agent_doc.config import load_config
    except ImportError:
        return FALLBACK_AGENT
    try:
        config = load_config(Path(root))
    except AgentDocError as exc:
        say(f"warning: {exc.message}; writing agent: {FALLBACK_AGENT}")
        return FALLBACK_AGENT
    value = getattr(config, "default_agent", None)
    return value if isinstance(value, str) and value else FALLBACK_AGENT


def run(args: argparse.Namespace) -> int:
    from agent_doc.document import new_session_id
    from agent_doc.project import Project
    from safefile import create_new

    path: str = args.file
    if not path:
        raise AgentDocError("no file given", hint="usage: agent-doc init FILE [TITLE]")
    project = Project.for_document(path)
    agent = args.agent if args.agent else default_agent(project.root)
    text = scaffold(new_session_id(), agent, args.title)
    made = _missing_folders(os.path.dirname(os.path.realpath(path)))
    try:
        try:
            os.makedirs(os.path.dirname(os.path.realpath(path)), exist_ok=True)
            with project.doc_lock(path):
                create_new(path, text)
        except BaseException:
            _remove_empty(made)  # a failed init leaves no folder behind: it changed nothing
            raise
    except FileExistsError:
        raise AgentDocError(
            f"file already exists: {path}",
            hint="init never overwrites a file; choose another name, or continue that "
            f"document with `agent-doc run {path}`",
        ) from None
    except OSError as exc:
        from agent_doc.errors import os_cause, os_hint

        reason = os_cause(exc, path)
        raise AgentDocError(
            reason if reason.startswith("cannot") else f"cannot create {path}: {reason}",
            hint=os_hint(exc, os.path.dirname(os.path.abspath(path))),
        ) from None
    say(f"Created {path}")
    return 0


def _missing_folders(folder: str) -> list[str]:
    """The folders ``os.makedirs(folder)`` would create, deepest first."""
    out: list[str] = []
    while folder and not os.path.exists(folder):
        out.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return out


def _remove_empty(folders: list[str]) -> None:
    for folder in folders:  # deepest first; a folder someone filled meanwhile stays
        try:
            os.rmdir(folder)
        except OSError:
            break
