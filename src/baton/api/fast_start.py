"""``POST /v1/task-runs`` without the framework's per-request machinery, for the common case.

Starting runs is the API's hottest request. This middleware answers a well-formed JSON start
request itself: the same validation, the same ``Services.start_run`` and the same 202 body as
the FastAPI route in ``routes/task_runs.py``, at about a third of the framework's cost. Anything
it is not sure of (another content type, a body that does not validate) goes on to that route,
with the body replayed, so errors keep one source: the route and its exception handlers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baton import errors
from baton.api import schemas
from baton.services import Services

PATH = "/v1/task-runs"
MAX_KEY = 255  # schemas.StartTaskRun.idempotencyKey


class FastStart:
    """ASGI middleware: answers well-formed ``POST /v1/task-runs``; passes on the rest."""

    def __init__(
        self,
        app: ASGIApp,
        services: Services,
        on_error: Callable[[errors.BatonError], Response],
    ) -> None:
        self.app = app
        self.services = services
        self.on_error = on_error  # the app's answer to a BatonError, as its routes give it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        body, more = await _read_body(receive)
        start = None if more else _parse(headers, body)
        if start is None:
            await self.app(scope, _replay(body, more, receive), send)
            return
        task, value, key = start
        try:
            run = await self.services.submit_run(task, value, idempotency_key=key)
        except errors.BatonError as exc:
            response: Response = self.on_error(exc)
        else:
            response = JSONResponse(schemas.task_run(run, details=True), status_code=202)
        await response(scope, receive, send)


def _parse(
    headers: dict[bytes, bytes], body: bytes
) -> tuple[str, list[Any] | dict[str, Any] | None, str | None] | None:
    """``(task, input, idempotency key)`` of a body the route would accept; else ``None``."""
    if headers.get(b"content-type", b"").split(b";")[0].strip() != b"application/json":
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    task, value, key = data.get("task"), data.get("input"), data.get("idempotencyKey")
    if not isinstance(task, str) or len(task) < 3:
        return None
    if value is not None and not isinstance(value, list | dict):
        return None
    if key is None:
        header = headers.get(b"idempotency-key")
        key = header.decode("latin-1") if header is not None else None
    elif not isinstance(key, str) or len(key) > MAX_KEY:
        return None
    return task, value, key


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, read whole unless it passes 64 KiB (then ``more`` is ``True`` and
    the rest is left to the route, whose limits and errors apply)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True  # a disconnect: let the route see it
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > 64 * 1024:
            return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` again first, then what is left of the request."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replayed
