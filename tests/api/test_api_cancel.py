"""DELETE /v1/task-runs/{id}: only roots, only unfinished ones."""

from __future__ import annotations

import httpx
from api_kit import assert_json_error, start, wait_final


async def test_delete_child_is_409_telling_to_cancel_its_root(client: httpx.AsyncClient) -> None:
    root = await start(client, "squares/sum_squares", [3, 4])
    await wait_final(client, root["id"])
    rows = (await client.get("/v1/task-runs", params={"parentTaskRunId": root["id"]})).json()
    child = rows[0]["taskRun"]["id"]

    response = await client.delete(f"/v1/task-runs/{child}")

    assert_json_error(response, 409, "cancel its root", root["id"])


async def test_delete_finished_run_is_409(client: httpx.AsyncClient) -> None:
    run = await start(client, "squares/calculate_square", [3])
    await wait_final(client, run["id"])

    response = await client.delete(f"/v1/task-runs/{run['id']}")

    assert_json_error(response, 409, "completed")
    assert (await client.get(f"/v1/task-runs/{run['id']}")).json()["status"] == "completed"


async def test_delete_unfinished_root_is_204_and_cancels_it(client: httpx.AsyncClient) -> None:
    # A string makes calculate_square raise TypeError; the default policy retries it for
    # seconds, so the run is still unfinished when the DELETE arrives.
    run = await start(client, "squares/calculate_square", ["x"])

    response = await client.delete(f"/v1/task-runs/{run['id']}")

    assert response.status_code == 204
    assert response.content == b""
    done = await wait_final(client, run["id"])
    assert done["status"] == "canceled"
    assert done["error"]
    assert done["results"] == []
    again = await client.delete(f"/v1/task-runs/{run['id']}")
    assert_json_error(again, 409)
