"""``/v1/schedules``, ``/v1/pauses`` and ``/v1/task-runs/{id}/checkpoints``."""

from __future__ import annotations

import httpx
from api_kit import assert_json_error, start, wait_final

from baton.core.durable import ScheduleSpec, next_tick
from baton.scheduler.cron import CronScheduler
from baton.server import Engine


async def test_schedule_lifecycle_create_list_pause_resume_delete(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(
        "/v1/schedules",
        json={
            "task": "squares/calculate_square",
            "cron": "0 0 1 1 *",  # yearly: no tick fires during the test
            "timezone": "Europe/Paris",
            "input": [3],
            "overlap": "queue",
        },
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    sid = schedule["id"]
    assert (schedule["taskSlug"], schedule["timezone"], schedule["paused"]) == (
        "squares/calculate_square",
        "Europe/Paris",
        False,
    )

    listed = (await client.get("/v1/schedules")).json()
    paused = (await client.post(f"/v1/schedules/{sid}/pause")).json()
    resumed = (await client.post(f"/v1/schedules/{sid}/resume")).json()
    got = (await client.get(f"/v1/schedules/{sid}")).json()
    deleted = await client.delete(f"/v1/schedules/{sid}")

    assert [s["id"] for s in listed] == [sid]
    assert (paused["paused"], resumed["paused"]) == (True, False)
    assert got["ticks"] == []
    assert deleted.status_code == 204
    assert_json_error(await client.get(f"/v1/schedules/{sid}"), 404, sid)


async def test_schedule_with_bad_cron_or_input_is_refused_with_400(
    client: httpx.AsyncClient,
) -> None:
    bad_cron = await client.post(
        "/v1/schedules", json={"task": "squares/calculate_square", "cron": "often"}
    )
    bad_input = await client.post(
        "/v1/schedules",
        json={"task": "squares/calculate_square", "cron": "* * * * *", "input": [1, 2, 3]},
    )
    unknown_task = await client.post(
        "/v1/schedules", json={"task": "squares/nope", "cron": "* * * * *"}
    )

    assert_json_error(bad_cron, 400, "invalid cron expression")
    assert_json_error(bad_input, 400, "input does not match")
    assert_json_error(unknown_task, 404, "squares/nope")


async def test_paused_task_holds_its_runs_until_resumed(client: httpx.AsyncClient) -> None:
    paused = await client.post(
        "/v1/pauses", json={"scope": "task", "target": "squares/calculate_square"}
    )
    run = await start(client, "squares/calculate_square", [4])
    listed = (await client.get("/v1/pauses")).json()
    still = (await client.get(f"/v1/task-runs/{run['id']}")).json()

    resumed = await client.delete(
        "/v1/pauses", params={"scope": "task", "target": "squares/calculate_square"}
    )
    done = await wait_final(client, run["id"])

    assert paused.json()["changed"] is True
    assert [(p["scope"], p["target"]) for p in listed] == [("task", "squares/calculate_square")]
    assert still["status"] == "pending"
    assert resumed.json()["changed"] is True
    assert done["results"] == [16]


async def test_pausing_a_subtask_or_unknown_scope_is_refused(client: httpx.AsyncClient) -> None:
    root = await start(client, "squares/sum_squares", [1, 2])
    await wait_final(client, root["id"])
    children = (await client.get("/v1/task-runs", params={"rootTaskRunId": root["id"]})).json()
    child = next(c["taskRun"]["id"] for c in children if c["taskRun"]["id"] != root["id"])

    assert_json_error(
        await client.post("/v1/pauses", json={"scope": "tree", "target": child}), 409, "subtask"
    )
    assert_json_error(
        await client.post("/v1/pauses", json={"scope": "galaxy"}), 400, "queue, task, tree"
    )


async def test_checkpoints_of_a_run_without_any_are_empty(client: httpx.AsyncClient) -> None:
    run = await start(client, "squares/calculate_square", [2])

    got = await client.get(f"/v1/task-runs/{run['id']}/checkpoints")

    assert got.json() == {"checkpoints": {}}
    assert_json_error(await client.get("/v1/task-runs/trn-nope/checkpoints"), 404, "trn-nope")


async def test_run_details_name_the_schedule_that_started_the_run(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    services = engine.services
    spec = ScheduleSpec("0 0 1 1 *", input=[3])  # yearly: the engine's own loop stays idle
    schedule = services.create_schedule("squares/calculate_square", spec)
    tick = next_tick(spec, schedule.created_at)
    [fired] = CronScheduler(services, clock=lambda: tick).run_due()

    run = (await client.get(f"/v1/task-runs/{fired.run_id}")).json()

    assert run["scheduleId"] == schedule.id
    assert (await wait_final(client, fired.run_id))["results"] == [9]
