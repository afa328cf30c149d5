"""A worker's requests never queue behind its long polls: with more waiting parents than a
default connection pool holds, heartbeats (lease renewals) and other calls still go out at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from baton.worker.http_link import HttpLink

WAITERS = 150  # more than httpx's and aiohttp's default pool of 100 connections


async def _wait(request: Request) -> JSONResponse:
    await asyncio.sleep(6.0)  # a child that is still running
    return JSONResponse({"message": "still running"}, status_code=404)


async def _heartbeat(request: Request) -> JSONResponse:
    return JSONResponse({"attempts": [], "lease_s": 30})


@pytest.fixture
def server_url() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/v1/workers/children/wait", _wait, methods=["POST"]),
            Route("/v1/workers/heartbeat", _heartbeat, methods=["POST"]),
        ]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


async def test_heartbeat_is_not_held_up_by_long_polls(server_url: str) -> None:
    link = HttpLink([server_url], None)
    try:
        waits = [
            asyncio.ensure_future(link.wait_child("trn-root", f"trn-{i}", 6.0))
            for i in range(WAITERS)
        ]
        await asyncio.sleep(0.5)  # every long poll is in flight
        # It must not wait for a long poll to end (6 s): that would cost the worker its leases.
        assert await asyncio.wait_for(link.heartbeat("wrk-1"), timeout=4.0) == []
        results = await asyncio.gather(*waits, return_exceptions=True)
        assert len(results) == WAITERS
    finally:
        await link.aclose()
