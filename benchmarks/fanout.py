"""A parent gathering 500 chained no-op children, trigger to result."""

from __future__ import annotations

import asyncio
import time

from harness import server

from baton import BatonAsync

CHILDREN = 500


async def main() -> dict[str, float]:
    with server() as (url, _db):
        async with BatonAsync(base_url=url) as client:
            await client.workflows.run_task("bench/fan_out", [2])
            t0 = time.perf_counter()
            details = await client.workflows.run_task("bench/fan_out", [CHILDREN])
            elapsed = time.perf_counter() - t0
    assert details.results == [CHILDREN], details
    print(f"fan-out  a parent gathering {CHILDREN} children: {elapsed:.2f}s")
    return {"fanout_500_s": elapsed}


if __name__ == "__main__":
    asyncio.run(main())
