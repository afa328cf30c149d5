"""GET /v1/task-runs/events: one task.completed event per run, then the stream closes."""

from __future__ import annotations

import asyncio

import httpx
from api_kit import DEADLINE_S, assert_json_error, parse_data, sse_events, start, wait_final

EVENTS = "/v1/task-runs/events"


async def get_events(client: httpx.AsyncClient, params: object) -> httpx.Response:
    return await asyncio.wait_for(client.get(EVENTS, params=params), DEADLINE_S)  # type: ignore[arg-type]


async def test_finished_run_replays_one_completed_event_then_stream_closes(
    client: httpx.AsyncClient,
) -> None:
    run = await start(client, "squares/calculate_square", [3])
    await wait_final(client, run["id"])

    response = await get_events(client, {"taskRunIds": run["id"]})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    [(event, data)] = sse_events(response.text)
    assert event == "task.completed"
    payload = parse_data(data)
    assert payload["id"] == run["id"]
    assert payload["status"] == "completed"
    assert payload["results"] == [9]
    assert payload["input"] == [3]
    assert payload["parentTaskRunId"] == ""


async def test_stream_waits_for_unfinished_run_and_reports_its_end(
    client: httpx.AsyncClient,
) -> None:
    run = await start(client, "squares/sum_squares", [3, 4])

    response = await get_events(client, {"taskRunIds": run["id"]})

    [(event, data)] = sse_events(response.text)
    assert event == "task.completed"
    assert parse_data(data)["results"] == [25]


async def test_comma_joined_and_repeated_ids_each_get_one_event(
    client: httpx.AsyncClient,
) -> None:
    ids = [(await start(client, "squares/calculate_square", [i]))["id"] for i in (2, 3, 4)]
    for run_id in ids:
        await wait_final(client, run_id)

    joined = await get_events(client, {"taskRunIds": f"{ids[0]},{ids[1]}"})
    repeated = await get_events(client, [("taskRunIds", ids[1]), ("taskRunIds", ids[2])])
    duplicated = await get_events(client, {"taskRunIds": f"{ids[0]},{ids[0]}"})

    assert sorted(parse_data(d)["id"] for _, d in sse_events(joined.text)) == sorted(ids[:2])
    assert sorted(parse_data(d)["id"] for _, d in sse_events(repeated.text)) == sorted(ids[1:])
    assert [parse_data(d)["id"] for _, d in sse_events(duplicated.text)] == [ids[0]]


async def test_canceled_run_replays_ascii_event_with_error(client: httpx.AsyncClient) -> None:
    run = await start(client, "squares/calculate_square", ["héllo ✓"])
    assert (await client.delete(f"/v1/task-runs/{run['id']}")).status_code == 204

    response = await get_events(client, {"taskRunIds": run["id"]})

    assert response.content.isascii()
    [(event, data)] = sse_events(response.text)
    payload = parse_data(data)
    assert event == "task.completed"
    assert payload["status"] == "canceled"
    assert payload["error"]
    assert payload["input"] == ["héllo ✓"]


async def test_unknown_run_id_is_404_json(client: httpx.AsyncClient) -> None:
    run = await start(client, "squares/calculate_square", [3])
    unknown = "trn-00000000000000000000"

    response = await get_events(client, {"taskRunIds": f"{run['id']},{unknown}"})

    assert_json_error(response, 404, unknown)


async def test_missing_task_run_ids_is_400(client: httpx.AsyncClient) -> None:
    assert_json_error(await get_events(client, {}), 400)
    assert_json_error(await get_events(client, {"taskRunIds": ","}), 400)


async def test_failed_attempt_that_will_be_retried_sends_no_event(
    client: httpx.AsyncClient,
) -> None:
    run = await start(client, "squares/calculate_square", ["x"])
    stream = asyncio.create_task(get_events(client, {"taskRunIds": run["id"]}))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while True:
        current = (await client.get(f"/v1/task-runs/{run['id']}")).json()
        if any(a["status"] == "failed" for a in current["attempts"]):
            break
        assert loop.time() < deadline, "the first attempt never failed"
        await asyncio.sleep(0.05)
    assert current["status"] in ("pending", "running")

    assert (await client.delete(f"/v1/task-runs/{run['id']}")).status_code == 204
    response = await stream

    [(_, data)] = sse_events(response.text)
    assert parse_data(data)["status"] == "canceled"
