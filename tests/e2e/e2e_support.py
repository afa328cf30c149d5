"""Bounded polling for the end-to-end tests (no sleeps as assertions)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

from baton.core.models import Run
from baton.server import Engine

T = TypeVar("T")

#: ``await start_engine("chain_flows", concurrency=4)`` (the conftest fixture).
StartEngine = Callable[..., Awaitable[Engine]]


async def poll(
    check: Callable[[], T], *, timeout_s: float, what: str, interval_s: float = 0.02
) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"gave up after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)


async def final_run(engine: Engine, run_id: str, *, timeout_s: float = 30.0) -> Run:
    """The run once it is final, with its attempts; fails if it is not final in time."""
    run = await engine.services.wait_final(run_id, timeout_s)
    assert run.status.is_final, f"run {run_id} still {run.status} after {timeout_s} s"
    return engine.services.get_run(run_id)


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
