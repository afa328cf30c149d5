"""Two servers on one database: a run started on one, executed by the other's worker, is seen
final on the first by its waiters and its SSE stream. On PostgreSQL, a cancel on one kills
the other's attempt process at once (SQLite, one server per file, relies on heartbeats).

On PostgreSQL only LISTEN/NOTIFY can tell server A (its poll is set to an hour); on SQLite,
which has no notifications, A's safety-net poll does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from e2e_support import poll, process_gone

from baton.core.models import RunStatus
from baton.server import Engine, Target
from baton.services import EngineConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: Long enough that only a notification (or on SQLite the fast poll) can explain a prompt
#: result: heartbeats come every lease_s / 3.
CONFIG = EngineConfig(lease_s=180.0)

Servers = Callable[[str], Awaitable[tuple[Engine, Engine]]]


@contextlib.asynccontextmanager
async def two_servers(url: str) -> AsyncIterator[Servers]:
    engines: list[Engine] = []

    async def start(workflow: str) -> tuple[Engine, Engine]:
        a = Engine(url, config=CONFIG, worker=False)
        engines.append(a)
        a.services.start_watching(poll_s=0.2 if url.startswith("sqlite") else 3600)
        await a.start()
        b = Engine(url, config=CONFIG)
        engines.append(b)
        await b.start()
        path = EXAMPLES / "squares.py" if workflow == "squares" else FIXTURES / f"{workflow}.py"
        await b.register(Target.app(str(path)), workflow)
        return a, b

    try:
        yield start
    finally:
        for engine in reversed(engines):
            await engine.stop()


@pytest.fixture
async def servers(store_url: str) -> AsyncIterator[Servers]:
    """``a, b = await servers("squares")``: A without a worker, B with one, one database."""
    async with two_servers(store_url) as start:
        yield start


async def test_run_started_on_a_completes_on_b_and_a_waiter_sees_it_final(
    servers: Servers,
) -> None:
    a, _ = await servers("squares")

    run = a.services.start_run("squares/sum_squares", [3, 4])
    # wait_final's own timeout would re-read the store; only a wake-up may end this wait
    final = await asyncio.wait_for(a.services.wait_final(run.id, 3600), 30)

    assert final.status == RunStatus.COMPLETED
    assert a.services.get_run(run.id).attempts[0].worker_id != ""


async def test_sse_on_a_reports_a_run_finished_by_b(servers: Servers) -> None:
    a, _ = await servers("squares")
    transport = httpx.ASGITransport(app=a.asgi(require_token=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
        started = await client.post(
            "/v1/task-runs", json={"task": "squares/sum_squares", "input": [3, 4]}
        )
        run_id = started.json()["id"]

        response = await asyncio.wait_for(
            client.get("/v1/task-runs/events", params={"taskRunIds": run_id}), 30
        )

    events = [b for b in response.text.split("\n\n") if b.startswith("event: task.completed")]
    assert len(events) == 1
    payload = json.loads(events[0].split("data: ", 1)[1])
    assert (payload["id"], payload["status"], payload["results"]) == (run_id, "completed", [25])


@pytest.mark.postgres
async def test_cancel_on_a_kills_the_attempt_process_running_on_b(
    pg_url: str, tmp_path: Path
) -> None:
    async with two_servers(pg_url) as servers:
        await _cancel_on_a_kills_on_b(servers, tmp_path)


async def _cancel_on_a_kills_on_b(servers: Servers, tmp_path: Path) -> None:
    a, b = await servers("fanout_flows")
    root = a.services.start_run("fanout_flows/naps", [str(tmp_path), 0])

    def pid() -> int | None:
        run = b.services.get_run(root.id)
        return run.attempts[-1].pid if run.attempts else None

    running_pid = await poll(pid, timeout_s=30, what="the attempt process on B")
    a.services.cancel_run(root.id)

    await poll(lambda: process_gone(running_pid), timeout_s=20, what="B to kill the process")
    assert b.services.get_run(root.id).status == RunStatus.CANCELED
