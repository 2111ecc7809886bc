"""The reader loop of the torture part: parse shared state files continuously.

Run as ``python -m stress.reader ROOT OUT DEADLINE``. Until DEADLINE it reads
``.agent-doc/sessions.json`` (must be a JSON object), every snapshot (must be UTF-8 with a
closed frontmatter) and every pending response (must be a JSON object), with no lock, as
the editor plugin's pollers do. It writes ``{"reads": N, "failures": [...]}`` to OUT.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def main() -> int:
    root, out, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "src"))
    from agent_doc.document import parse

    state = os.path.join(root, ".agent-doc")
    reads = 0
    failures: list[str] = []
    while time.time() < deadline:
        try:
            raw = _read(os.path.join(state, "sessions.json"))
            reads += 1
            if not isinstance(json.loads(raw), dict):
                failures.append(f"sessions.json not an object: {raw[:120]!r}")
        except FileNotFoundError:
            pass
        except ValueError as exc:
            failures.append(f"sessions.json: {exc}: {raw[:120]!r}")
        for sub, kind in (("snapshots", "md"), ("pending", "json")):
            folder = os.path.join(state, sub)
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            for name in names:
                if name.startswith(".") or not name.endswith("." + kind):
                    continue
                path = os.path.join(folder, name)
                try:
                    raw = _read(path)
                except FileNotFoundError:
                    continue
                reads += 1
                try:
                    if kind == "json":
                        if not isinstance(json.loads(raw), dict):
                            raise ValueError("not an object")
                    else:
                        parse(raw.decode("utf-8"), path)
                except Exception as exc:
                    failures.append(f"{path}: {type(exc).__name__}: {exc}: {raw[:120]!r}")
        time.sleep(0.01)
    with open(out, "w") as fh:
        json.dump({"reads": reads, "failures": failures[:50], "n_failures": len(failures)}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
