"""Attempt reports of remote workers: ``POST /v1/workers/attempts/reports`` (several attempts
in one call and one transaction) and ``HttpLink.report``, which coalesces into it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from baton.core.models import Claim, Param, Run, RunStatus, TaskDef
from baton.errors import InvalidInput
from baton.server import Engine
from baton.store import Outcome
from baton.worker import http_link
from baton.worker.http_link import HttpLink, ServerUnreachable
from baton.worker.link import Report
from baton.worker.wire import outcome_to_json

ME, OTHER = "wrk-me", "wrk-other"
REPORTS = "/v1/workers/attempts/reports"
OK = outcome_to_json(Outcome(ok=True, output=""))


@dataclass
class Bench:
    """An engine without a worker of its own: the test plays the remote worker."""

    engine: Engine
    client: httpx.AsyncClient
    published: list[Run] = field(default_factory=list)

    def running(self, worker: str = ME) -> str:
        """A new run, claimed by ``worker``; its id."""
        services = self.engine.services
        run = services.start_run("wf/square", [3])
        [claim] = services.claim(worker, 1)
        assert claim.run.id == run.id
        return run.id

    def finals(self) -> list[str]:
        return [r.id for r in self.published if r.status.is_final]


@pytest.fixture
async def bench(db_url: str) -> AsyncIterator[Bench]:
    engine = Engine(db_url, worker=False, scheduler=False)
    version = engine.store.add_version("wf", "app.py", "baton", "/tmp")
    engine.store.register_tasks(
        version.id, [TaskDef("square", parameters=(Param("a", has_default=False),))]
    )
    transport = httpx.ASGITransport(app=engine.asgi(require_token=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        found = Bench(engine, client)
        engine.services.events.listen(found.published.append)
        yield found
    engine.store.close()


# the route ------------------------------------------------------------------------------------


async def test_reports_route_records_each_report_and_drops_late_outcomes(bench: Bench) -> None:
    started, done, theirs = bench.running(), bench.running(), bench.running(OTHER)
    body = {
        "worker_id": ME,
        "reports": [
            {"run_id": started, "attempt": 0, "pid": 4321, "logs": [["stdout", "hi"]]},
            {"run_id": done, "attempt": 0, "outcome": OK, "timings": {"forked_at": 1.0}},
            {"run_id": theirs, "attempt": 0, "outcome": OK},
        ],
    }

    response = await bench.client.post(REPORTS, json=body)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0] == {"result": "recorded"}
    assert results[1] == {"result": "recorded", "status": "completed"}
    assert results[2]["result"] == "dropped"
    assert results[2]["code"] == "lease_lost"
    assert "no longer worker wrk-me's" in results[2]["message"]
    store = bench.engine.store
    assert store.get_run(started).attempts[0].pid == 4321
    assert [line.line for line in store.get_logs(started)] == ["hi"]
    assert store.get_run(done).status == RunStatus.COMPLETED
    assert store.get_run(done).attempts[0].timings == {"forked_at": 1.0}
    assert store.get_run(theirs).status == RunStatus.RUNNING
    assert bench.finals() == [done]  # published once, after the commit


async def test_a_malformed_report_fails_alone(bench: Bench) -> None:
    good, bad = bench.running(), bench.running()
    body = {
        "worker_id": ME,
        "reports": [
            {"run_id": bad, "attempt": 0, "outcome": {"output": "no ok field"}},
            {"run_id": good, "attempt": 0, "outcome": OK},
        ],
    }

    response = await bench.client.post(REPORTS, json=body)

    assert response.status_code == 200, response.text
    failed, recorded = response.json()["results"]
    assert failed["result"] == "error"
    assert failed["error"] == "InvalidInput"
    assert failed["retry"] is False
    assert "outcome is malformed" in failed["message"]
    assert recorded == {"result": "recorded", "status": "completed"}
    assert bench.engine.store.get_run(bad).status == RunStatus.RUNNING


async def test_a_repeated_report_is_dropped_the_second_time(bench: Bench) -> None:
    run_id = bench.running()
    body = {"worker_id": ME, "reports": [{"run_id": run_id, "attempt": 0, "outcome": OK}]}

    first = await bench.client.post(REPORTS, json=body)
    again = await bench.client.post(REPORTS, json=body)

    assert first.json()["results"][0]["result"] == "recorded"
    assert again.json()["results"][0]["result"] == "dropped"
    assert bench.finals() == [run_id]


@pytest.mark.parametrize("count", [0, 65])
async def test_reports_route_refuses_an_empty_or_oversized_batch(bench: Bench, count: int) -> None:
    item = {"run_id": "trn-x", "attempt": 0}
    response = await bench.client.post(REPORTS, json={"worker_id": ME, "reports": [item] * count})
    assert response.status_code in (400, 422), response.text


async def test_the_single_report_route_still_serves_older_workers(bench: Bench) -> None:
    run_id = bench.running()
    body = {"run_id": run_id, "attempt": 0, "worker_id": ME, "outcome": OK}

    first = await bench.client.post("/v1/workers/attempts/report", json=body)
    again = await bench.client.post("/v1/workers/attempts/report", json=body)

    assert (first.status_code, first.json()) == (200, {"status": "completed"})
    assert again.status_code == 409
    assert again.json()["code"] == "lease_lost"


# claims along with reports ---------------------------------------------------------------------


async def test_reports_claim_the_slots_they_free_in_the_same_call(bench: Bench) -> None:
    done = bench.running()
    waiting = [bench.engine.services.start_run("wf/square", [i]).id for i in range(3)]
    body = {
        "worker_id": ME,
        "reports": [{"run_id": done, "attempt": 0, "outcome": OK}],
        "claim": {"slots": 2},
    }

    response = await bench.client.post(REPORTS, json=body)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["results"] == [{"result": "recorded", "status": "completed"}]
    assert [c["run"]["id"] for c in answer["claims"]] == waiting[:2]  # oldest first
    assert answer["lease_s"] == bench.engine.services.config.lease_s
    store = bench.engine.store
    for run_id in waiting[:2]:
        run = store.get_run(run_id)
        assert run.status == RunStatus.RUNNING
        assert run.attempts[0].worker_id == ME
    assert store.get_run(waiting[2]).status == RunStatus.PENDING
    assert {r.id for r in bench.published if r.status == RunStatus.RUNNING} >= set(waiting[:2])


async def test_a_claim_along_sees_the_slot_its_reports_just_freed(bench: Bench) -> None:
    services = bench.engine.services
    services.config = replace(services.config, concurrency=1)
    done = bench.running()  # the one slot is taken
    queued = services.start_run("wf/square", [4]).id
    assert services.claim(OTHER, 1) == []
    body = {
        "worker_id": ME,
        "reports": [{"run_id": done, "attempt": 0, "outcome": OK}],
        "claim": {"slots": 1},
    }

    answer = (await bench.client.post(REPORTS, json=body)).json()

    assert [c["run"]["id"] for c in answer["claims"]] == [queued]


async def test_reports_without_a_claim_answer_as_before(bench: Bench) -> None:
    done = bench.running()
    queued = bench.engine.services.start_run("wf/square", [4]).id
    body = {"worker_id": ME, "reports": [{"run_id": done, "attempt": 0, "outcome": OK}]}

    answer = (await bench.client.post(REPORTS, json=body)).json()

    assert answer == {"results": [{"result": "recorded", "status": "completed"}]}
    assert bench.engine.store.get_run(queued).status == RunStatus.PENDING


async def test_a_claim_along_for_an_unknown_plan_is_refused_and_nothing_is_recorded(
    bench: Bench,
) -> None:
    done = bench.running()
    body = {
        "worker_id": ME,
        "reports": [{"run_id": done, "attempt": 0, "outcome": OK}],
        "claim": {"slots": 1, "plans": ["huge"]},
    }

    response = await bench.client.post(REPORTS, json=body)

    assert response.status_code == 400, response.text
    assert "unknown plan" in response.text
    assert bench.engine.store.get_run(done).status == RunStatus.RUNNING


@dataclass
class Along:
    """The worker's side of ``claim_along``: a slot per finishing attempt."""

    plans: tuple[str, ...] | None = None
    asked: list[list[str]] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)

    def slots_after(self, finishing: Collection[str]) -> int:
        self.asked.append(list(finishing))
        return len(finishing)

    def take(self, claims: Sequence[Claim]) -> None:
        self.taken.extend(c.run.id for c in claims)


