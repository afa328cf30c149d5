"""An ``httpx.AsyncClient`` over the real engine's ASGI app (auth off unless asked)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from baton.server import Engine


def asgi_client(engine: Engine, *, require_token: bool = False) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=engine.asgi(require_token=require_token))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(engine) as c:
        yield c


@pytest.fixture
async def locked_client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with ``require_token=True``; it sends no token by default."""
    async with asgi_client(engine, require_token=True) as c:
        yield c
