"""The dashboard over a real engine (``examples/squares.py``) through ``httpx.ASGITransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from baton.server import Engine


def page_client(engine: Engine, *, require_token: bool = False) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=engine.asgi(require_token=require_token))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with page_client(engine) as c:
        yield c


@pytest.fixture
async def locked(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with page_client(engine, require_token=True) as c:
        yield c
