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
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httptools

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
        self._conns: set[_Connection] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        # A parent gathering hundreds of children opens that many connections at once.
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: _Connection(self), path=self.path, backlog=1024
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            conn.abort()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

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


@dataclass(frozen=True)
class _Incoming:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    too_big: bool
    keep_alive: bool


class _Connection(asyncio.Protocol):
    """One client connection: ``httptools`` parses (in C, no task per read), and requests are
    answered one at a time, in order. Bytes that are not HTTP close this connection only."""

    def __init__(self, server: AttemptServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[_Incoming] = deque()
        self._answering: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._eof = False
        self._target = b""
        self._headers: dict[str, str] = {}
        self._body = bytearray()
        self._too_big = False

    # the transport's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server._conns.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._conns.discard(self)
        self._transport = None  # an answer still being computed is not written
        if self._idle is not None:
            self._idle.cancel()

    def data_received(self, data: bytes) -> None:
        self._arm_idle()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()

    def eof_received(self) -> bool:
        self._eof = True  # the client is done sending; answer what it asked, then close
        if self._answering is None:
            self.abort()
        return True

    def abort(self) -> None:
        if self._answering is not None:
            self._answering.cancel()
        if self._transport is not None:
            self._transport.close()

    def _arm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(IDLE_TIMEOUT_S, self._on_idle)

    def _on_idle(self) -> None:
        if self._answering is None:  # a long poll being answered is not idleness
            self.abort()

    # the parser's callbacks

    def on_message_begin(self) -> None:
        self._target, self._headers, self._body, self._too_big = b"", {}, bytearray(), False

    def on_url(self, url: bytes) -> None:
        self._target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self._headers.get("expect", "").lower() == "100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._too_big or len(self._body) + len(body) > MAX_BODY:
            self._too_big, self._body = True, bytearray()
        else:
            self._body += body

    def on_message_complete(self) -> None:
        self._queue.append(
            _Incoming(
                method=self._parser.get_method().decode("ascii", "replace").upper(),
                target=self._target.decode("latin-1"),
                headers=self._headers,
                body=bytes(self._body),
                too_big=self._too_big,
                keep_alive=self._parser.should_keep_alive(),
            )
        )
        if self._answering is None:
            self._answering = asyncio.get_running_loop().create_task(self._answer())
        elif self._transport is not None:
            self._transport.pause_reading()  # pipelined: one waits, the rest stay in the socket

    # answering

    async def _answer(self) -> None:
        try:
            while self._queue and self._transport is not None:
                request = self._queue.popleft()
                if request.too_big:
                    status, payload = 413, {"message": "request body is larger than 4 MiB"}
                else:
                    target = urlsplit(request.target)
                    status, payload = await self._server._dispatch(
                        request.method, target.path, target.query, request.body, request.headers
                    )
                data = json.dumps(payload).encode()
                head = (
                    f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                    + ("" if request.keep_alive else "Connection: close\r\n")
                    + "\r\n"
                )
                transport = self._transport
                if transport is None:  # the client left while its answer was computed
                    return
                transport.write(head.encode("latin-1") + data)  # one send(2)
                if not request.keep_alive:
                    transport.close()
                    return
                transport.resume_reading()
        finally:
            self._answering = None
        self._arm_idle()
        if self._eof and self._transport is not None:
            self._transport.close()