async def test_a_link_claims_along_with_outcomes_and_hands_the_claims_to_the_worker(
    bench: Bench, wire: Wire
) -> None:
    started, done = bench.running(), bench.running()
    queued = bench.engine.services.start_run("wf/square", [4]).id
    along = Along()
    link = await _link(wire)
    link.claim_along(ME, along)
    try:
        assert await link.report(started, 0, ME, Report(pid=7))
        assert await link.report(done, 0, ME, Report(outcome=Outcome(ok=True)))
    finally:
        await link.aclose()

    assert along.asked == [[], [done]]
    claims = [b.get("claim") for p, b in wire.sent if p == REPORTS]
    assert claims == [None, {"slots": 1, "plans": None}]
    assert along.taken == [queued]
    assert bench.engine.store.get_run(queued).attempts[0].worker_id == ME


# the link -------------------------------------------------------------------------------------


class Wire(httpx.AsyncBaseTransport):
    """Forwards to the app, recording each request; ``answer`` may stand in for the app."""

    def __init__(self, app_transport: httpx.AsyncBaseTransport) -> None:
        self.app = app_transport
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.answer: Callable[[httpx.Request], httpx.Response | None] = lambda _: None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.sent.append((request.url.path, body))
        canned = self.answer(request)
        if canned is not None:
            return canned
        return await self.app.handle_async_request(request)

    def batches(self) -> list[list[str]]:
        """The run ids of each ``/attempts/reports`` call, in order."""
        return [[r["run_id"] for r in b["reports"]] for p, b in self.sent if p == REPORTS]


