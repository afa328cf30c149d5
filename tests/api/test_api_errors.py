"""Requests the API refuses: each gets a JSON error with a clear message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from api_kit import assert_json_error, start, wait_final

UNKNOWN_RUN = "trn-00000000000000000000"
FOUR_MIB = 4 * 1024 * 1024


async def post_raw(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        "/v1/task-runs", content=body, headers={"Content-Type": "application/json"}
    )


async def test_malformed_json_body_is_400_saying_not_valid_json(client: httpx.AsyncClient) -> None:
    response = await post_raw(client, b'{"task": "squares/sum_squares", "input": [3,')

    assert_json_error(response, 400, "not valid JSON")


async def test_input_that_does_not_bind_is_400_naming_the_problem(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/task-runs", json={"task": "squares/sum_squares", "input": [3]}
    )

    assert_json_error(response, 400, "missing a required argument", "squares/sum_squares")


async def test_too_many_arguments_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/task-runs", json={"task": "squares/calculate_square", "input": [1, 2]}
    )

    assert_json_error(response, 400, "too many positional arguments")


@pytest.mark.parametrize("value", [5, "x", True, 1.5])
async def test_input_that_is_not_array_or_object_is_400(
    client: httpx.AsyncClient, value: object
) -> None:
    response = await client.post(
        "/v1/task-runs", json={"task": "squares/calculate_square", "input": value}
    )

    assert_json_error(response, 400, "input")


@pytest.mark.parametrize("body", [b"[1]", b"", b'{"input": [1]}', b"null"])
async def test_body_without_task_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    assert_json_error(await post_raw(client, body), 400)


async def test_unknown_task_slug_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/task-runs", json={"task": "squares/nope", "input": []})

    assert_json_error(response, 404, "squares/nope")


async def test_slug_without_workflow_is_404_explaining_the_shape(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/task-runs", json={"task": "calculate_square", "input": []})

    assert_json_error(response, 404, "<workflow>/<task>")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/v1/task-runs/{UNKNOWN_RUN}"),
        ("DELETE", f"/v1/task-runs/{UNKNOWN_RUN}"),
        ("GET", f"/v1/task-runs/{UNKNOWN_RUN}/logs"),
    ],
)
async def test_unknown_run_id_is_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)

    assert_json_error(response, 404, UNKNOWN_RUN)


async def test_body_declared_over_4_mib_is_413(client: httpx.AsyncClient) -> None:
    response = await post_raw(client, b"x" * (FOUR_MIB + 128 * 1024))

    assert_json_error(response, 413, "4 MiB")


async def test_streamed_body_over_4_mib_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * (1024 * 1024)

    response = await client.post(
        "/v1/task-runs", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert_json_error(response, 413, "4 MiB")


async def test_body_that_is_not_utf8_is_400_with_json_message(client: httpx.AsyncClient) -> None:
    response = await post_raw(client, b'{"task": "\xff\xfe"}')

    assert_json_error(response, 400)


async def test_wrong_method_on_known_path_is_405_with_json_message(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put("/v1/task-runs", json={})

    assert_json_error(response, 405)


@pytest.mark.parametrize(
    "params",
    [{"cursor": "abc"}, {"limit": "0"}, {"limit": "101"}, {"status": "exploded"}],
)
async def test_bad_list_query_is_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert_json_error(await client.get("/v1/task-runs", params=params), 400)


async def test_server_serves_normal_request_after_garbage(client: httpx.AsyncClient) -> None:
    garbage = [
        b"{",
        b'{"task": 5}',
        b'{"task": "squares/calculate_square", "input": {"b": {"deep": [1, {"x": null}]}}}',
        b'{"task": "../../etc/passwd", "input": []}',
        b'{"task": "squares/calculate_square", "input": [1e999]}',
        b"x" * (FOUR_MIB + 128 * 1024),
    ]
    for body in garbage:
        response = await post_raw(client, body)
        assert 400 <= response.status_code < 500, (body[:40], response.text)
        assert response.json()["message"]
    for path in [
        "/v1/task-runs/%00",
        "/v1/task-runs/events?taskRunIds=,,,",
        "/v1/tasks?workflow=%7f%00",
    ]:
        assert (await client.get(path)).status_code < 500

    run = await start(client, "squares/sum_squares", [3, 4])

    assert (await wait_final(client, run["id"]))["results"] == [25]
