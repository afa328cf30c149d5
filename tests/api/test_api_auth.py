"""Bearer tokens when the app requires them."""

from __future__ import annotations

import httpx
import pytest
from api_kit import assert_json_error

from baton.api.app import hash_token
from baton.server import Engine

START = {"task": "squares/calculate_square", "input": [3]}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer bat_wrong"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "bat_secret"},
    ],
    ids=["missing", "wrong", "empty", "basic", "no-scheme"],
)
async def test_request_without_valid_token_is_401_json(
    engine: Engine, locked_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    engine.store.add_token("t", hash_token("bat_secret"))

    response = await locked_client.post("/v1/task-runs", json=START, headers=headers)

    assert_json_error(response, 401, "token")
    assert (await locked_client.get("/v1/task-runs", headers=headers)).status_code == 401


async def test_request_with_stored_token_succeeds(
    engine: Engine, locked_client: httpx.AsyncClient
) -> None:
    secret = "bat_secret"
    engine.store.add_token("t", hash_token(secret))
    auth = {"Authorization": f"Bearer {secret}"}

    started = await locked_client.post("/v1/task-runs", json=START, headers=auth)
    listed = await locked_client.get("/v1/task-runs", headers=auth)

    assert started.status_code == 202
    assert listed.status_code == 200
    assert [r["taskRun"]["id"] for r in listed.json()] == [started.json()["id"]]


async def test_bearer_scheme_is_case_insensitive(
    engine: Engine, locked_client: httpx.AsyncClient
) -> None:
    engine.store.add_token("t", hash_token("bat_secret"))

    response = await locked_client.get("/v1/tasks", headers={"Authorization": "bearer bat_secret"})

    assert response.status_code == 200


async def test_health_check_needs_no_token(locked_client: httpx.AsyncClient) -> None:
    response = await locked_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