@pytest.fixture
async def wire(bench: Bench) -> Wire:
    return Wire(httpx.ASGITransport(app=bench.engine.asgi(require_token=False)))


async def _link(wire: Wire, retry_s: float = 5.0) -> HttpLink:
    return HttpLink(["http://test"], None, retry_s=retry_s, transport=wire)


async def test_concurrent_reports_share_calls_and_each_caller_gets_its_answer(
    bench: Bench, wire: Wire
) -> None:
    mine = [bench.running() for _ in range(4)]
    theirs = bench.running(OTHER)
    link = await _link(wire)
    try:
        answers = await asyncio.gather(
            *(link.report(r, 0, ME, Report(outcome=Outcome(ok=True))) for r in [*mine, theirs])
        )
    finally:
        await link.aclose()

    assert answers == [True, True, True, True, False]
    # the first report leaves at once; the others wait for it and travel together
    assert wire.batches() == [[mine[0]], [*mine[1:], theirs]]
    assert sorted(bench.finals()) == sorted(mine)
    store = bench.engine.store
    assert all(store.get_run(r).status == RunStatus.COMPLETED for r in mine)


async def test_batches_are_capped_in_count(
    bench: Bench, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_link, "MAX_BATCH_REPORTS", 2)
    runs = [bench.running() for _ in range(5)]
    link = await _link(wire)
    try:
        await asyncio.gather(
            *(link.report(r, 0, ME, Report(pid=100 + i)) for i, r in enumerate(runs))
        )
    finally:
        await link.aclose()

    assert wire.batches() == [runs[:1], runs[1:3], runs[3:]]
    assert [bench.engine.store.get_run(r).attempts[0].pid for r in runs] == [
        100,
        101,
        102,
        103,
        104,
    ]


async def test_batches_are_capped_in_bytes_and_a_big_report_travels_alone(
    bench: Bench, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_link, "MAX_BATCH_BYTES", 1000)
    runs = [bench.running() for _ in range(4)]
    line = [("stdout", "x" * 600)]
    link = await _link(wire)
    try:
        await asyncio.gather(*(link.report(r, 0, ME, Report(logs=line)) for r in runs))
    finally:
        await link.aclose()

    assert wire.batches() == [[r] for r in runs]
    assert all(len(bench.engine.store.get_logs(r)) == 1 for r in runs)


