"""The ``agent-doc`` command line: a thin dispatcher.

Each command lives in ``agent_doc/cli/<command>.py`` with ``configure(parser)`` (its arguments)
and ``run(args) -> int``. Only the module of the command being run is imported, so a hotkey
command pays for nothing it does not use; ``--version`` imports nothing at all.
"""

from __future__ import annotations

import os
import sys

from agent_doc import __version__

TYPE_CHECKING = False  # `import typing` costs start-up of every command
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

#: name -> (module, one-line summary); the order is the order of ``--help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "run two full cycles in a scratch project with the offline agent"),
    "init": ("init", "create a new session document (never overwrites)"),
    "run": ("run", "submit what changed since the last submit and append the answer"),
    "diff": ("diff", "show what changed since the last submit (read-only)"),
    "write": ("write", "append a response read on stdin, as `run` does after the agent"),
    "recover": ("recover", "apply a response left pending by a process that died"),
    "reset": ("reset", "forget the agent conversation and the snapshot of a document"),
    "commit": ("commit", "commit the document to git (the document only)"),
    "clean": ("clean", "squash this document's agent-doc commits at the branch tip"),
    "outline": ("outline", "list the document's sections with sizes"),
    "patch": ("patch", "replace/append/prepend a named component of a document"),
    "watch": ("watch", "watch documents and submit them on save (daemon)"),
    "claim": ("claim", "bind a document to a tmux pane"),
    "route": ("route", "send `/agent-doc FILE` to the document's pane, starting one if needed"),
    "start": ("start", "register this tmux pane for a document and exec claude"),
    "focus": ("focus", "select the tmux pane of a document"),
    "layout": ("layout", "arrange the panes of several documents side by side or stacked"),
    "sync": ("sync", "mirror the editor's columns of documents in tmux"),
    "resync": ("resync", "remove registry entries whose pane is gone"),
    "prompt": ("prompt", "detect and answer permission prompts in agent panes"),
    "skill": ("skill", "install or check the bundled Claude Code skill"),
    "status": ("status", "the project at a glance: documents, panes, pending, watch, locks"),
    "claims": ("claims", "print and empty .agent-doc/claims.log (used by the skill)"),
    "trust": ("trust", "allow a project's own config to run programs (--show, --revoke)"),
    "editor": ("editor", "editor integrations: `editor path nvim` prints the Neovim plugin"),
}

#: hotkey commands parsed by ``fastargs`` when their command line is simple (argparse costs
#: start-up time, bench/IMPORTS.md); any other form falls back to argparse.
FAST_COMMANDS = frozenset(
    {"route", "claim", "focus", "diff", "prompt", "resync", "sync", "run", "write", "recover"}
)

USAGE = "usage: agent-doc [--version] [--help] COMMAND [ARGS...]"


def _help_text() -> str:
    lines = [
        "agent-doc — Interactive document sessions with AI agents.",
        "",
        "Edit a Markdown document, submit it, and the agent's answer is appended to it.",
        "",
        USAGE,
        "",
        "commands:",
    ]
    width = max(len(n) for n in COMMANDS)
    for name, (_mod, summary) in COMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {summary}")
    lines += [
        "",
        "Run `agent-doc COMMAND --help` for the arguments of a command.",
        "Start with `agent-doc demo` to see a whole cycle with the built-in offline agent.",
    ]
    return "\n".join(lines) + "\n"


def _print_error(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"Error: {message}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.stderr.write(USAGE + "\nRun `agent-doc --help` for the list of commands.\n")
        return 2
    first = args[0]
    if first in ("--version", "-V"):
        sys.stdout.write(f"agent-doc {__version__}\n")
        return 0
    if first in ("--help", "-h", "help"):
        sys.stdout.write(_help_text())
        return 0
    if first not in COMMANDS:
        sys.stderr.write(f"agent-doc: unknown command '{first}'\n{USAGE}\n")
        return 2
    module_name, summary = COMMANDS[first]
    from fastpath import TRACE

    if TRACE:
        from fastpath import describe_argv, trace

        trace("command", describe_argv(["agent-doc", *args]))
    # __import__ + sys.modules rather than importlib.import_module: ``importlib`` (and the
    # ``warnings`` it pulls in) costs start-up of every hotkey command
    __import__(f"agent_doc.cli.{module_name}")
    module = sys.modules[f"agent_doc.cli.{module_name}"]
    if first in FAST_COMMANDS:
        from agent_doc.cli.fastargs import try_fast_parse

        fast = try_fast_parse(module.configure, args[1:])
        if fast is not None:
            return run_command(module.run, fast)
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"agent-doc {first}",
        description=getattr(module, "DESCRIPTION", None) or summary,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.configure(parser)
    ns = parser.parse_args(args[1:])
    return run_command(module.run, ns)


def console_main() -> int:
    """The ``agent-doc`` console script (and ``python -m agent_doc``): :func:`main`, then exit
    without Python's shutdown when nothing can need it (:func:`fastpath.fast_exit`)."""
    rc = main()
    from fastpath import fast_exit

    return fast_exit(rc)


def run_command(fn: Callable[[Any], int | None], ns: Any) -> int:
    """Run a command's ``run(args)`` and map what it raises to a message and an exit code.

    By type, never by name: :class:`AgentDocError` carries its own message, hint and exit
    code; :class:`tmux_router.errors.TmuxRouterError` (registry, tmux, layout errors of the
    library) a user-facing message (exit 1); lock and agent timeouts and OS errors exit 1.
    """
    from agent_doc.errors import AgentDocError

    try:
        rc = fn(ns)
        return 0 if rc is None else int(rc)
    except AgentDocError as exc:
        _print_error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted.\n")
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except TimeoutError as exc:  # LockTimeout and agent timeouts
        _print_error(str(exc))
        return 1
    except OSError as exc:
        from agent_doc.errors import os_cause, os_hint

        # safefile.NotRegularFileError names the path itself and carries its own hint
        _print_error(os_cause(exc), getattr(exc, "hint", None) or os_hint(exc))
        return 1
    except Exception as exc:
        # imported here: a command that never failed need not load it
        from tmux_router.errors import TmuxRouterError

        if isinstance(exc, TmuxRouterError):
            _print_error(str(exc), getattr(exc, "hint", None))
            return 1
        raise
