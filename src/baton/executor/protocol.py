"""The engine's side of the worker protocol: HTTP/1.1 on one Unix socket per attempt.

Routes (``docs/worker-protocol.md``): ``GET /input``, ``POST /callback``, ``POST /run-subtask``,
``POST /get-subtask-result``, ``POST /register-tasks``. Answers are JSON; failures are
``{"message": ...}`` with 400, 404, 409, 413 or 500. Garbage on the socket closes that
connection only: the attempt and the engine carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11

from baton.errors import BatonError, InvalidTransition, RunNotFound, TaskNotFound

log = logging.getLogger("baton.executor")

PROTOCOL_VERSION = 1
MAX_BODY = 4 * 1024 * 1024 + 64 * 1024  # 4 MiB of payload plus its JSON envelope
IDLE_TIMEOUT_S = 60.0


class ProtocolError(BatonError):
    """A worker-protocol request was malformed."""

    status = 400


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or None for GET
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case


Handler = Callable[[Request], Awaitable[Any]]

_STATUS = (
    (ProtocolError, 400),
    (TaskNotFound, 404),
    (RunNotFound, 404),
    (InvalidTransition, 409),
)


def _status_for(exc: BaseException) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


class AttemptServer:
    """Serves one attempt's socket; ``routes`` maps ``(method, path)`` to a handler."""

    def __init__(self, path: str, routes: dict[tuple[str, str], Handler]) -> None:
        self.path = path
        self._routes = routes
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        # A parent gathering hundreds of children opens that many connections at once.
        self._server = await asyncio.start_unix_server(self._serve, path=self.path, backlog=1024)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._conns):
            task.cancel()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while await self._one_request(conn, reader, writer):
                conn.start_next_cycle()
        except (h11.ProtocolError, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _next_event(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(IDLE_TIMEOUT_S):  # no task per read, unlike wait_for
                data = await reader.read(65536)
            conn.receive_data(data)
            if not data and conn.their_state is h11.IDLE:
                return h11.ConnectionClosed()

    async def _one_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        event = await self._next_event(conn, reader)
        if not isinstance(event, h11.Request):
            return False
        target = urlsplit(event.target.decode("latin-1"))
        method = event.method.decode("ascii").upper()
        body = bytearray()
        too_big = False
        while True:
            part = await self._next_event(conn, reader)
            if isinstance(part, h11.Data):
                if len(body) + len(part.data) > MAX_BODY:
                    too_big = True
                else:
                    body += part.data
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                return False
        if too_big:
            status, payload = 413, {"message": "request body is larger than 4 MiB"}
        else:
            received = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            status, payload = await self._dispatch(
                method, target.path, target.query, bytes(body), received
            )
        data = json.dumps(payload).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        # One write, one send(2): three would cost three system calls on an idle transport.
        writer.write(
            (conn.send(h11.Response(status_code=status, headers=headers)) or b"")
            + (conn.send(h11.Data(data=data)) or b"")
            + (conn.send(h11.EndOfMessage()) or b"")
        )
        await writer.drain()
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _dispatch(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        handler = self._routes.get((method, path))
        if handler is None:
            known = {p for _, p in self._routes}
            if path in known:
                return 405, {"message": f"{method} is not allowed on {path}"}
            return 404, {"message": f"no such endpoint: {method} {path}"}
        try:
            parsed = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError) as exc:
            return 400, {"message": f"request body is not valid JSON: {exc}"}
        if method == "POST" and not isinstance(parsed, dict):
            return 400, {"message": "request body must be a JSON object"}
        request = Request(method, path, dict(parse_qsl(query)), parsed, headers)
        try:
            result = await handler(request)
        except Exception as exc:
            status = _status_for(exc)
            if status == 500:
                log.exception("worker protocol handler failed: %s %s", method, path)
            return status, {"message": str(exc) or type(exc).__name__}
        return 200, result if result is not None else {}
