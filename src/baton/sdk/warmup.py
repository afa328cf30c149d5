"""Exercise the attempt path once in a process that will fork attempts (a zygote).

A freshly forked child pays for every first use of lazily built state (regex caches, codec
lookups, event-loop plumbing). Running one real attempt in the parent first, against a canned
engine on a throw-away socket, moves that cost out of every child.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile

import h11

from baton.core.models import TaskOptions
from baton.sdk import runtime
from baton.sdk.task import TaskSpec

__all__ = ["warm_up"]

_TASK = "__baton_warm_up__"
_ANSWERS = {
    "/input": {"task_name": _TASK, "input": "W10=", "task_run_id": "w", "root_task_run_id": "w"},
    "/callback": {},
}


def _noop() -> None:
    return None


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    conn = h11.Connection(h11.SERVER)
    target = "/"
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Request):
            target = event.target.decode().partition("?")[0]
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    body = json.dumps(_ANSWERS.get(target, {})).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    out = conn.send(h11.Response(status_code=200, headers=headers)) or b""
    writer.write(
        out + (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")
    )
    writer.close()


def warm_up() -> None:
    """Run one no-op attempt in this process (call it in the zygote before forking).

    Raises:
        RuntimeError: called from inside a running event loop.
    """
    with tempfile.TemporaryDirectory(prefix="baton-warm-") as directory:
        path = os.path.join(directory, "w.sock")

        async def serve() -> None:
            async with await asyncio.start_unix_server(_answer, path):
                registry = {_TASK: TaskSpec(_noop, name=_TASK, options=TaskOptions())}
                await runtime.attempt(registry, path, 0)

        asyncio.run(serve())
