"""The run-change feed, its SSE rendering, the log tail and the Prometheus metrics."""

from __future__ import annotations

import json

import httpx

from baton.dashboard.live import feed, run_change
from baton.server import Engine


async def test_feed_yields_every_change_of_a_chain_in_order(engine: Engine) -> None:
    body = feed(engine.services, lambda r: r.parent_id is None, run_change, "run")
    assert (await anext(body)).startswith(b"retry:")
    run = engine.services.start_run("squares/sum_squares", [1, 2])

    statuses = []
    for _ in range(10):
        chunk = (await anext(body)).decode()
        if chunk.startswith("event: run"):
            data = json.loads(chunk.split("data: ", 1)[1])
            assert data["id"] == run.id
            statuses.append(data["status"])
        if statuses and statuses[-1] == "completed":
            break
    await body.aclose()

    assert statuses == ["pending", "running", "completed"]
    assert not engine.services.events._feeds  # unsubscribed on close


async def test_a_lagging_subscriber_is_told_to_resync(engine: Engine) -> None:
    sub = engine.services.events.subscribe(buffer=2)
    for i in range(3):
        engine.services.start_run("squares/calculate_square", [i])

    assert sub.take_lagged() is True
    assert sub.take_lagged() is False
    engine.services.events.unsubscribe(sub)


async def test_log_tail_returns_lines_after_a_cursor(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    run = engine.services.start_run("squares/calculate_square", [3])
    await engine.services.wait_final(run.id, 30)
    engine.store.append_logs(run.id, 0, [("stdout", "hello"), ("stderr", "oops")])

    first = (await client.get(f"/ui/runs/{run.id}/logs")).json()
    rest = (await client.get(f"/ui/runs/{run.id}/logs", params={"after": first["next"]})).json()

    assert [ln["line"] for ln in first["lines"]] == ["hello", "oops"]
    assert first["final"] is True and rest["lines"] == []


async def test_metrics_count_runs_attempts_and_histograms(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    run = engine.services.start_run("squares/sum_squares", [3, 4])
    await engine.services.wait_final(run.id, 30)

    text = (await client.get("/metrics")).text
    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )

    assert samples['baton_runs{status="completed"}'] == "3"
    assert samples["baton_runs_created_total"] == "3"
    assert samples['baton_attempts_total{outcome="completed"}'] == "3"
    assert samples["baton_queue_wait_seconds_count"] == "3"
    assert samples['baton_run_duration_seconds_bucket{le="+Inf"}'] == "3"
    assert samples["baton_workers"] == "1" and samples["baton_concurrency_limit"] == "20"
    assert "# TYPE baton_run_duration_seconds histogram" in text


async def test_api_stream_route_is_not_shadowed_by_the_run_route(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/task-runs/stream", params={"status": "bogus"})

    assert response.status_code == 400


async def test_a_relayed_change_reaches_feeds_and_waiters_but_not_listeners(
    engine: Engine,
) -> None:
    # Another server's change, relayed here (several servers on one database): metrics and
    # traces are that server's to count, so listeners do not see it a second time.
    events = engine.services.events
    run = engine.services.start_run("squares/calculate_square", [3])
    done = await engine.services.wait_final(run.id, 30)
    heard: list[str] = []
    events.listen(lambda r: heard.append(r.id))
    sub = events.subscribe()
    waiter = events.final_future(run.id)

    events.publish(done, local=False)

    assert heard == []
    assert (await sub.get(1.0)) == done
    assert waiter.result() == done
    events.unsubscribe(sub)
