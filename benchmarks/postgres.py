"""`baton dev --db postgresql://…`: trigger-to-result latency and throughput on PostgreSQL.

100 sequential no-op runs (p50/p99 latency), then 1,000 runs triggered at once (throughput),
and the PostgreSQL transactions committed per run (``pg_stat_database.xact_commit``, every
session of the benchmark's own database: API, worker, LISTEN). Uses a fresh database on
``BATON_BENCH_POSTGRES_URL`` (default: the local server), dropped afterwards; prints a note
and measures nothing if PostgreSQL is unreachable.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

from harness import percentile, server, summary

from baton import BatonAsync

ADMIN_URL = os.environ.get(
    "BATON_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LATENCY_RUNS = 100
THROUGHPUT_RUNS = int(os.environ.get("BENCH_PG_RUNS", "1000"))


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _commits(database: str) -> int:
    import psycopg

    time.sleep(1.2)  # backends flush their statistics about once a second
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)
        ).fetchone()
    return int(row[0]) if row else 0


async def _latency(client: BatonAsync) -> list[float]:
    for _ in range(5):  # warm the zygote and the connection
        await client.workflows.run_task("bench/noop")
    latencies = []
    for _ in range(LATENCY_RUNS):
        t0 = time.perf_counter()
        await client.workflows.run_task("bench/noop")
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


async def _throughput(client: BatonAsync) -> float:
    t0 = time.perf_counter()
    sem = asyncio.Semaphore(32)

    async def trigger() -> str:
        async with sem:
            return (await client.workflows.start_task("bench/noop")).id

    ids = await asyncio.gather(*(trigger() for _ in range(THROUGHPUT_RUNS)))
    for i in range(0, len(ids), 500):
        async for _ in client.workflows.task_run_events(ids[i : i + 500]):
            pass
    return THROUGHPUT_RUNS / (time.perf_counter() - t0)


async def main() -> dict[str, float]:
    try:
        import psycopg
    except ImportError:
        print("postgres  skipped: psycopg is not installed (pip install -e '.[dev]')")
        return {}
    database = f"baton_bench_{secrets.token_hex(4)}"
    try:
        _admin(f'CREATE DATABASE "{database}"')
    except psycopg.Error as exc:
        print(f"postgres  skipped: cannot reach {ADMIN_URL}: {exc}".strip())
        return {}
    url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{database}"))
    try:
        with server(db_url=url) as (base, _db):
            async with BatonAsync(base_url=base) as client:
                latencies = await _latency(client)
                before = _commits(database)
                rate = await _throughput(client)
                per_run = (_commits(database) - before) / THROUGHPUT_RUNS
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(f"postgres  latency, {LATENCY_RUNS} sequential no-op runs: {summary(latencies)}")
    print(
        f"postgres  throughput, {THROUGHPUT_RUNS} no-op runs at once: {rate:.0f} runs/s, "
        f"{per_run:.1f} PostgreSQL transactions per run"
    )
    return {
        "pg_latency_p50_ms": percentile(latencies, 50),
        "pg_latency_p99_ms": percentile(latencies, 99),
        "pg_throughput_runs_per_s": rate,
        "pg_transactions_per_run": per_run,
    }


if __name__ == "__main__":
    asyncio.run(main())