async def test_a_transport_failure_reaches_every_waiting_caller(bench: Bench, wire: Wire) -> None:
    runs = [bench.running() for _ in range(3)]

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    wire.answer = refuse
    link = await _link(wire, retry_s=0.3)
    try:
        answers = await asyncio.gather(
            *(link.report(r, 0, ME, Report(outcome=Outcome(ok=True))) for r in runs),
            return_exceptions=True,
        )
    finally:
        await link.aclose()

    assert all(isinstance(a, ServerUnreachable) for a in answers), answers
    assert all(bench.engine.store.get_run(r).status == RunStatus.RUNNING for r in runs)


async def test_a_batch_is_retried_after_a_transport_failure(bench: Bench, wire: Wire) -> None:
    runs = [bench.running() for _ in range(3)]
    failures = [1]

    def flaky(request: httpx.Request) -> httpx.Response | None:
        if failures:
            failures.pop()
            raise httpx.ConnectError("connection reset", request=request)
        return None

    wire.answer = flaky
    link = await _link(wire)
    try:
        answers = await asyncio.gather(
            *(link.report(r, 0, ME, Report(outcome=Outcome(ok=True))) for r in runs)
        )
    finally:
        await link.aclose()

    assert answers == [True, True, True]
    assert sorted(bench.finals()) == sorted(runs)


async def test_a_report_refused_by_the_store_for_now_is_sent_again(
    bench: Bench, wire: Wire
) -> None:
    run_id = bench.running()
    refusals = [1]

    def busy(request: httpx.Request) -> httpx.Response | None:
        if refusals and request.url.path == REPORTS:
            refusals.pop()
            error = {"result": "error", "error": "StoreUnavailable", "message": "busy"}
            return httpx.Response(200, json={"results": [{**error, "retry": True}]})
        return None

    wire.answer = busy
    link = await _link(wire)
    try:
        assert await link.report(run_id, 0, ME, Report(outcome=Outcome(ok=True)))
    finally:
        await link.aclose()

    assert wire.batches() == [[run_id], [run_id]]
    assert bench.engine.store.get_run(run_id).status == RunStatus.COMPLETED


async def test_a_report_error_reaches_its_caller_as_the_servers_exception(
    bench: Bench, wire: Wire
) -> None:
    run_id = bench.running()

    def refuse(request: httpx.Request) -> httpx.Response | None:
        error = {"result": "error", "error": "InvalidInput", "message": "bad", "retry": False}
        return httpx.Response(200, json={"results": [error]})

    wire.answer = refuse
    link = await _link(wire)
    try:
        with pytest.raises(InvalidInput, match="bad"):
            await link.report(run_id, 0, ME, Report(outcome=Outcome(ok=True)))
    finally:
        await link.aclose()


async def test_a_server_without_the_batch_route_gets_one_report_per_call(
    bench: Bench, wire: Wire
) -> None:
    runs = [bench.running() for _ in range(3)]

    def old_server(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == REPORTS:
            return httpx.Response(404, json={"detail": "Not Found"})
        return None

    wire.answer = old_server
    link = await _link(wire)
    try:
        first = await link.report(runs[0], 0, ME, Report(outcome=Outcome(ok=True)))
        rest = await asyncio.gather(
            *(link.report(r, 0, ME, Report(outcome=Outcome(ok=True))) for r in runs[1:])
        )
    finally:
        await link.aclose()

    assert [first, *rest] == [True, True, True]
    paths = [p for p, _ in wire.sent]
    assert paths == [REPORTS] + ["/v1/workers/attempts/report"] * 3
    assert sorted(bench.finals()) == sorted(runs)


def test_module_caps_fit_the_servers_limits() -> None:
    from baton.api.routes.workers import MAX_REPORTS

    assert http_link.MAX_BATCH_REPORTS <= MAX_REPORTS
    assert http_link.MAX_BATCH_BYTES < 8 * 1024 * 1024 // 2
