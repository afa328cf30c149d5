"""Unmodified Render SDK workflows run on Baton, and Render's own clients drive it.

Each test runs once per SDK version (0.6.1 and 0.8.0 in the 0.x style, 1.5.0 with
``TaskContext``). The workflows are ``fixtures/v0/main.py`` and ``fixtures/v1/main.py``; the
client calls are made by ``driver.py`` inside that SDK's own virtual environment.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from compat_support import CompatServer

DEADLINE_S = 30.0
# Session set-up (creating the SDK environments on a first run) counts against the first test.
pytestmark = pytest.mark.timeout(900)


def value(report: dict[str, Any], name: str) -> Any:
    entry = report[name]
    assert "value" in entry, f"{name} raised:\n{entry['error']['traceback']}"
    return entry["value"]


def error(report: dict[str, Any], name: str) -> dict[str, Any]:
    entry = report[name]
    assert "error" in entry, f"{name} did not raise: {entry['value']!r}"
    failure: dict[str, Any] = entry["error"]
    return failure


# --- tasks ------------------------------------------------------------------------------------


def test_plain_result_round_trips_as_a_one_element_array(report: dict[str, Any]) -> None:
    run = value(report, "plain_result")

    assert run["status"] == "completed"
    assert run["results"] == [49]
    assert run["input"] == [7]
    assert run["rootTaskRunId"] == run["id"]
    assert run["parentTaskRunId"] == ""
    assert [a["attempt"] for a in run["attempts"]] == [0]


def test_keyword_input_binds_by_name_and_defaults_apply(report: dict[str, Any]) -> None:
    assert value(report, "keyword_input") == ["hello, ada"]
    assert value(report, "default_overridden") == [["hi, ada"], ["hello, bob"]]


def test_custom_task_name_is_the_slug(report: dict[str, Any]) -> None:
    assert value(report, "custom_name") == [{"x": 3, "task": "custom-name"}]


def test_failing_task_raises_task_run_error_with_its_message(report: dict[str, Any]) -> None:
    failure = error(report, "failing_task")

    assert failure["type"] == "TaskRunError"
    assert failure["message"] == "bad 5"


def test_non_json_result_fails_the_run(report: dict[str, Any]) -> None:
    failure = error(report, "non_json_result")

    assert failure["type"] == "TaskRunError"
    assert failure["message"] == "Object of type set is not JSON serializable"


def test_input_that_does_not_bind_fails_in_the_sdk_as_on_render(report: dict[str, Any]) -> None:
    failure = error(report, "input_not_matching_signature")

    assert failure["type"] == "TaskRunError"
    assert "unexpected keyword argument 'zzz'" in failure["message"]


def test_chained_calls_return_the_child_result(report: dict[str, Any]) -> None:
    assert value(report, "chaining") == [16]


def test_parent_sees_child_failure_as_task_run_error(report: dict[str, Any]) -> None:
    assert value(report, "child_failure_caught") == ["caught TaskRunError: Subtask failed: bad 5"]
    failure = error(report, "child_failure_uncaught")
    assert failure["type"] == "TaskRunError"
    assert failure["message"] == "Subtask failed: bad 3"


def test_parallel_fan_out_gathers_every_child(report: dict[str, Any]) -> None:
    assert value(report, "fan_out") == [385]


def test_list_results_reach_the_parent_unwrapped_as_render_does(report: dict[str, Any]) -> None:
    # A child returning [7] sends output [7], which a Render parent unwraps to 7.
    assert value(report, "unwrap_quirk") == [{"seven": 7, "pair": [1, 2]}]


def test_chained_runs_carry_parent_and_root_ids_and_ctx_metadata_shows_them(
    report: dict[str, Any], compat_server: CompatServer
) -> None:
    parent = value(report, "metadata")

    tree = compat_server.rest(f"/task-runs?rootTaskRunId={parent['id']}&limit=10")
    children = [e["taskRun"] for e in tree if e["taskRun"]["id"] != parent["id"]]
    assert children
    for child in children:
        assert child["parentTaskRunId"] == parent["id"]
        assert child["rootTaskRunId"] == parent["id"]
        assert child["parentTaskAttempt"] == 0
    if compat_server.sdk.style == "v1":  # ctx.metadata exists from render 1.2 on
        (meta,) = parent["results"]
        assert (meta["self"], meta["root"], meta["parent"]) == (parent["id"], parent["id"], None)
        assert meta["child"] == {
            "task_run_id": children[0]["id"],
            "root_task_run_id": parent["id"],
            "parent_task_run_id": parent["id"],
        }


def test_retried_attempt_sends_no_event_and_the_run_completes(report: dict[str, Any]) -> None:
    run = value(report, "retried_attempt")

    assert run["status"] == "completed"
    assert run["results"] == ["second attempt"]
    assert run["retries"] == 1
    assert [(a["attempt"], a["status"]) for a in run["attempts"]] == [
        (0, "failed"),
        (1, "completed"),
    ]


def test_secrets_do_not_reach_tasks(report: dict[str, Any]) -> None:
    secret, home = value(report, "environment_is_scrubbed")

    assert secret == [None]
    assert home == [os.environ.get("HOME")]


def test_exit_without_callback_fails_with_the_exit_status(report: dict[str, Any]) -> None:
    failure = error(report, "exit_without_callback")

    assert failure["type"] == "TaskRunError"
    assert failure["message"] == "the task process exited with status 3 before completing the task"


def test_socket_garbage_gets_clear_errors_and_the_attempt_carries_on(
    report: dict[str, Any],
) -> None:
    answers = value(report, "socket_garbage")["results"]  # a returned list is sent as is

    bad_path, bad_json, huge, closed, not_http, bad_stamp = answers
    assert bad_path.startswith("HTTP/1.1 404 ") and "/no-such-path" in bad_path
    assert bad_json.startswith("HTTP/1.1 400 ") and "not valid JSON" in bad_json
    assert huge.startswith("HTTP/1.1 413 ") and "4 MiB" in huge
    assert closed == "closed"
    assert not_http.startswith("HTTP/1.1 400") or not_http == "dropped"
    assert bad_stamp.startswith("HTTP/1.1 200 ")


def test_resent_subtask_with_the_same_idempotency_key_starts_one_child(
    report: dict[str, Any],
) -> None:
    ids = value(report, "resent_subtask")["results"]

    first, again, other = ids
    assert first == again
    assert other != first


# --- clients ----------------------------------------------------------------------------------


def test_start_task_then_await_returns_the_details(report: dict[str, Any]) -> None:
    started = value(report, "start_and_await")

    assert started["before"]["status"] in ("pending", "running")
    assert started["after"]["id"] == started["before"]["id"]
    assert started["after"]["results"] == [81]


def test_get_task_run_shows_the_ended_run(report: dict[str, Any]) -> None:
    seen = value(report, "start_then_get")

    assert seen["started"]["status"] in ("pending", "running")
    assert seen["final"]["status"] == "completed"
    assert seen["final"]["results"] == [16]
    assert seen["final"]["input"] == [4]
    assert seen["final"]["attempts"][0]["status"] == "completed"


def test_list_task_runs_pages_newest_first_with_the_cursor(report: dict[str, Any]) -> None:
    pages = value(report, "list_with_cursor")

    first = [e["id"] for e in pages["first"]]
    second = [e["id"] for e in pages["second"]]
    assert len(first) == len(second) == 2
    assert first[0] == pages["newest"]
    assert not set(first) & set(second)


def test_cancel_of_a_fan_out_cancels_every_run_and_kills_them(
    report: dict[str, Any], compat_server: CompatServer
) -> None:
    canceled = value(report, "cancel_fan_out")

    assert canceled["awaited"] == {"raised": "TaskRunError", "message": "task run canceled"}
    assert canceled["final"]["status"] == "canceled"
    tree = compat_server.rest(f"/task-runs?rootTaskRunId={canceled['root']}&limit=10")
    assert [e["taskRun"]["status"] for e in tree] == ["canceled"] * 4
    for entry in tree:
        run = compat_server.rest(f"/task-runs/{entry['taskRun']['id']}")
        for attempt in run["attempts"]:
            assert attempt["pid"] is None or _gone(attempt["pid"])


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_events_replay_ended_runs_stream_the_rest_and_close(report: dict[str, Any]) -> None:
    stream = value(report, "events_stream")

    ids = [e["id"] for e in stream["events"]]
    assert sorted(ids) == sorted([stream["ended"], stream["fresh"]])
    assert ids[0] == stream["ended"]  # already ended: replayed at once
    assert all(e["status"] == "completed" for e in stream["events"])


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("unknown_task", "create task failed: task not found: compat/nosuch"),
        ("unknown_run", "get task run failed: task run trn-00000000000000000000 not found"),
        ("cancel_ended_run", "cancel task run failed: task run "),
    ],
)
def test_errors_map_to_the_clients_client_error(
    report: dict[str, Any], scenario: str, message: str
) -> None:
    failure = error(report, scenario)

    assert failure["type"] == "ClientError"
    assert "RenderError" in failure["bases"]
    assert failure["message"].startswith(message)
