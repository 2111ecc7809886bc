"""The ``tmux-router`` command: bind keys to tmux panes, inspect, route text, arrange layouts.

``tmux-router [--registry PATH] [--socket-name NAME] <command>``; the registry defaults to
``.tmux-router/registry.json`` under the working directory (as the reference's standalone CLI).
Commands: ``register KEY PANE [--file F]``, ``unregister KEY``, ``status [--json]``,
``resync [--json]``, ``focus KEY``, ``send TARGET TEXT [--no-enter] [--raw]``,
``capture TARGET [--lines N]``, ``sync --col A,B [--col C] [--window W] [--focus F] [--json]``.

Every registry change is one locked transaction (fixes C27); liveness comes from one
``list-panes -a`` made before it, with pid identity (an entry whose pane id now belongs to
another process is dead, C29). Messages go to stderr, data to stdout. tmux missing or no server
running: a clear error, exit 1, registry untouched. Imports are kept to the standard library
pieces each command needs (``send`` is a hotkey path: registry read + 2 tmux processes).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from tmux_router.errors import TmuxRouterError
from tmux_router.registry import Registry, identity_ok, make_entry
from tmux_router.tmux import Tmux

DEFAULT_REGISTRY = os.path.join(".tmux-router", "registry.json")
SOCKET_ENV = "AGENT_DOC_TMUX_SOCKET"


class CliError(TmuxRouterError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def emit_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def make_tmux(socket: str | None) -> Tmux:
    """``--socket-name`` (or ``$AGENT_DOC_TMUX_SOCKET``): a name (``-L``) or a path (``-S``)."""
    value = socket or os.environ.get(SOCKET_ENV) or None
    if value and "/" in value:
        return Tmux(socket_path=value)
    return Tmux(socket_name=value)


# -- commands ---------------------------------------------------------------------------------
def _pane_target(tmux: Tmux, registry: Registry, target: str) -> str:
    """A pane id for TARGET: ``%N`` as is, else a registry key whose pane passes identity."""
    if target.startswith("%"):
        return target
    entry = registry.get(target)
    if entry is None:
        raise CliError(
            f"{target} is not registered in {registry.path}",
            hint="give a pane id (%N) or register the key: tmux-router register KEY PANE",
        )
    live = tmux.live_panes(strict=True)
    if not identity_ok(entry, live):
        pane = entry.get("pane")
        state = "runs another process now" if pane in live else "is gone"
        raise CliError(
            f"the pane of {target} ({pane}) {state}",
            hint="run `tmux-router resync`, then register the key again",
        )
    return str(entry["pane"])


def cmd_register(args: argparse.Namespace, tmux: Tmux, registry: Registry) -> int:
    target: str = args.pane
    if not target.startswith("%"):
        out = tmux.run("display-message", "-p", "-t", target, "#{pane_id}").strip()
        if not out:
            raise CliError(f"no pane matches {target}")
        target = out
    # one list-panes -a, before the lock
    pane = next((p for p in tmux.list_panes(strict=True) if p.id == target), None)
    if pane is None or pane.dead:
        raise CliError(
            f"pane {target} does not exist on this tmux server",
            hint="list panes with: tmux list-panes -a",
        )
    fields = make_entry(
        pane.id, pid=pane.pid, cwd=os.getcwd(), file=args.file or "", window=pane.window
    )
    with registry.transaction() as entries:
        old = entries.get(args.key)
        entries[args.key] = {**old, **fields} if isinstance(old, dict) else fields
    say(f"registered {args.key} → pane {pane.id} (pid {pane.pid}, window {pane.window})")
    return 0


def cmd_unregister(args: argparse.Namespace, tmux: Tmux, registry: Registry) -> int:
    with registry.transaction() as entries:
        entry = entries.pop(args.key, None)
    if entry is None:
        raise CliError(f"{args.key} is not registered in {registry.path}")
    say(f"unregistered {args.key} (was pane {entry.get('pane')})")
    return 0


def cmd_status(args: argparse.Namespace, tmux: Tmux, registry: Registry) -> int:
    entries = registry.load()
    live = tmux.live_panes(strict=True) if entries else {}
    rows = [
        {"key": key, **entry, "alive": identity_ok(entry, live)}
        for key, entry in sorted(entries.items())
    ]
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print("registry is empty")
        return 0
    for row in rows:
        state = "alive" if row["alive"] else "dead"
        extra = f" file={row['file']}" if row.get("file") else ""
        print(f"{row['key']} → {row.get('pane')} [{state}] window={row.get('window', '')}{extra}")
    return 0


def cmd_resync(args: argparse.Namespace, tmux: Tmux, registry: Registry) -> int:
    # no server: NoServer, never "everything is dead" (we may be asking the wrong server)
    live = tmux.live_panes(strict=True)
    removed = registry.prune(live)
    remaining = len(registry.load())
    if args.json:
        emit_json(
            {
                "pruned": [
                    {"key": k, "pane": e.get("pane"), "file": e.get("file", "")} for k, e in removed
                ],
                "remaining": remaining,
            }
        )
    for key, entry in removed:
        say(f"  {entry.get('file') or key} (pane {entry.get('pane')} removed)")
    say(f"pruned {len(removed)} dead entr{'y' if len(removed) == 1 else 'ies'}")
    return 0


def cmd_focus(args: argparse.Namespace, tmux: Tmux, registry: Registry) -> int:
    pane = _pane_target(tmux, registry, args.key)
    tmux.select_pane(pane)
    say(f"focused {args.key} (pane {pane})")
    return 0


def cmd_send(args: argparse.Namespace, tmux: Tmux, registry: Registry) -> int:
    pane = _pane_target(tmux, registry, args.target)
    if args.raw:
        keys = args.text.split()
        if not keys:
            raise CliError("no key names given", hint="e.g. tmux-router send %1 'Up Enter' --raw")
        tmux.send_keys(pane, *keys)
    else:
        tmux.send_text(pane, args.text, enter=not args.no_enter)
    say(f"sent to pane {pane}")
    return 0


def cmd_capture(args: argparse.Namespace, tmux: Tmux, registry: Registry) -> int:
    pane = _pane_target(tmux, registry, args.target)
    sys.stdout.write(tmux.capture(pane, args.lines))
    return 0


def cmd_sync(args: argparse.Namespace, tmux: Tmux, registry: Registry) -> int:
    from tmux_router import sync as tsync

    try:
        columns = tsync.parse_columns(args.col or [])
    except tsync.SyncError as exc:
        raise CliError(str(exc), hint="e.g. tmux-router sync --col a,b --col c") from None
    entries = registry.load()

    def resolve(name: str) -> tsync.Resolved | None:
        return tsync.Resolved(key=name) if name in entries else None

    try:
        result = tsync.sync(
            tmux,
            registry,
            columns,
            resolve,
            window=args.window,
            focus=args.focus,
            on_log=tsync.print_log,
        )
    except tsync.SyncError as exc:
        raise CliError(
            str(exc), hint="register the keys first: tmux-router register KEY PANE"
        ) from None
    say(result.summary())
    if args.json:
        emit_json(
            {
                "target_session": result.target_session,
                "target_window": result.target_window,
                "columns": result.panes,
                "moved": result.moved,
                "fast_path": result.fast_path,
                "errors": [e.message for e in result.errors],
            }
        )
    else:
        print(f"synced to window {result.target_window}")
        if result.target_session:
            print(f"session: {result.target_session}")
    return 0


COMMANDS = {
    "register": cmd_register,
    "unregister": cmd_unregister,
    "status": cmd_status,
    "resync": cmd_resync,
    "focus": cmd_focus,
    "send": cmd_send,
    "capture": cmd_capture,
    "sync": cmd_sync,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tmux-router",
        description="Bind keys to tmux panes, route text to them, arrange them in a window.",
    )
    p.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        help=f"registry file (default: {DEFAULT_REGISTRY} under the working directory)",
    )
    p.add_argument(
        "--socket-name",
        help=f"tmux socket name (-L) or path (-S); default ${SOCKET_ENV}, else tmux's own choice",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("register", help="bind KEY to a pane (records the pane's pid)")
    s.add_argument("key")
    s.add_argument("pane", help="pane id (%%N) or any tmux pane target")
    s.add_argument("--file", help="file the key stands for (stored in the entry)")

    s = sub.add_parser("unregister", help="remove KEY")
    s.add_argument("key")

    s = sub.add_parser("status", help="list entries, alive or dead")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("resync", help="remove entries whose pane is gone or reused")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("focus", help="select the pane of KEY")
    s.add_argument("key")

    s = sub.add_parser("send", help="type TEXT (literally) into a pane, then Enter")
    s.add_argument("target", help="pane id (%%N) or registry key")
    s.add_argument("text")
    s.add_argument("--no-enter", action="store_true", help="do not press Enter")
    s.add_argument(
        "--raw", action="store_true", help="TEXT is key names separated by spaces (no Enter added)"
    )

    s = sub.add_parser("capture", help="print the screen of a pane")
    s.add_argument("target", help="pane id (%%N) or registry key")
    s.add_argument("--lines", type=int, help="also N lines of history")

    s = sub.add_parser("sync", help="arrange the panes of keys in one window, in columns")
    s.add_argument("--col", action="append", help="comma-separated keys, top to bottom")
    s.add_argument("--window", help="target window (used if alive)")
    s.add_argument("--focus", help="key whose pane ends selected")
    s.add_argument("--json", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tmux = make_tmux(args.socket_name)
    registry = Registry(args.registry)
    try:
        return COMMANDS[args.command](args, tmux, registry)
    except CliError as exc:
        say(f"Error: {exc.message}")
        if exc.hint:
            say(f"hint: {exc.hint}")
        return 1
    except TmuxRouterError as exc:  # tmux, registry, layout errors
        say(f"Error: {exc}")
        return 1
    except TimeoutError as exc:  # safefile.LockTimeout
        say(f"Error: {exc}")
        return 1
    except OSError as exc:
        say(f"Error: {exc.strerror or exc}: {exc.filename or registry.path}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
