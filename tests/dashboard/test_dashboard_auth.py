"""Sign-in with an API token, the session cookie, CSRF on actions, /metrics auth."""

from __future__ import annotations

import re

import httpx
from dash_kit import csrf_of

from baton.api.app import hash_token
from baton.server import Engine

TOKEN = "bat_dashboard_secret"


async def _sign_in(client: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    form = (await client.get("/signin", params={"next": "/tasks"})).text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form)
    assert nonce
    return await client.post(
        "/signin", data={"token": token, "nonce": nonce.group(1), "next": "/tasks"}
    )


async def test_pages_redirect_to_sign_in_when_a_token_is_required(
    locked: httpx.AsyncClient,
) -> None:
    response = await locked.get("/tasks?window=1h")

    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/tasks%3Fwindow%3D1h"
    assert (await locked.get("/ui/stream")).status_code == 401


async def test_sign_in_sets_a_strict_http_only_session(
    engine: Engine, locked: httpx.AsyncClient
) -> None:
    engine.store.add_token("t", hash_token(TOKEN))

    response = await _sign_in(locked)

    assert response.status_code == 303 and response.headers["location"] == "/tasks"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "baton_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert (await locked.get("/")).status_code == 200


async def test_wrong_token_does_not_sign_in(engine: Engine, locked: httpx.AsyncClient) -> None:
    engine.store.add_token("t", hash_token(TOKEN))

    response = await _sign_in(locked, "bat_wrong")

    assert response.status_code == 401 and "not valid" in response.text
    assert (await locked.get("/")).status_code == 303


async def test_sign_in_form_needs_its_nonce(engine: Engine, locked: httpx.AsyncClient) -> None:
    engine.store.add_token("t", hash_token(TOKEN))

    response = await locked.post("/signin", data={"token": TOKEN, "nonce": "forged"})

    assert response.status_code == 401


async def test_tampered_session_cookie_is_refused(
    engine: Engine, locked: httpx.AsyncClient
) -> None:
    engine.store.add_token("t", hash_token(TOKEN))
    await _sign_in(locked)
    value = locked.cookies["baton_session"]
    locked.cookies.set("baton_session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))

    assert (await locked.get("/")).status_code == 303


async def test_sign_out_needs_csrf_and_ends_the_session(
    engine: Engine, locked: httpx.AsyncClient
) -> None:
    engine.store.add_token("t", hash_token(TOKEN))
    await _sign_in(locked)
    csrf = csrf_of((await locked.get("/")).text)

    refused = await locked.post("/signout", data={"csrf": "nope"})
    response = await locked.post("/signout", data={"csrf": csrf})

    assert refused.status_code == 403
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert (await locked.get("/")).status_code == 303


async def test_cancel_without_csrf_is_refused(engine: Engine, client: httpx.AsyncClient) -> None:
    run = engine.services.start_run("squares/calculate_square", [2])

    response = await client.post(f"/runs/{run.id}/cancel", data={})

    assert response.status_code == 403


async def test_rerun_starts_a_new_run_with_the_same_input(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    run = engine.services.start_run("squares/calculate_square", [7])
    csrf = csrf_of((await client.get(f"/runs/{run.id}")).text)

    response = await client.post(f"/runs/{run.id}/rerun", data={"csrf": csrf})

    new_id = response.headers["location"].split("/runs/")[1].split("?")[0]
    assert response.status_code == 303 and new_id != run.id
    assert engine.services.get_run(new_id).input == [7]


async def test_metrics_need_a_bearer_token_when_tokens_are_required(
    engine: Engine, locked: httpx.AsyncClient
) -> None:
    engine.store.add_token("t", hash_token(TOKEN))

    refused = await locked.get("/metrics")
    allowed = await locked.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert refused.status_code == 401
    assert allowed.status_code == 200 and "baton_queue_depth" in allowed.text


async def test_api_keeps_working_with_bearer_tokens(
    engine: Engine, locked: httpx.AsyncClient
) -> None:
    engine.store.add_token("t", hash_token(TOKEN))

    response = await locked.get("/v1/tasks", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
