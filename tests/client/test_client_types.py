from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from baton.client import LogLine, Task, TaskAttempt, TaskRun, TaskRunDetails, TaskRunWithCursor

SPEC_EXAMPLE = json.loads("""
{"id": "trn-d4a1k2m3n4p5q6r7s8t0", "taskId": "tsk-d49v0fs9c44c73a6f1qg", "status": "completed",
 "parentTaskRunId": "trn-d4a1k0000000000000r0", "rootTaskRunId": "trn-d4a1k0000000000000r0",
 "parentTaskAttempt": 0, "retries": 1,
 "attempts": [
   {"attempt": 0, "status": "failed", "startedAt": "2025-01-02T03:04:05.000000Z",
    "completedAt": "2025-01-02T03:04:06.000000Z", "error": "flaky"},
   {"attempt": 1, "status": "completed", "startedAt": "2025-01-02T03:04:08.000000Z",
    "completedAt": "2025-01-02T03:04:09.000000Z", "results": [4]}],
 "input": [2], "results": [4],
 "startedAt": "2025-01-02T03:04:05.000000Z", "completedAt": "2025-01-02T03:04:09.000000Z"}
""")

ROOT = {
    "id": "trn-aaaaaaaaaaaaaaaaaaaa",
    "taskId": "tsk-1",
    "status": "pending",
    "parentTaskRunId": "",
    "rootTaskRunId": "trn-aaaaaaaaaaaaaaaaaaaa",
    "retries": 0,
    "attempts": [],
}


def at(second: int) -> datetime:
    return datetime(2025, 1, 2, 3, 4, second, tzinfo=UTC)


def test_spec_example_parses_into_task_run_details() -> None:
    details = TaskRunDetails.from_json(SPEC_EXAMPLE)

    assert details == TaskRunDetails(
        id="trn-d4a1k2m3n4p5q6r7s8t0",
        task_id="tsk-d49v0fs9c44c73a6f1qg",
        status="completed",
        parent_task_run_id="trn-d4a1k0000000000000r0",
        root_task_run_id="trn-d4a1k0000000000000r0",
        parent_task_attempt=0,
        retries=1,
        attempts=[
            TaskAttempt(
                attempt=0, status="failed", started_at=at(5), completed_at=at(6), error="flaky"
            ),
            TaskAttempt(
                attempt=1, status="completed", started_at=at(8), completed_at=at(9), results=[4]
            ),
        ],
        input_=[2],
        results=[4],
        started_at=at(5),
        completed_at=at(9),
    )
    assert details.is_terminal
    assert details.started_at is not None and details.started_at.tzinfo is UTC


def test_root_run_has_no_parent_and_unknown_keys_are_ignored() -> None:
    run = TaskRun.from_json({**ROOT, "somethingNew": {"x": 1}})

    assert run.parent_task_run_id is None
    assert run.parent_task_attempt is None
    assert run.root_task_run_id == run.id
    assert run.started_at is None
    assert not run.is_terminal


def test_details_read_error_type_and_tolerate_null_results() -> None:
    details = TaskRunDetails.from_json(
        {
            **ROOT,
            "status": "failed",
            "results": None,
            "input": {"n": 5},
            "error": "ValueError: bad",
            "errorType": "ValueError",
        }
    )

    assert details.results == []
    assert details.input_ == {"n": 5}
    assert (details.error, details.error_type) == ("ValueError: bad", "ValueError")


def test_empty_error_string_means_no_error() -> None:
    assert TaskRunDetails.from_json({**ROOT, "input": [], "error": ""}).error is None


def test_nanosecond_timestamps_and_offsets_become_utc() -> None:
    run = TaskRun.from_json(
        {
            **ROOT,
            "startedAt": "2025-01-02T03:04:05.123456789Z",
            "completedAt": "2025-01-02T05:04:05+02:00",
        }
    )

    assert run.started_at == datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert run.completed_at == at(5)


@pytest.mark.parametrize(
    ("change", "problem"),
    [({"id": None}, "'id'"), ({"status": 3}, "'status'"), ({"attempts": {}}, "'attempts'")],
)
def test_malformed_run_raises_value_error_naming_the_field(
    change: dict[str, object], problem: str
) -> None:
    data = {k: v for k, v in {**ROOT, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=problem):
        TaskRun.from_json(data)


def test_task_run_with_cursor_parses_nested_run() -> None:
    item = TaskRunWithCursor.from_json({"taskRun": ROOT, "cursor": "c1"})

    assert item.cursor == "c1"
    assert item.task_run.id == ROOT["id"]


def test_task_parses_and_derives_slug_when_missing() -> None:
    task = Task.from_json(
        {
            "id": "tsk-1",
            "name": "square",
            "workflow": "demo",
            "createdAt": "2025-01-02T03:04:05Z",
            "options": {"retry": {"max_retries": 2}, "plan": "starter"},
        }
    )

    assert task == Task(
        id="tsk-1",
        name="square",
        workflow="demo",
        slug="demo/square",
        created_at=at(5),
        options={"retry": {"max_retries": 2}, "plan": "starter"},
    )


def test_log_line_parses() -> None:
    line = LogLine.from_json(
        {"attempt": 1, "stream": "stderr", "at": "2025-01-02T03:04:05Z", "line": "hi", "seq": 9}
    )

    assert line == LogLine(attempt=1, stream="stderr", at=at(5), line="hi", seq=9)
