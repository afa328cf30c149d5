"""Every REST call as data (method, path, query, body, parser), shared by both clients.

A client only sends a ``Call`` and hands the response to ``Call.finish``, so the sync and
async clients cannot drift apart on paths, parameters or parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import quote

import httpx

from baton.client import _http
from baton.client.types import LogLine, Task, TaskRun, TaskRunDetails, TaskRunWithCursor
from baton.errors import ServerError

T = TypeVar("T")
Params = list[tuple[str, str]]
TASK_PAGE = 100  # tasks fetched per request by list_tasks


@dataclass(frozen=True)
class Call(Generic[T]):
    op: str  # names the operation in error messages: "<op> failed: ..."
    method: str
    path: str  # relative to the /v1 base URL
    parse: Callable[[object], T]
    params: Params = field(default_factory=list)
    body: dict[str, object] | None = None

    def finish(self, response: httpx.Response) -> T:
        """Maps an error status, else parses the (read) response body."""
        _http.check(self.op, response)
        data = _http.decode_json(self.op, response)
        try:
            return self.parse(data)
        except ValueError as exc:
            raise ServerError(
                f"{self.op} failed: unexpected response: {exc}", status=response.status_code
            ) from None


def run_path(task_run_id: str, suffix: str = "") -> str:
    return f"task-runs/{quote(task_run_id, safe='')}{suffix}"


def _object(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object, got {value!r}")
    return value


def _array(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON array, got {value!r}")
    return value


def _values(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def encode_input(value: Sequence[object] | Mapping[str, object] | None) -> object:
    """The ``input`` of a start request: positional args as a list, keyword args as a dict."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"input must be a list of arguments or a dict, not {type(value).__name__}")
    return list(value)


def start_task(
    task_slug: str,
    input: Sequence[object] | Mapping[str, object] | None,
    idempotency_key: str | None,
) -> Call[TaskRun]:
    body: dict[str, object] = {"task": task_slug, "input": encode_input(input)}
    if idempotency_key is not None:
        body["idempotencyKey"] = idempotency_key
    return Call(
        "create task", "POST", "task-runs", lambda d: TaskRun.from_json(_object(d)), body=body
    )


def get_task_run(task_run_id: str) -> Call[TaskRunDetails]:
    return Call(
        "get task run",
        "GET",
        run_path(task_run_id),
        lambda d: TaskRunDetails.from_json(_object(d)),
    )


def cancel_task_run(task_run_id: str) -> Call[None]:
    return Call("cancel task run", "DELETE", run_path(task_run_id), lambda _: None)


def list_task_runs(
    *,
    limit: int | None,
    cursor: str | None,
    task_slug: str | Iterable[str] | None,
    root_task_run_id: str | Iterable[str] | None,
    status: str | Iterable[str] | None,
) -> Call[list[TaskRunWithCursor]]:
    params: Params = []
    if limit is not None:
        params.append(("limit", str(limit)))
    if cursor is not None:
        params.append(("cursor", cursor))
    params += [("taskSlug", v) for v in _values(task_slug)]
    params += [("rootTaskRunId", v) for v in _values(root_task_run_id)]
    params += [("status", v) for v in _values(status)]
    return Call(
        "list task runs",
        "GET",
        "task-runs",
        lambda d: [TaskRunWithCursor.from_json(_object(item)) for item in _array(d)],
        params=params,
    )


def _task_page(data: object) -> list[tuple[Task, str]]:
    page = []
    for item in _array(data):
        element = _object(item)
        cursor = element.get("cursor")
        page.append((Task.from_json(_object(element.get("task"))), str(cursor or "")))
    return page


def list_tasks_page(cursor: str | None) -> Call[list[tuple[Task, str]]]:
    params: Params = [("limit", str(TASK_PAGE))]
    if cursor:
        params.append(("cursor", cursor))
    return Call("list tasks", "GET", "tasks", _task_page, params=params)


class TaskPages:
    """Collects ``list_tasks`` pages; stops on a short page or a cursor seen before."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self._seen: set[str] = set()

    def add(self, page: list[tuple[Task, str]]) -> str | None:
        """Keeps a page's tasks; returns the cursor of the next page, or ``None`` at the end."""
        for task, _ in page:
            self.tasks.setdefault(task.id, task)
        if len(page) < TASK_PAGE or not page[-1][1] or page[-1][1] in self._seen:
            return None
        self._seen.add(page[-1][1])
        return page[-1][1]


def _log_lines(data: object) -> list[LogLine]:
    lines = _object(data).get("lines")
    return [LogLine.from_json(_object(item)) for item in _array(lines if lines else [])]


def get_logs(task_run_id: str, attempt: int | None, after: int | None) -> Call[list[LogLine]]:
    params: Params = []
    if attempt is not None:
        params.append(("attempt", str(attempt)))
    if after is not None:
        params.append(("after", str(after)))
    return Call("get logs", "GET", run_path(task_run_id, "/logs"), _log_lines, params=params)


EVENTS_OP = "task run events"
EVENTS_PATH = "task-runs/events"


def events_params(task_run_ids: str | Iterable[str]) -> Params:
    ids = _values(task_run_ids)
    if not ids:
        raise ValueError("task_run_events needs at least one task run id")
    return [("taskRunIds", i) for i in ids]
