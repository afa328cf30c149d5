"""Runs, run, tasks and workers pages render the engine's real runs."""

from __future__ import annotations

import httpx

from baton.server import Engine


async def _finished_chain(engine: Engine) -> str:
    run = engine.services.start_run("squares/sum_squares", [3, 4])
    final = await engine.services.wait_final(run.id, 30)
    assert final.status == "completed"
    return run.id


async def test_runs_page_lists_root_runs_newest_first(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    first = engine.services.start_run("squares/calculate_square", [2])
    second = engine.services.start_run("squares/calculate_square", [5])

    html = (await client.get("/")).text

    assert html.index(second.id) < html.index(first.id)
    assert "<h1>Runs</h1>" in html
    assert 'data-stream="/ui/stream"' in html


async def test_runs_page_hides_chained_runs_unless_asked(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    root = await _finished_chain(engine)
    children = [r.id for r in engine.services.store.children(root)]

    roots_html = (await client.get("/")).text
    all_html = (await client.get("/", params={"scope": "all"})).text

    assert root in roots_html and not any(c in roots_html for c in children)
    assert all(c in all_html for c in children)


async def test_runs_page_filters_by_status_task_and_time(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    done = await _finished_chain(engine)
    square = engine.services.start_run("squares/calculate_square", [9])
    await engine.services.wait_final(square.id, 30)

    by_task = (await client.get("/", params={"task": "squares/sum_squares"})).text
    by_status = (await client.get("/", params={"status": "failed"})).text
    by_time = (await client.get("/", params={"to": "2001-01-01T00:00:00"})).text
    recent = (await client.get("/", params={"since": "15m"})).text

    assert done in by_task and square.id not in by_task
    assert done not in by_status and "No runs match" in by_status
    assert done not in by_time
    assert done in recent and square.id in recent


async def test_search_by_exact_run_id_opens_the_run(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    run = engine.services.start_run("squares/calculate_square", [2])

    response = await client.get("/", params={"q": run.id})
    by_prefix = (await client.get("/", params={"q": run.id[:-3]})).text

    assert response.status_code == 303
    assert response.headers["location"] == f"/runs/{run.id}"
    assert run.id in by_prefix


async def test_runs_page_pages_with_a_seq_cursor(engine: Engine, client: httpx.AsyncClient) -> None:
    ids = [engine.services.start_run("squares/calculate_square", [i]).id for i in range(55)]

    first = (await client.get("/")).text
    older_href = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = (await client.get(older_href.replace("&amp;", "&"))).text

    assert all(i in first for i in ids[5:]) and not any(i in first for i in ids[:5])
    assert all(i in second for i in ids[:5]) and 'rel="prev"' in second
    assert "Paged view" in second


async def test_run_page_shows_input_result_attempts_and_chain(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    root = await _finished_chain(engine)

    html = (await client.get(f"/runs/{root}")).text
    timeline = (await client.get(f"/ui/runs/{root}/timeline")).json()

    assert "squares/sum_squares" in html and "completed" in html
    assert '<h2 id="result-h">Result</h2>' in html and "25" in html
    assert "returned" in html  # the attempt's exit reason (its exit code follows later)
    assert len(timeline["rows"]) == 3
    parents = {row[0]: row[1] for row in timeline["rows"]}
    assert sorted(p for p in parents.values() if p) == [root, root]
    assert all(row[6] for row in timeline["rows"])  # every run has an attempt span


async def test_failed_run_page_shows_error_type_and_traceback(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    run = engine.services.start_run("squares/calculate_square", ["x"])
    final = await engine.services.wait_final(run.id, 60)
    assert final.status == "failed"

    html = (await client.get(f"/runs/{run.id}")).text

    assert "TypeError" in html and "Traceback" in html


async def test_unknown_run_page_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/runs/trn-nope")

    assert response.status_code == 404
    assert "No run has the id" in response.text


async def test_tasks_page_shows_config_counts_and_compute(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    await _finished_chain(engine)

    html = (await client.get("/tasks")).text

    assert "squares/sum_squares" in html and "squares/calculate_square" in html
    assert "Duration p95" in html and "CPU-seconds" in html and "on standard" in html
    assert "Failure rate" in html and "0.0%" in html


async def test_workers_page_shows_the_local_worker_and_queue(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    assert engine.worker is not None

    html = (await client.get("/workers")).text

    assert engine.worker.worker_id in html
    assert "Concurrency limit" in html and "Queue depth" in html and "alive" in html


async def test_static_assets_are_served(client: httpx.AsyncClient) -> None:
    for name in ("dashboard.css", "runs.js", "run.js", "refresh.js"):
        response = await client.get(f"/static/dashboard/{name}")
        assert response.status_code == 200, name
