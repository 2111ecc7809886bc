"""A minimal, synchronous msgpack-RPC client for Neovim's ``--listen`` socket, with a
deadline on every call.

Why not pynvim (the field's library): importing it costs ~88 ms (asyncio, greenlet) against
~6 ms for ``msgpack``, and its requests have no timeout — a frozen editor (SIGSTOP) would hang
the write-back forever unless the call ran in a thread. The write-back needs two request kinds
(``nvim_exec_lua`` and ``nvim_get_api_info``-style calls) and a hard bound; this client is a
socket, a packer and an unpacker. Notifications Neovim may send in between are skipped.
"""

from __future__ import annotations

import os
import socket
import time

import msgpack

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2


class EditorGone(OSError):
    """The editor's socket is gone, refused us, or closed the connection."""


class EditorTimeout(TimeoutError):
    """The editor did not answer before the deadline (frozen, or busy with a modal prompt)."""


class EditorError(RuntimeError):
    """The editor answered with an error (e.g. a Lua error in the plugin)."""


class Client:
    """One connection to one Neovim; ``call`` sends a request and waits for its answer."""

    def __init__(self, address: str, *, deadline: float) -> None:
        self.address = address
        self._next_id = 0
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self._sock = self._connect(address, deadline)

    @staticmethod
    def _connect(address: str, deadline: float) -> socket.socket:
        if os.path.sep in address or not _is_tcp(address):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: Any = address
        else:
            host, _, port = address.rpartition(":")
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            sock.connect(target)
        except TimeoutError:
            sock.close()
            raise EditorTimeout(f"the editor at {address} did not accept a connection") from None
        except OSError as exc:
            sock.close()
            raise EditorGone(f"the editor at {address} is gone ({exc.strerror or exc})") from None
        return sock

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, *params: Any, deadline: float) -> Any:
        self._next_id += 1
        msgid = self._next_id
        data = msgpack.packb([REQUEST, msgid, method, list(params)], use_bin_type=True)
        try:
            self._sock.settimeout(max(0.001, deadline - time.monotonic()))
            self._sock.sendall(data)
            while True:
                for msg in self._unpacker:
                    if (isinstance(msg, list) and len(msg) == 4 and msg[0] == RESPONSE
                            and msg[1] == msgid):
                        if msg[2] is not None:
                            raise EditorError(_error_text(msg[2]))
                        return msg[3]
                    # notifications, or an answer to a request we gave up on: skip
                # (a reply that does not decode — e.g. a buffer with bytes that are not UTF-8 —
                # raises EditorError below: the caller takes the disk path)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EditorTimeout(f"the editor at {self.address} did not answer {method}")
                self._sock.settimeout(remaining)
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise EditorGone(f"the editor at {self.address} closed the connection")
                self._unpacker.feed(chunk)
        except TimeoutError:
            raise EditorTimeout(
                f"the editor at {self.address} did not answer {method} in time"
            ) from None
        except (BrokenPipeError, ConnectionError) as exc:
            raise EditorGone(f"the editor at {self.address} is gone ({exc})") from None
        except (UnicodeDecodeError, ValueError, msgpack.UnpackException) as exc:
            self.close()  # the stream is out of step now
            raise EditorError(f"unreadable reply from the editor at {self.address}: {exc}"
                              ) from None

    def exec_lua(self, code: str, args: list[Any], *, deadline: float) -> Any:
        return self.call("nvim_exec_lua", code, args, deadline=deadline)


def _is_tcp(address: str) -> bool:
    host, sep, port = address.rpartition(":")
    return bool(sep and host and port.isdigit())


def _error_text(err: Any) -> str:
    if isinstance(err, list) and len(err) >= 2:
        return str(err[1])
    return str(err)
