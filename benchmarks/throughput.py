"""Throughput: 2,000 no-op runs triggered at once over the REST API, each in its own process."""

from __future__ import annotations

import asyncio
import os
import time

from harness import server

from baton import BatonAsync

RUNS = int(os.environ.get("BENCH_RUNS", "2000"))


async def main() -> dict[str, float]:
    with server() as (url, _db):
        async with BatonAsync(base_url=url) as client:
            await client.workflows.run_task("bench/noop")
            t0 = time.perf_counter()
            sem = asyncio.Semaphore(32)

            async def trigger() -> str:
                async with sem:
                    return (await client.workflows.start_task("bench/noop")).id

            ids = await asyncio.gather(*(trigger() for _ in range(RUNS)))
            triggered = time.perf_counter() - t0
            done = 0
            for i in range(0, len(ids), 500):
                async for _ in client.workflows.task_run_events(ids[i : i + 500]):
                    done += 1
            elapsed = time.perf_counter() - t0
    rate = RUNS / elapsed
    print(
        f"throughput  {RUNS} no-op runs: all triggered in {triggered:.2f}s, all completed in "
        f"{elapsed:.2f}s = {rate:.0f} runs/s ({done} completion events)"
    )
    return {"throughput_runs_per_s": rate}


if __name__ == "__main__":
    asyncio.run(main())
