"""A busy remote worker claims its next attempts with the reports that free its slots
(``/attempts/reports`` with ``claim``), instead of a claim call of its own per slot."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import httpx
from e2e_support import final_run

from baton.core.models import RunStatus
from baton.server import Engine, Target
from baton.services import EngineConfig
from baton.worker.agent import Worker
from baton.worker.http_link import HttpLink

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPORTS = "/v1/workers/attempts/reports"


class Recorder(httpx.AsyncBaseTransport):
    """Forwards to the app; keeps the run ids each ``/attempts/reports`` answer claimed."""

    def __init__(self, app: httpx.AsyncBaseTransport) -> None:
        self.app = app
        self.claimed_along: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.app.handle_async_request(request)
        if request.url.path == REPORTS:
            body = json.loads(await response.aread())
            self.claimed_along += [c["run"]["id"] for c in body.get("claims", ())]
        return response


async def test_a_busy_remote_worker_claims_its_next_attempt_with_each_report(
    tmp_path: Path,
) -> None:
    engine = Engine(
        f"sqlite:///{tmp_path / 'baton.db'}",
        config=EngineConfig(concurrency=20),
        worker=False,
        scheduler=False,
    )
    await engine.start()
    wire = Recorder(httpx.ASGITransport(app=engine.asgi(require_token=False)))
    link = HttpLink(["http://test"], None, transport=wire)
    # The outcome always waits for its process's exit, so that every report frees the slot.
    worker = Worker(link, slots=1, claim_wait_s=0.5, finish_grace_s=30.0)
    try:
        await engine.register(Target.app(str(FIXTURES / "chain_flows.py")), "chain_flows")
        runs = [engine.services.start_run("chain_flows/calculate_square", [i]).id for i in range(5)]
        loop = asyncio.create_task(worker.run())
        done = [await final_run(engine, r, timeout_s=60) for r in runs]
    finally:
        await worker.stop()
        await link.aclose()
        await engine.stop()
    loop.cancel()

    assert [r.status for r in done] == [RunStatus.COMPLETED] * 5
    # The first run came with the worker's own claim; each later one with the previous one's
    # report, whose outcome freed the worker's one slot.
    assert wire.claimed_along == runs[1:]
    attempts = sorted((r.attempts[0] for r in done), key=lambda a: a.started_at)
    for earlier, later in itertools.pairwise(attempts):
        assert earlier.completed_at is not None
        assert later.started_at >= earlier.completed_at  # never two at once in one slot
