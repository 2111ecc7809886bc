"""``agent-doc patch FILE NAME [CONTENT]``: update one component of a document (Part B §7.2).

Steps:

1. Validate early, without a lock: FILE exists, is UTF-8, its markers parse and NAME is there;
   read ``<root>/.agent-doc/components.toml`` (an invalid file is an error with file:line).
2. The replacement is CONTENT, or all of stdin (strict UTF-8).
3. ``pre_patch`` hook, **before** taking the document lock so a slow hook never blocks the
   document: ``sh -c CMD`` with ``COMPONENT``/``FILE`` in the environment, the replacement on
   stdin, its stdout becomes the replacement. Input and output are pumped together
   (:func:`procrun.run`), so a hook that prints a lot before reading its input cannot deadlock (the
   reference writes all input first); it runs in its own process group, which is killed after
   ``hook_timeout`` seconds (default 30) or on Ctrl-C; a non-zero exit aborts with the tail of
   the hook's stderr. Nothing has been written at that point.
4. Under the document lock: a stale editor save of the last answer or patch is repaired first
   (:func:`agent_doc.repair.check`), then re-read, re-parse, patch, atomic write (SPEC
   A4/A5), and a repair record kept (:func:`agent_doc.repair.record_patch`: an editor save
   made from the text before the patch and landing after it gets the entry back). Under the
   snapshot lock (taken inside the document lock, the usual order, *before* the document is
   written, with the snapshot write proven possible by :func:`agent_doc.preflight.check_write`,
   so a failure exit means nothing changed; a failure after the document write is a warning,
   exit 0 — a retry must never append an entry twice), the snapshot gets the same
   patch (same timestamp) when it has the component, else the whole new document — so the patch
   does not show up as a user change in the next diff (§7.4; the reference writes the snapshot
   unlocked and non-atomically). With ``trigger = true`` the snapshot is left alone, so the
   watch daemon sends the patch to the agent (SPEC A10, fixes C40).
5. ``post_patch`` hook after the lock is released (stdin empty, output inherited, same timeout);
   a failure is a warning: the patch is already written.
6. stderr ``Patched component 'NAME' in FILE (mode: M)``.
"""

from __future__ import annotations

import argparse
import os
import sys

from agent_doc.cli.common import existing_file, say
from agent_doc.errors import AgentDocError

DESCRIPTION = """Update one component (<!-- agent:NAME --> ... <!-- /agent:NAME -->) of a document.

Modes, timestamps, entry limits, hooks and `trigger` come from the component's table in
<project root>/.agent-doc/components.toml:

  [log]
  mode = "append"         # replace (default) | append | prepend
  timestamp = true        # prefix entries with [UTC time]
  max_entries = 100       # keep that many lines (append: the last, prepend: the first)
  pre_patch = "tr a-z A-Z"    # sh -c; replacement on stdin, stdout replaces it
  post_patch = "make site"    # sh -c; runs after the write
  hook_timeout = 30       # seconds for each hook
  trigger = false         # true: leave the snapshot, so `agent-doc watch` sends the change
"""

_TAIL_CHARS = 2000


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the document")
    parser.add_argument("name", metavar="NAME", help="the component (<!-- agent:NAME -->)")
    parser.add_argument(
        "content", metavar="CONTENT", nargs="?", help="the new entry (default: all of stdin)"
    )


