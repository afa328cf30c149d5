"""Starting, reading and listing task runs over REST, on the real engine."""

from __future__ import annotations

import re

import httpx
from api_kit import start, wait_final

TRN = re.compile(r"trn-[0-9a-v]{20}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


async def test_post_task_run_answers_202_with_pending_root_task_run(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/task-runs", json={"task": "squares/calculate_square", "input": [3]}
    )

    assert response.status_code == 202
    run = response.json()
    assert TRN.fullmatch(run["id"])
    assert run["status"] == "pending"
    assert run["taskId"].startswith("tsk-")
    assert run["parentTaskRunId"] == ""
    assert run["rootTaskRunId"] == run["id"]
    assert run["retries"] == 0
    assert run["attempts"] == []
    assert run["results"] == []
    assert run["input"] == [3]
    assert RFC3339.fullmatch(run["createdAt"])
    assert "parentTaskAttempt" not in run


async def test_calculate_square_completes_with_results(client: httpx.AsyncClient) -> None:
    run = await start(client, "squares/calculate_square", [3])

    done = await wait_final(client, run["id"])

    assert done["status"] == "completed"
    assert done["results"] == [9]
    assert done["input"] == [3]
    assert "error" not in done
    [attempt] = done["attempts"]
    assert (attempt["attempt"], attempt["status"], attempt["results"]) == (0, "completed", [9])
    assert RFC3339.fullmatch(attempt["startedAt"])
    assert RFC3339.fullmatch(done["completedAt"])


async def test_input_by_name_binds_like_positional_input(client: httpx.AsyncClient) -> None:
    run = await start(client, "squares/sum_squares", {"a": 1, "b": 2})

    assert (await wait_final(client, run["id"]))["results"] == [5]


async def test_sum_squares_runs_two_children_in_its_tree(client: httpx.AsyncClient) -> None:
    root = await start(client, "squares/sum_squares", [3, 4])
    done = await wait_final(client, root["id"])
    assert done["status"] == "completed"
    assert done["results"] == [25]

    response = await client.get("/v1/task-runs", params={"rootTaskRunId": root["id"]})

    assert response.status_code == 200
    tree = [row["taskRun"] for row in response.json()]
    assert len(tree) == 3
    assert all(r["rootTaskRunId"] == root["id"] for r in tree)
    children = [r for r in tree if r["id"] != root["id"]]
    assert len(children) == 2
    assert all(c["parentTaskRunId"] == root["id"] for c in children)
    assert all(c["parentTaskAttempt"] == 0 for c in children)
    assert all(c["taskSlug"] == "squares/calculate_square" for c in children)
    details = [await wait_final(client, c["id"]) for c in children]
    assert sorted(d["results"][0] for d in details) == [9, 16]
    assert sorted(d["input"][0] for d in details) == [3, 4]


async def test_list_is_bare_array_of_task_run_with_cursor_paged_newest_first(
    client: httpx.AsyncClient,
) -> None:
    started = [(await start(client, "squares/calculate_square", [i]))["id"] for i in range(5)]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2, "taskSlug": "squares/calculate_square"}
    for _ in range(5):
        response = await client.get("/v1/task-runs", params=params)
        assert response.status_code == 200
        page = response.json()
        assert isinstance(page, list)
        if not page:
            break
        for row in page:
            assert set(row) == {"taskRun", "cursor"}
            assert isinstance(row["cursor"], str)
            assert "results" not in row["taskRun"]
        seen.extend(row["taskRun"]["id"] for row in page)
        params["cursor"] = page[-1]["cursor"]

    assert seen == list(reversed(started))


async def test_list_filters_by_status(client: httpx.AsyncClient) -> None:
    run = await start(client, "squares/calculate_square", [2])
    await wait_final(client, run["id"])

    completed = await client.get("/v1/task-runs", params={"status": "completed"})
    failed = await client.get("/v1/task-runs", params={"status": "failed,canceled"})

    assert [r["taskRun"]["id"] for r in completed.json()] == [run["id"]]
    assert failed.json() == []


async def test_same_idempotency_key_returns_first_run(client: httpx.AsyncClient) -> None:
    first = await start(client, "squares/calculate_square", [2], idempotencyKey="k-1")
    again = await start(client, "squares/calculate_square", [5], idempotencyKey="k-1")
    by_header = await client.post(
        "/v1/task-runs",
        json={"task": "squares/calculate_square", "input": [6]},
        headers={"Idempotency-Key": "k-1"},
    )

    assert again["id"] == first["id"]
    assert by_header.status_code == 202
    assert by_header.json()["id"] == first["id"]
    assert again["input"] == [2]


async def test_get_logs_of_run_has_lines_and_next(client: httpx.AsyncClient) -> None:
    run = await start(client, "squares/calculate_square", [3])
    await wait_final(client, run["id"])

    response = await client.get(f"/v1/task-runs/{run['id']}/logs")

    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["lines"], list)
    assert isinstance(body["next"], int)
