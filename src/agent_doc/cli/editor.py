"""``agent-doc editor``: the editor integrations shipped with agent-doc.

* ``editor path nvim`` prints the folder to put on Neovim's runtimepath (the plugin ships inside
  the Python package: no second download);
* ``editor register FILE --server ADDR --pid PID`` / ``editor unregister FILE... --pid PID``
  record which editor has a document open, for the live-buffer write-back
  (:mod:`agent_doc.editors.bridge`; called by the plugin);
* ``editor pull FILE [--pid PID]`` merges a change made to the file on disk into the editor's
  modified buffer (the plugin calls it instead of Neovim's "file changed" prompt).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse

DESCRIPTION = """Editor integrations.

  agent-doc editor path nvim          print the Neovim plugin's folder (put it on 'runtimepath')
  agent-doc editor register FILE --server ADDR --pid PID
  agent-doc editor unregister FILE... --pid PID
  agent-doc editor pull FILE [--pid PID]

register/unregister/pull are called by the plugin; see README "Editors"."""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("path", help="print the folder of an editor plugin")
    p.add_argument("editor", choices=["nvim"], help="the editor")
    r = sub.add_parser("register", help="record that an editor has FILE open (plugin use)")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--server", required=True, metavar="ADDR", help="the editor's RPC address")
    r.add_argument("--pid", required=True, type=int, help="the editor's process id")
    u = sub.add_parser("unregister", help="forget that an editor has FILE open (plugin use)")
    u.add_argument("files", metavar="FILE", nargs="+")
    u.add_argument("--pid", required=True, type=int, help="the editor's process id")
    m = sub.add_parser("pull", help="merge the file's change on disk into the editor's buffer")
    m.add_argument("file", metavar="FILE")
    m.add_argument("--pid", type=int, help="only this editor")


def run(args: argparse.Namespace) -> int:
    from agent_doc.errors import AgentDocError

    if args.action == "path":
        from agent_doc.editors import plugin_dir

        sys.stdout.write(plugin_dir(args.editor) + "\n")
        return 0
    from agent_doc.editors import bridge

    if args.action == "register":
        if not os.path.isfile(args.file):
            raise AgentDocError(f"{args.file}: no such document",
                                hint="register an existing file (the plugin does this for you)")
        bridge.register(args.file, server=args.server, pid=args.pid)
        return 0
    if args.action == "unregister":
        for f in args.files:
            bridge.unregister(f, pid=args.pid)
        return 0
    if args.action == "pull":
        if not bridge.pull_into_editor(args.file, pid=args.pid):
            raise AgentDocError(f"no editor with the plugin took the change of {args.file}",
                                hint="reload the file in your editor (:edit)")
        return 0
    raise AgentDocError(f"unknown action {args.action}", hint="see `agent-doc editor --help`")
