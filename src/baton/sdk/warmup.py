"""Exercise the attempt path once in a process that will fork attempts (a zygote).

A freshly forked child pays for every first use of lazily built state (regex caches, codec
lookups, event-loop plumbing). Running real attempts in the parent first (one plain task, one
``async def`` task) against a canned engine on a throw-away socket moves that cost out of every
child. The canned engine is a short-lived thread, joined before this returns, so the zygote
forks with a single thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading

import h11

from baton.core.models import TaskOptions
from baton.sdk import runtime
from baton.sdk.task import TaskSpec

__all__ = ["warm_up"]

_SYNC = "__baton_warm_up__"
_ASYNC = "__baton_warm_up_async__"
_INPUT = {"input": "W10=", "task_run_id": "w", "root_task_run_id": "w"}


def _noop() -> None:
    return None


async def _async_noop() -> None:
    return None


def _answer(conn_sock: socket.socket, task_names: list[str]) -> None:
    """Answer requests on one connection (kept alive or not) until the client closes it."""
    conn = h11.Connection(h11.SERVER)
    target = "/"
    with conn_sock:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(conn_sock.recv(65536))
            elif isinstance(event, h11.Request):
                target = event.target.decode().partition("?")[0]
            elif isinstance(event, h11.ConnectionClosed):
                return
            elif isinstance(event, h11.EndOfMessage):
                answer = {"task_name": task_names.pop(0), **_INPUT} if target == "/input" else {}
                body = json.dumps(answer).encode()
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
                out = conn.send(h11.Response(status_code=200, headers=headers)) or b""
                out += conn.send(h11.Data(data=body)) or b""
                out += conn.send(h11.EndOfMessage()) or b""
                conn_sock.sendall(out)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()


def _serve(listener: socket.socket, task_names: list[str]) -> None:
    with contextlib.suppress(OSError):  # the listener closes when the warm-up is over
        while True:
            conn_sock, _ = listener.accept()
            _answer(conn_sock, task_names)


def warm_up() -> None:
    """Run one plain and one ``async def`` no-op attempt in this process.

    Call it in the zygote before forking, outside any running event loop.
    """
    registry = {
        _SYNC: TaskSpec(_noop, name=_SYNC, options=TaskOptions()),
        _ASYNC: TaskSpec(_async_noop, name=_ASYNC, options=TaskOptions()),
    }
    with tempfile.TemporaryDirectory(prefix="baton-warm-") as directory:
        path = os.path.join(directory, "w.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(4)
        listener.settimeout(10)
        server = threading.Thread(target=_serve, args=(listener, [_SYNC, _ASYNC]))
        server.start()
        try:
            runtime.run_attempt(registry, path)
            runtime.run_attempt(registry, path)
        finally:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            server.join(10)
