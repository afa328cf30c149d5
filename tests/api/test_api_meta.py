"""Tasks listing and the OpenAPI document."""

from __future__ import annotations

import httpx


async def test_tasks_lists_both_tasks_with_parameters(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tasks")

    assert response.status_code == 200
    rows = response.json()
    assert all(set(row) == {"task", "cursor"} for row in rows)
    tasks = {row["task"]["slug"]: row["task"] for row in rows}
    assert set(tasks) == {"squares/calculate_square", "squares/sum_squares"}
    assert [p["name"] for p in tasks["squares/calculate_square"]["parameters"]] == ["a"]
    assert [p["name"] for p in tasks["squares/sum_squares"]["parameters"]] == ["a", "b"]
    assert all(t["workflow"] == "squares" and t["id"].startswith("tsk-") for t in tasks.values())


async def test_tasks_filtered_by_unknown_workflow_is_empty(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tasks", params={"workflow": "nope"})

    assert response.status_code == 200
    assert response.json() == []


async def test_openapi_document_describes_task_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/v1/task-runs" in paths
    assert {"get", "post"} <= set(paths["/v1/task-runs"])
    assert "/v1/task-runs/{task_run_id}" in paths
