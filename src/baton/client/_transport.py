"""The HTTP transport of ``BatonAsync`` and of remote workers: aiohttp behind httpx's API.

httpx's own connection pool costs about three times aiohttp's CPU per request (measured on
the benchmark machine: 2.5-3.3 ms against 1.0 ms per ``POST /v1/task-runs``), and a busy
client or worker makes thousands of requests. ``httpx-aiohttp`` adapts aiohttp's client to an
``httpx.AsyncBaseTransport``, so callers keep httpx's API (and may pass any other transport,
as tests do). This wrapper keeps httpx's exception classes for failed connections, which the
adapter reports as connect timeouts.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


class FastTransport(AiohttpTransport):
    """An ``httpx.AsyncBaseTransport`` over an aiohttp session (opened on first use)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            raise _reclassified(exc, request) from exc.__cause__


def _reclassified(exc: httpx.ConnectTimeout, request: httpx.Request) -> httpx.TransportError:
    cause = exc.__cause__
    if cause is None or isinstance(cause, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return exc  # a real timeout
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(cause), request=request)
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(str(cause) or "server disconnected", request=request)
    return httpx.ReadError(str(cause) or type(cause).__name__, request=request)


def fast_transport(max_connections: int | None = 100) -> httpx.AsyncBaseTransport:
    """A new ``FastTransport`` that opens up to ``max_connections`` connections at once
    (``None``: no limit)."""
    if max_connections is not None:
        return FastTransport(limits=httpx.Limits(max_connections=max_connections))
    return FastTransport(
        client=lambda: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    )
