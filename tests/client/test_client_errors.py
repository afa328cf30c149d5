from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from baton.client import Baton, BatonAsync
from baton.errors import ClientError, RateLimitError, ServerError, TimeoutError

Handler = Callable[[httpx.Request], httpx.Response]


def client_answering(handler: Handler) -> Baton:
    return Baton(base_url="http://baton.test", transport=httpx.MockTransport(handler))


def answer(status: int, **kwargs: object) -> Handler:
    return lambda request: httpx.Response(status, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "body", "kind", "message", "code"),
    [
        (
            404,
            {"id": "not-found", "message": "task not found", "code": "task_not_found"},
            ClientError,
            "create task failed: task not found (ID: not-found)",
            "task_not_found",
        ),
        (400, {"message": "bad input"}, ClientError, "create task failed: bad input", ""),
        (429, {"message": "slow down"}, RateLimitError, "create task failed: slow down", ""),
        (500, {"message": "boom"}, ServerError, "create task failed: boom", ""),
        (503, {}, ServerError, "create task failed: Unknown error occurred", ""),
    ],
)
def test_json_error_bodies_map_to_client_exceptions(
    status: int, body: dict[str, str], kind: type[ClientError], message: str, code: str
) -> None:
    with (
        client_answering(answer(status, json=body)) as client,
        pytest.raises(ClientError) as caught,
    ):
        client.workflows.start_task("wf/t", [1])

    assert type(caught.value) is kind
    assert str(caught.value) == message
    assert (caught.value.status, caught.value.code) == (status, code)


@pytest.mark.parametrize(("status", "kind"), [(404, ClientError), (502, ServerError)])
def test_non_json_error_body_still_names_the_status(status: int, kind: type[ClientError]) -> None:
    handler = answer(status, text="<html>Bad Gateway</html>")
    with client_answering(handler) as client, pytest.raises(ClientError) as caught:
        client.workflows.get_task_run("trn-1")

    assert type(caught.value) is kind
    assert caught.value.status == status
    assert f"get task run failed: HTTP {status} with a non-JSON body" in str(caught.value)
    assert "Bad Gateway" in str(caught.value)


def test_non_json_success_body_is_a_server_error() -> None:
    with client_answering(answer(200, text="oops")) as client, pytest.raises(ServerError) as caught:
        client.workflows.get_task_run("trn-1")
    assert "non-JSON response (HTTP 200)" in str(caught.value)


def test_success_body_missing_fields_is_a_server_error() -> None:
    with (
        client_answering(answer(200, json={"id": "trn-1"})) as client,
        pytest.raises(ServerError, match=r"get task run failed: unexpected response: .*'taskId'"),
    ):
        client.workflows.get_task_run("trn-1")


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def test_connection_failure_is_a_server_error() -> None:
    handler = raising(httpx.ConnectError("connection refused"))
    with client_answering(handler) as client, pytest.raises(ServerError) as caught:
        client.workflows.list_task_runs()
    assert str(caught.value) == "list task runs failed due to network error: connection refused"


def test_request_timeout_is_a_baton_timeout_error() -> None:
    handler = raising(httpx.ReadTimeout("read timed out"))
    with client_answering(handler) as client, pytest.raises(TimeoutError) as caught:
        client.workflows.cancel_task_run("trn-1")
    assert str(caught.value) == "cancel task run timed out: read timed out"


def test_event_stream_http_error_is_mapped_not_response_not_read() -> None:
    handler = answer(404, json={"message": "task run trn-x not found"})
    with client_answering(handler) as client, pytest.raises(ClientError) as caught:
        list(client.workflows.task_run_events(["trn-x"]))
    assert str(caught.value) == "task run events failed: task run trn-x not found"
    assert caught.value.status == 404


async def test_async_client_maps_errors_the_same_way() -> None:
    transport = httpx.MockTransport(answer(429, json={"message": "slow down"}))
    async with BatonAsync(base_url="http://baton.test", transport=transport) as client:
        with pytest.raises(RateLimitError, match=r"^create task failed: slow down$"):
            await client.workflows.start_task("wf/t")
        with pytest.raises(RateLimitError):
            async for _ in client.workflows.task_run_events("trn-1"):
                pass
