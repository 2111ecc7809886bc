"""``agent-doc trust [DIR] [--show | --revoke] [--json]``: let a project run what its files name.

Parses, prints, and calls the model (:mod:`agent_doc.trust`) and the report
(:func:`agent_doc.config.project_trust`). See the description below for what trust means.
"""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Trust a project: allow its own .agent-doc/config.toml and .agent-doc/components.toml to run
what they name.

A cloned repository's files are not yours. Until you trust the project, its settings that run
a program ([agents.NAME] command and args, components' pre_patch and post_patch), pick an HTTP
endpoint (base_url) or an environment variable (api_key_env), or set one (env) are off, and a
command that needs one of them stops with an error that names the file and the line. Settings
that run nothing (model, timeout, mode, ...) always apply; your global config is always
trusted.

`agent-doc trust DIR` records the project root's real path and a SHA-256 of both files in
$XDG_STATE_HOME/agent-doc/trust.json (default ~/.local/state/agent-doc/trust.json), and prints
what it trusted. A file that changes afterwards is off again until the next `trust` (as with
`direnv allow`).

  agent-doc trust --show [DIR]    everything the project would run, and whether it may
  agent-doc trust [DIR]           trust it (DIR: any folder of the project; default: here)
  agent-doc trust --revoke [DIR]  forget it
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", nargs="?", default=".", metavar="DIR",
                        help="a folder of the project (default: the working directory)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--show", action="store_true",
                      help="print everything the project would run, and its trust state")
    what.add_argument("--revoke", action="store_true", help="forget the trust in the project")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _root(folder: str) -> str:
    from agent_doc.errors import AgentDocError
    from agent_doc.project import find_root

    if not os.path.exists(folder):
        raise AgentDocError(f"{folder}: no such folder",
                            hint="give a folder of the project: `agent-doc trust DIR`")
    if not os.path.isdir(folder):
        raise AgentDocError(f"{folder}: is not a folder",
                            hint="give the project's folder, not a file: `agent-doc trust DIR`")
    return find_root(folder)


def render(report: object, *, heading: str | None = None) -> str:
    from agent_doc.config import TrustReport
    from agent_doc.trust import trust_command

    assert isinstance(report, TrustReport)
    state = {
        "trusted": f"trusted (since {report.trusted_at})",
        "changed": f"trusted at {report.trusted_at}, but a file changed since: its settings "
                   "that run programs are off",
        "untrusted": "not trusted",
    }[report.state]
    lines = [f"project: {report.root}", f"trust: {state}"]
    for name, st in report.files.items():
        lines.append(f"  .agent-doc/{name}: {st}")
    if not report.settings:
        lines.append("settings that run something: none (this project needs no trust)")
    else:
        lines.append(heading or f"settings that run something ({len(report.settings)}):")
        for s in report.settings:
            where = f"{s['file']}:{s['line']}" if s["line"] else s["file"]
            mark = "on " if s["applies"] else "OFF"
            lines.append(f"  [{mark}] {where}  {s['setting']}")
            lines.append(f"        {s['action']}")
        if any(not s["applies"] for s in report.settings):
            lines.append(f"to allow them: {trust_command(report.root)}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from agent_doc import trust
    from agent_doc.cli.common import emit_json, say
    from agent_doc.config import project_trust

    root = _root(args.dir)
    if args.revoke:
        was = trust.revoke(root)
        if args.json:
            emit_json({"root": trust.canonical_root(root), "revoked": was})
        elif was:
            say(f"Revoked trust in {trust.canonical_root(root)}: its settings that run "
                "programs are off again")
        else:
            say(f"{trust.canonical_root(root)} was not trusted: nothing to revoke")
        return 0
    report = project_trust(root)
    if args.show:
        if args.json:
            emit_json(report.as_json())
        else:
            sys.stdout.write(render(report))
        return 0
    # trust exactly the bytes just read and listed (a file changed meanwhile stays off)
    entry = trust.grant(report.root, report.digests)
    settings = [{**s, "applies": True} for s in report.settings]
    from agent_doc.config import TrustReport

    granted = TrustReport(
        report.root, "trusted", entry["trusted_at"],
        {n: ("absent" if d is None else "trusted") for n, d in report.digests.items()},
        settings, report.digests,
    )
    if args.json:
        emit_json(granted.as_json())
    else:
        sys.stdout.write(render(granted, heading=f"now allowed ({len(settings)}):"))
        say(f"Trusted {report.root}" + (
            "" if settings else
            " (its files run nothing yet; a setting added later needs a new `trust`)"))
    return 0
