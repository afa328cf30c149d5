from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from baton.client import AwaitableTaskRun, Baton, BatonAsync, _wait
from baton.errors import ClientError, ServerError, TaskRunError, TimeoutError

RUN_ID = "trn-d0hp8fs9c44c73a6f1qg"


def run(status: str = "pending", run_id: str = RUN_ID, **extra: object) -> dict[str, object]:
    return {
        "id": run_id,
        "taskId": "tsk-1",
        "status": status,
        "parentTaskRunId": "",
        "rootTaskRunId": run_id,
        "retries": 0,
        "attempts": [],
        "input": [5],
        "results": [],
        **extra,
    }


def sse(*payloads: dict[str, object], event: str = "task.completed") -> bytes:
    out = "retry: 2000\n: ping\n\n"
    for payload in payloads:
        out += f"id: 1\nevent: {event}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
    return out.encode()


class Server:
    """Answers a start with 202, a GET with ``details`` and event streams from a queue."""

    def __init__(self, *streams: httpx.Response | bytes, start: str = "pending") -> None:
        self.streams = list(streams)
        self.start_status = start
        self.details = run("completed", results=[25])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            return httpx.Response(202, json=run(self.start_status))
        if request.url.path == "/v1/task-runs/events":
            stream = self.streams.pop(0) if self.streams else b""
            if isinstance(stream, httpx.Response):
                return stream
            return httpx.Response(
                200, content=stream, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=self.details)

    @property
    def event_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/events")]

    def sync(self) -> Baton:
        return Baton(base_url="http://baton.test", transport=httpx.MockTransport(self))

    def aio(self) -> BatonAsync:
        return BatonAsync(base_url="http://baton.test", transport=httpx.MockTransport(self))


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wait, "BACKOFF_S", (0.0, 0.0, 0.0, 0.0))


def test_run_task_returns_the_completed_run_from_the_event_stream() -> None:
    body = (
        sse(run("completed", "trn-other", results=[1]))
        + b"event: task.running\ndata: {}\n\n"
        + b"event: task.completed\ndata: not json\n\n"
        + sse(run("completed", results=[25]))
    )
    server = Server(body)
    with server.sync() as client:
        details = client.workflows.run_task("wf/square", [5])

    assert (details.id, details.status, details.results) == (RUN_ID, "completed", [25])
    (events,) = server.event_requests
    assert events.url.params.multi_items() == [("taskRunIds", RUN_ID)]
    assert events.headers["accept"] == "text/event-stream"
    assert events.headers["cache-control"] == "no-cache"


def test_run_task_raises_task_run_error_with_the_exact_message() -> None:
    failed = run("failed", error="ValueError: bad", errorType="ValueError")
    with Server(sse(failed)).sync() as client, pytest.raises(TaskRunError) as caught:
        client.workflows.run_task("wf/square", [5])

    assert str(caught.value) == "ValueError: bad"
    assert (caught.value.run_id, caught.value.error_type) == (RUN_ID, "ValueError")


def test_canceled_run_with_error_raises_and_without_error_returns() -> None:
    canceled = run("canceled", error="task run canceled")
    with Server(sse(canceled)).sync() as client, pytest.raises(TaskRunError):
        client.workflows.run_task("wf/t")
    with Server(sse(run("canceled"))).sync() as client:
        assert client.workflows.run_task("wf/t").status == "canceled"


def test_stream_closed_without_event_is_retried_then_fails() -> None:
    server = Server()
    with server.sync() as client, pytest.raises(ServerError, match="event stream closed early"):
        client.workflows.run_task("wf/t")
    assert len(server.event_requests) == len(_wait.BACKOFF_S) + 1


def test_wait_recovers_after_an_empty_stream_and_a_server_error() -> None:
    server = Server(
        b": ping\n\n", httpx.Response(503, json={"message": "down"}), sse(run("completed"))
    )
    with server.sync() as client:
        assert client.workflows.wait(RUN_ID).status == "completed"
    assert len(server.event_requests) == 3


def test_wait_does_not_retry_a_client_error() -> None:
    server = Server(httpx.Response(404, json={"message": f"task run {RUN_ID} not found"}))
    with server.sync() as client, pytest.raises(ClientError) as caught:
        client.workflows.wait(RUN_ID)
    assert caught.value.status == 404
    assert len(server.event_requests) == 1