def _tail(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip()
    if len(text) > _TAIL_CHARS:
        text = "…" + text[-_TAIL_CHARS:]
    return text


def run_hook(
    kind: str,
    cmd: str,
    *,
    component: str,
    file: str,
    timeout: float,
    stdin_data: bytes | None,
    capture: bool,
) -> bytes:
    """Run a hook (``sh -c CMD``, through :mod:`procrun`, in its own process group, so a
    timeout or Ctrl-C stops all of it); return its stdout when ``capture`` (else its output is
    ours).

    Raises :class:`AgentDocError` on a timeout, a non-zero exit, or when it cannot start.
    """
    import procrun

    env = dict(os.environ, COMPONENT=component, FILE=file)
    argv = ["sh", "-c", cmd]
    out = err = b""
    try:
        if capture:
            done = procrun.run(argv, stdin_data, env=env, timeout=timeout, new_session=True,
                               orphan_guard=False, kill_grace=0.0)
            rc, out, err = done.returncode, done.stdout, done.stderr
        else:
            rc = procrun.run_attached(argv, env=env, timeout=timeout, new_session=True,
                                      kill_grace=0.0)
    except procrun.ProcessTimeout as exc:
        tail = _tail(exc.partial.stderr)
        raise AgentDocError(
            f"{kind} hook timed out after {timeout:g}s and was killed: {cmd}"
            + (f"\nits stderr ended with:\n{tail}" if tail else ""),
            hint=f"make the hook finish sooner, or raise hook_timeout in the [{component}] "
            f"table of components.toml; {file} was not changed"
            if kind == "pre_patch"
            else f"raise hook_timeout in the [{component}] table of components.toml",
        ) from None
    except OSError as exc:
        raise AgentDocError(
            f"{kind} hook for component '{component}' could not start: {exc}",
            hint="check that `sh` is on PATH",
        ) from None
    if rc != 0:
        how = f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"
        tail = _tail(err or b"")
        raise AgentDocError(
            f"{kind} hook failed ({how}): {cmd}" + (f"\nits stderr ended with:\n{tail}" if tail
                                                   else ""),
            hint=f"fix the hook in the [{component}] table of components.toml"
            + (f"; {file} was not changed" if kind == "pre_patch" else ""),
        )
    if capture and err:
        sys.stderr.write(err.decode("utf-8", "replace"))
        sys.stderr.flush()
    return out or b""


def _read_stdin() -> str:
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        say("Reading the new content from stdin (end with Ctrl-D)...")
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgentDocError(
            f"the content on stdin is not valid UTF-8 (byte {exc.start})",
            hint="convert it to UTF-8 (e.g. with iconv)",
        ) from None


def read_doc_text(path: str) -> str:
    """The document's text (strict UTF-8, read once no editor is mid-save). Frontmatter is not
    parsed: components do not need it, and a document whose frontmatter is broken can still
    have its components patched."""
    from agent_doc.document import decode_document, read_document_bytes

    return decode_document(read_document_bytes(path), path)


def patch_file(
    path: str,
    name: str,
    replacement: str,
    *,
    mode: str,
    timestamp: bool,
    max_entries: int,
    update_snapshot: bool,
) -> tuple[str, str]:
    """The locked read-modify-write of the document (and its snapshot). Returns (old, new)."""
    from agent_doc import repair
    from agent_doc.components import ComponentError, apply_patch, utc_stamp
    from agent_doc.document import decode_document, read_document_bytes, replace_document
    from agent_doc.preflight import check_write
    from agent_doc.project import Project
    from agent_doc.snapshot import SnapshotStore
    from safefile import FileLock

    project = Project.for_document(path)
    stamp = utc_stamp()

    def patched(text: str, where: str) -> str:
        return apply_patch(
            text, name, replacement, mode, timestamp=timestamp, max_entries=max_entries,
            path=where, stamp=stamp,
        )

    with FileLock(project.doc_lock_path(path), what=f"document {path}", state_root=project.root):
        # an answer or patch a stale editor save removed is put back first: the record of
        # this patch replaces the one that could
        repair.check(project, path)
        raw = read_document_bytes(path)
        old = decode_document(raw, path)
        new = patched(old, path)
        if not update_snapshot:
            if new != old:
                # an editor save landing between our read and write is merged, never lost
                _trace_patch(path, raw, replace_document(path, raw, new))
            return old, new
        # the document and its snapshot change together, or neither does (a failure after
        # the document was written would make a retry append the entry twice): the snapshot
        # lock is taken and its write proven possible before the document is touched
        store = SnapshotStore(project)
        snap_file = store.path(path)
        on_disk: bytes | None = None
        merged_saves: list[bytes] = []
        txn_cm = store.transaction(path)
        try:
            txn = txn_cm.__enter__()
        except OSError as exc:
            raise _snapshot_error(path, snap_file, exc) from None
        try:
            snap_new: str | None = None
            if txn.text is not None:
                try:
                    snap_new = patched(txn.text, f"snapshot of {path}")
                except ComponentError:
                    snap_new = None  # the snapshot lacks the component: baseline it all
            snap_text = snap_new if snap_new is not None else new
            if snap_text != txn.text:
                try:
                    check_write(snap_file, len(snap_text.encode("utf-8")),
                                state_root=project.root)
                except OSError as exc:
                    raise _snapshot_error(path, snap_file, exc) from None
            if new != old:
                on_disk = replace_document(path, raw, new, merged_saves=merged_saves)
                _trace_patch(path, raw, on_disk)
            txn.set(snap_text)
        except BaseException as exc:
            txn_cm.__exit__(type(exc), exc, exc.__traceback__)  # nothing is written
            raise
        try:
            txn_cm.__exit__(None, None, None)
        except OSError as exc:
            from agent_doc.errors import os_cause, os_hint

            say(f"warning: the patch is written to {path}, but its snapshot could not be "
                f"updated: {os_cause(exc, snap_file)}; the patch shows up as a change in the "
                f"next diff\nhint: {os_hint(exc, snap_file)}")
        else:
            if on_disk is not None:
                # what a later check needs to put the patch back after a stale editor save
                repair.record_patch(
                    project, path, before=old, written=on_disk.decode("utf-8"),
                    merged_saves=[decode_document(b, path) for b in merged_saves],
                    component=name)
    return old, new


def _trace_patch(path: str, raw: bytes, on_disk: bytes) -> None:
    """The stress suite's per-write trace (``AGENT_DOC_TRACE``): what was read and written."""
    from agent_doc import repair

    if repair.tracing():
        repair.trace("patch", path, read=repair.sha_hex(raw), written=repair.sha_hex(on_disk))


def _snapshot_error(path: str, snap_file: str, exc: OSError) -> AgentDocError:
    from agent_doc.errors import os_cause, os_hint

    return AgentDocError(
        f"cannot update the snapshot of {path}: {os_cause(exc, snap_file)}; {path} was not "
        "changed",
        hint=f"{os_hint(exc, snap_file)}, then run the patch again",
    )


def run(args: argparse.Namespace) -> int:
    from agent_doc.components import component_config, find_component
    from agent_doc.project import Project

    path = existing_file(args.file)
    find_component(read_doc_text(path), args.name, path)  # fail before running any hook
    cfg = component_config(Project.for_document(path).components_toml, args.name)
    replacement = args.content if args.content is not None else _read_stdin()
    if cfg.pre_patch:
        out = run_hook(
            "pre_patch", cfg.pre_patch, component=args.name, file=args.file,
            timeout=cfg.hook_timeout, stdin_data=replacement.encode("utf-8"), capture=True,
        )
        try:
            replacement = out.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AgentDocError(
                f"pre_patch hook output is not valid UTF-8 (byte {exc.start}): {cfg.pre_patch}",
                hint=f"make the hook print UTF-8; {args.file} was not changed",
            ) from None
    patch_file(
        path, args.name, replacement, mode=cfg.mode, timestamp=cfg.timestamp,
        max_entries=cfg.max_entries, update_snapshot=not cfg.trigger,
    )
    if cfg.post_patch:
        try:
            run_hook(
                "post_patch", cfg.post_patch, component=args.name, file=args.file,
                timeout=cfg.hook_timeout, stdin_data=None, capture=False,
            )
        except AgentDocError as exc:
            say(f"warning: {exc.message} (the patch itself was written)")
    say(f"Patched component '{args.name}' in {args.file} (mode: {cfg.mode})")
    return 0
