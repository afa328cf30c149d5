from __future__ import annotations

import json

import httpx
import pytest

from baton.client import Baton, BatonAsync, LogLine, _calls

RUN = {
    "id": "trn-1",
    "taskId": "tsk-1",
    "status": "pending",
    "parentTaskRunId": "",
    "rootTaskRunId": "trn-1",
    "retries": 0,
    "attempts": [],
}


class Recorder:
    """A MockTransport handler that records requests and answers from a queue."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self._responses = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._responses.pop(0)

    def client(self, token: str | None = None, base_url: str | None = None) -> Baton:
        return Baton(token, base_url, transport=httpx.MockTransport(self))


def test_start_task_posts_slug_input_and_idempotency_key() -> None:
    recorder = Recorder(httpx.Response(202, json=RUN), httpx.Response(202, json=RUN))
    with recorder.client(base_url="http://baton.test") as client:
        run = client.workflows.start_task("wf/square", (3,), idempotency_key="k1")
        client.workflows.start_task("wf/square", {"n": 3})

    first, second = recorder.requests
    assert (first.method, str(first.url)) == ("POST", "http://baton.test/v1/task-runs")
    assert json.loads(first.content) == {"task": "wf/square", "input": [3], "idempotencyKey": "k1"}
    assert json.loads(second.content) == {"task": "wf/square", "input": {"n": 3}}
    assert first.headers["content-type"] == "application/json"
    assert run.id == "trn-1"


def test_start_task_without_input_sends_empty_list() -> None:
    recorder = Recorder(httpx.Response(202, json=RUN))
    with recorder.client() as client:
        client.workflows.start_task("wf/t")
    assert json.loads(recorder.requests[0].content)["input"] == []


def test_start_task_rejects_a_string_input() -> None:
    with Recorder().client() as client, pytest.raises(TypeError):
        client.workflows.start_task("wf/t", "abc")


def test_list_task_runs_sends_filters_as_repeated_keys() -> None:
    page = [{"taskRun": RUN, "cursor": "c-1"}]
    recorder = Recorder(httpx.Response(200, json=page))
    with recorder.client(base_url="http://baton.test") as client:
        runs = client.workflows.list_task_runs(
            limit=5,
            cursor="abc",
            task_slug=["wf/a", "wf/b"],
            root_task_run_id="trn-r",
            status=("failed", "canceled"),
        )

    request = recorder.requests[0]
    assert request.url.path == "/v1/task-runs"
    assert request.url.params.multi_items() == [
        ("limit", "5"),
        ("cursor", "abc"),
        ("taskSlug", "wf/a"),
        ("taskSlug", "wf/b"),
        ("rootTaskRunId", "trn-r"),
        ("status", "failed"),
        ("status", "canceled"),
    ]
    assert [(r.task_run.id, r.cursor) for r in runs] == [("trn-1", "c-1")]


def test_list_task_runs_sends_only_the_parameters_set() -> None:
    recorder = Recorder(httpx.Response(200, json=[]))
    with recorder.client() as client:
        assert client.workflows.list_task_runs() == []
    assert recorder.requests[0].url.query == b""


def test_task_run_id_is_escaped_in_the_path() -> None:
    recorder = Recorder(httpx.Response(204))
    with recorder.client(base_url="http://baton.test") as client:
        client.workflows.cancel_task_run("../tasks?x=1")
    request = recorder.requests[0]
    assert request.method == "DELETE"
    assert request.url.raw_path == b"/v1/task-runs/..%2Ftasks%3Fx%3D1"


def test_list_tasks_follows_cursors_until_a_short_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_calls, "TASK_PAGE", 2)

    def task(n: int) -> dict[str, object]:
        return {"task": {"id": f"tsk-{n}", "name": f"t{n}", "workflow": "wf"}, "cursor": f"c{n}"}

    recorder = Recorder(
        httpx.Response(200, json=[task(1), task(2)]), httpx.Response(200, json=[task(3)])
    )
    with recorder.client() as client:
        tasks = client.workflows.list_tasks()

    assert [t.slug for t in tasks] == ["wf/t1", "wf/t2", "wf/t3"]
    assert [r.url.params.multi_items() for r in recorder.requests] == [
        [("limit", "2")],
        [("limit", "2"), ("cursor", "c2")],
    ]


def test_list_tasks_stops_when_the_server_repeats_a_cursor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_calls, "TASK_PAGE", 1)
    page = [{"task": {"id": "tsk-1", "name": "t", "workflow": "wf"}, "cursor": "c"}]
    recorder = Recorder(*(httpx.Response(200, json=page) for _ in range(3)))
    with recorder.client() as client:
        assert [t.id for t in client.workflows.list_tasks()] == ["tsk-1"]
    assert len(recorder.requests) == 2


def test_get_logs_sends_attempt_and_after_and_parses_lines() -> None:
    body = {
        "lines": [
            {"attempt": 0, "stream": "stdout", "at": "2025-01-02T03:04:05Z", "line": "a", "seq": 4}
        ],
        "next": 4,
    }
    recorder = Recorder(httpx.Response(200, json=body))
    with recorder.client(base_url="http://baton.test") as client:
        lines = client.workflows.get_logs("trn-1", attempt=0, after=3)

    request = recorder.requests[0]
    assert request.url.path == "/v1/task-runs/trn-1/logs"
    assert request.url.params.multi_items() == [("attempt", "0"), ("after", "3")]
    assert [(line.line, line.seq) for line in lines] == [("a", 4)]
    assert isinstance(lines[0], LogLine)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:1", "http://h:1/v1"),
        ("http://h:1/", "http://h:1/v1"),
        ("http://h:1/v1/", "http://h:1/v1"),
        ("https://h/prefix", "https://h/prefix/v1"),
        ("localhost:8000", "http://localhost:8000/v1"),
        ("baton.example.com", "https://baton.example.com/v1"),
    ],
)
def test_base_url_gets_v1_once(given: str, expected: str) -> None:
    with Baton(base_url=given) as client:
        assert client.base_url == expected


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_API_KEY", "secret")
    monkeypatch.setenv("BATON_URL", "http://env.test:9000")
    recorder = Recorder(httpx.Response(200, json=[]))
    with recorder.client() as client:
        client.workflows.list_task_runs()

    request = recorder.requests[0]
    assert str(request.url) == "http://env.test:9000/v1/task-runs"
    assert request.headers["authorization"] == "Bearer secret"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_API_KEY", "env-secret")
    monkeypatch.setenv("BATON_URL", "http://env.test:9000")
    recorder = Recorder(httpx.Response(200, json=[]))
    with recorder.client(token="arg", base_url="http://arg.test") as client:
        client.workflows.list_task_runs()
    request = recorder.requests[0]
    assert (request.url.host, request.headers["authorization"]) == ("arg.test", "Bearer arg")


def test_no_token_means_no_authorization_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATON_API_KEY", raising=False)
    monkeypatch.delenv("BATON_URL", raising=False)
    recorder = Recorder(httpx.Response(200, json=[]))
    with recorder.client() as client:
        client.workflows.list_task_runs()
    request = recorder.requests[0]
    assert "authorization" not in request.headers
    assert str(request.url) == "http://127.0.0.1:8000/v1/task-runs"


async def test_async_client_builds_the_same_requests() -> None:
    recorder = Recorder(
        httpx.Response(200, json=[{"taskRun": RUN, "cursor": "c"}]),
        httpx.Response(200, json={"lines": []}),
        httpx.Response(204),
    )
    transport = httpx.MockTransport(recorder)
    async with BatonAsync("tok", "http://baton.test", transport=transport) as client:
        runs = await client.workflows.list_task_runs(limit=1, task_slug="wf/a")
        assert await client.workflows.get_logs("trn-1") == []
        await client.workflows.cancel_task_run("trn-1")

    assert runs[0].task_run.id == "trn-1"
    assert [(r.method, str(r.url)) for r in recorder.requests] == [
        ("GET", "http://baton.test/v1/task-runs?limit=1&taskSlug=wf%2Fa"),
        ("GET", "http://baton.test/v1/task-runs/trn-1/logs"),
        ("DELETE", "http://baton.test/v1/task-runs/trn-1"),
    ]
    assert recorder.requests[0].headers["authorization"] == "Bearer tok"
