"""Exercise the attempt path in a process that will fork attempts (a zygote).

A freshly forked child pays for every first use of lazily built state (regex caches, codec
lookups, event-loop plumbing, the interpreter's specialized bytecode). Running real attempts
in the parent first (plain and ``async def`` tasks) against a canned engine on a throw-away
socket moves that cost out of every child. The canned engine is a short-lived thread, joined
before this returns, so the zygote forks with a single thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator

from baton.core.models import TaskOptions
from baton.sdk import runtime
from baton.sdk.task import TaskSpec

__all__ = ["warm_up"]

_SYNC = "__baton_warm_up__"
_ASYNC = "__baton_warm_up_async__"
_INPUT = {"input": "W10=", "task_run_id": "w", "root_task_run_id": "w"}
#: Attempts of each kind. CPython (3.11+) specializes a function's bytecode only once it has
#: run a few times, and until then every call writes to its code object: run once, every
#: forked attempt would copy those pages again.
_ROUNDS = 8


def _noop() -> None:
    return None


async def _async_noop() -> None:
    return None


def _read_request(conn_sock: socket.socket, buffer: bytes) -> tuple[str, bytes] | None:
    """The next request's target, and what was read past it; ``None`` once the client closed.

    Only what the SDK's own client sends: a head, then a ``Content-Length`` body.
    """
    while b"\r\n\r\n" not in buffer:
        chunk = conn_sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(buffer) < length:
        chunk = conn_sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    return lines[0].split(" ")[1], buffer[length:]


def _answer(conn_sock: socket.socket, task_names: list[str]) -> None:
    """Answer requests on one connection (kept alive or not) until the client closes it."""
    buffer = b""
    with conn_sock:
        while (request := _read_request(conn_sock, buffer)) is not None:
            target, buffer = request
            path = target.partition("?")[0]
            answer = {"task_name": task_names.pop(0), **_INPUT} if path == "/input" else {}
            body = json.dumps(answer).encode()
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            conn_sock.sendall(head.encode("latin-1") + body)


def _serve(listener: socket.socket, task_names: list[str]) -> None:
    with contextlib.suppress(OSError):  # the listener closes when the warm-up is over
        while True:
            conn_sock, _ = listener.accept()
            _answer(conn_sock, task_names)


def warm_up() -> None:
    """Run a few plain and ``async def`` no-op attempts in this process.

    Call it in the zygote before forking, outside any running event loop.
    """
    registry = {
        _SYNC: TaskSpec(_noop, name=_SYNC, options=TaskOptions()),
        _ASYNC: TaskSpec(_async_noop, name=_ASYNC, options=TaskOptions()),
    }
    with _listener() as (listener, path):
        listener.listen(4)
        listener.settimeout(10)
        server = threading.Thread(target=_serve, args=(listener, [_SYNC, _ASYNC] * _ROUNDS))
        server.start()
        try:
            for _ in range(_ROUNDS):
                runtime.run_attempt(registry, path)
                runtime.run_attempt(registry, path)
        finally:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            server.join(10)


@contextlib.contextmanager
def _listener() -> Iterator[tuple[socket.socket, str]]:
    """A Unix socket bound to a fresh address, and that address.

    On Linux an abstract address (no file, so no ``tempfile`` and what it imports in the
    zygote); elsewhere a socket file in a temporary directory.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        if sys.platform.startswith("linux"):
            path = f"\0baton-warm-up-{os.getpid()}-{os.urandom(8).hex()}"
            listener.bind(path)
            yield listener, path
            return
        import tempfile

        with tempfile.TemporaryDirectory(prefix="baton-warm-") as directory:
            path = os.path.join(directory, "w.sock")
            listener.bind(path)
            yield listener, path
