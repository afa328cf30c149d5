"""Workflows the benchmarks run."""

from __future__ import annotations

import asyncio

from baton import Workflows

app = Workflows()


@app.task
def noop() -> None:
    return None


@app.task
async def fan_out(n: int) -> int:
    await asyncio.gather(*(noop() for _ in range(n)))
    return n
