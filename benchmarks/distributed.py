"""Remote workers on PostgreSQL: 1 `baton serve --no-worker` and 1, 2 or 4 `baton worker`s.

For each worker count (BENCH_DIST_WORKERS, default 1,2,4): trigger-to-result latency of
sequential no-op runs (p50/p99),
throughput of BENCH_DIST_RUNS (default 2,000) no-op runs triggered at once, and PostgreSQL
transactions per run (``pg_stat_database.xact_commit`` of the benchmark's own database).
Prints a note and measures nothing if PostgreSQL is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
from harness import BATON, HERE, free_port, percentile, summary

from baton import BatonAsync
from baton.api.app import hash_token
from baton.store import open_store
from postgres import ADMIN_URL, _admin, _commits

RUNS = int(os.environ.get("BENCH_DIST_RUNS", "2000"))
LATENCY_RUNS = 50
WORKER_COUNTS = tuple(int(n) for n in os.environ.get("BENCH_DIST_WORKERS", "1,2,4").split(","))
SLOTS = 10


@contextlib.contextmanager
def _cluster(db_url: str, token: str, workers: int) -> Iterator[str]:
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "BATON_API_KEY": token, "BATON_CACHE_DIR": f"{tmp}/cache"}
        log = open(f"{tmp}/cluster.log", "w")  # noqa: SIM115
        try:
            procs.append(
                subprocess.Popen(
                    [
                        BATON,
                        "serve",
                        "--no-worker",
                        "--app",
                        str(HERE / "workflows.py"),
                        "--name",
                        "bench",
                        "--port",
                        str(port),
                        "--db",
                        db_url,
                        "--concurrency",
                        str(SLOTS * workers),
                    ],
                    stdout=log,
                    stderr=log,
                    env=env,
                )
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            for _ in range(workers):
                procs.append(
                    subprocess.Popen(
                        [BATON, "worker", "--server", url, "--slots", str(SLOTS)],
                        stdout=log,
                        stderr=log,
                        env=env,
                    )
                )
            yield url
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            log.close()


async def _measure(url: str, token: str, database: str) -> tuple[list[float], float, float]:
    async with BatonAsync(base_url=url, token=token) as client:
        for _ in range(5):  # warm zygotes and connections
            await client.workflows.run_task("bench/noop")
        latencies = []
        for _ in range(LATENCY_RUNS):
            t0 = time.perf_counter()
            await client.workflows.run_task("bench/noop")
            latencies.append((time.perf_counter() - t0) * 1000)
        before = _commits(database)
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(32)

        async def trigger() -> str:
            async with sem:
                return (await client.workflows.start_task("bench/noop")).id

        ids = await asyncio.gather(*(trigger() for _ in range(RUNS)))
        for i in range(0, len(ids), 500):
            async for _ in client.workflows.task_run_events(ids[i : i + 500]):
                pass
        rate = RUNS / (time.perf_counter() - t0)
        per_run = (_commits(database) - before) / RUNS
    return latencies, rate, per_run


async def main() -> dict[str, float]:
    try:
        import psycopg
    except ImportError:
        print("distributed  skipped: psycopg is not installed")
        return {}
    results: dict[str, float] = {}
    for workers in WORKER_COUNTS:
        database = f"baton_bench_dist_{secrets.token_hex(4)}"
        try:
            _admin(f'CREATE DATABASE "{database}"')
        except psycopg.Error as exc:
            print(f"distributed  skipped: cannot reach {ADMIN_URL}: {exc}".strip())
            return results
        db_url = urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{database}"))
        try:
            token = "bat_" + secrets.token_urlsafe(16)
            store = open_store(db_url)
            store.add_token("bench", hash_token(token))
            store.close()
            with _cluster(db_url, token, workers) as url:
                latencies, rate, per_run = await _measure(url, token, database)
        finally:
            _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        print(
            f"distributed  1 server + {workers} worker(s): latency {summary(latencies)}; "
            f"{RUNS} runs at once: {rate:.0f} runs/s, {per_run:.1f} PostgreSQL transactions/run"
        )
        results[f"dist_{workers}w_latency_p50_ms"] = percentile(latencies, 50)
        results[f"dist_{workers}w_latency_p99_ms"] = percentile(latencies, 99)
        results[f"dist_{workers}w_runs_per_s"] = rate
        results[f"dist_{workers}w_transactions_per_run"] = per_run
    return results


if __name__ == "__main__":
    for key, value in asyncio.run(main()).items():
        print(f"  {key:32s} {value:10.2f}")