def test_run_already_ended_at_start_is_fetched_not_streamed() -> None:
    server = Server(start="failed")
    server.details = run("failed", error="boom")
    with server.sync() as client, pytest.raises(TaskRunError, match=r"^boom$"):
        client.workflows.run_task("wf/t")
    assert server.event_requests == []


def test_wait_timeout_raises_baton_timeout_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_wait, "BACKOFF_S", (30.0,))
    began = time.monotonic()
    with Server().sync() as client, pytest.raises(TimeoutError, match=r"timed out after 0\.05 s"):
        client.workflows.run_task("wf/t", timeout=0.05)
    assert time.monotonic() - began < 2


def test_event_split_inside_a_multibyte_character_survives_the_transport() -> None:
    body = sse(run("failed", error="échec: 東京"))
    cut = body.index("東".encode()) + 2
    chunked = httpx.Response(
        200, content=iter([body[:cut], body[cut:]]), headers={"content-type": "text/event-stream"}
    )
    with Server(chunked).sync() as client, pytest.raises(TaskRunError) as caught:
        client.workflows.wait(RUN_ID)
    assert str(caught.value) == "échec: 東京"


def test_task_run_events_yields_every_ended_run() -> None:
    server = Server(sse(run("completed", "trn-a"), run("failed", "trn-b", error="x")))
    with server.sync() as client:
        ended = list(client.workflows.task_run_events(["trn-a", "trn-b"]))

    assert [(d.id, d.status, d.error) for d in ended] == [
        ("trn-a", "completed", None),
        ("trn-b", "failed", "x"),
    ]
    assert server.event_requests[0].url.params.multi_items() == [
        ("taskRunIds", "trn-a"),
        ("taskRunIds", "trn-b"),
    ]


def test_task_run_events_needs_an_id() -> None:
    with Server().sync() as client, pytest.raises(ValueError):
        client.workflows.task_run_events([])


async def test_awaiting_a_started_run_waits_for_it() -> None:
    async with Server(sse(run("completed", results=[25]))).aio() as client:
        started = await client.workflows.start_task("wf/square", [5])
        assert isinstance(started, AwaitableTaskRun)
        assert (started.id, started.status, started.task_run.id) == (RUN_ID, "pending", RUN_ID)

        details = await started

    assert details.results == [25]


async def test_awaiting_a_failed_run_raises_task_run_error() -> None:
    async with Server(sse(run("failed", error="ValueError: bad"))).aio() as client:
        started = await client.workflows.start_task("wf/square", [5])
        with pytest.raises(TaskRunError, match=r"^ValueError: bad$"):
            await started


async def test_async_run_task_retries_empty_streams() -> None:
    server = Server(b"", b"", sse(run("completed")))
    async with server.aio() as client:
        assert (await client.workflows.run_task("wf/t")).status == "completed"
    assert len(server.event_requests) == 3


async def test_async_wait_gives_up_after_the_last_attempt() -> None:
    server = Server()
    async with server.aio() as client:
        with pytest.raises(ServerError):
            await client.workflows.wait(RUN_ID)
    assert len(server.event_requests) == len(_wait.BACKOFF_S) + 1


async def test_async_timeout_cuts_a_silent_stream() -> None:
    async def silent(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json=run())
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    transport = httpx.MockTransport(silent)
    async with BatonAsync(base_url="http://baton.test", transport=transport) as client:
        with pytest.raises(TimeoutError, match=r"timed out after 0\.05 s"):
            await client.workflows.run_task("wf/t", timeout=0.05)


async def test_async_task_run_events_is_an_async_iterator() -> None:
    async with Server(sse(run("completed", "trn-a"), run("canceled", "trn-b"))).aio() as client:
        ids = [d.id async for d in client.workflows.task_run_events(["trn-a", "trn-b"])]
    assert ids == ["trn-a", "trn-b"]


def chunks(body: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_one_byte_chunks_parse_the_same() -> None:
    body = sse(run("completed", results=["ünïcode"]))
    streamed = httpx.Response(200, content=chunks(body, 1))
    with Server(streamed).sync() as client:
        assert client.workflows.wait(RUN_ID).results == ["ünïcode"]
