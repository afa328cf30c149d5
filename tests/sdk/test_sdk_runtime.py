"""The attempt process against a real socket: input, callback, chaining (forked processes)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from typing import Any

import pytest

from baton.errors import ClientError, NonRetryableError, TaskRunError
from baton.sdk import TaskContext, Workflows, restore, sockclient
from baton.sdk.runtime import register, run_attempt
from baton.sdk.warmup import warm_up

app = Workflows(default_timeout=600)


@app.task
def square(a: int) -> int:
    return a * a


@app.task
def fail(n: int) -> None:
    raise ValueError(f"bad {n}")


@app.task
def give_up() -> None:
    raise NonRetryableError("no point retrying")


@app.task
def not_json() -> set[int]:
    return {1, 2}


@app.task
def pair(a: int, b: int = 10) -> list[int]:
    return [a, b]


@app.task
def meta(ctx: TaskContext) -> list[Any]:
    m = ctx.metadata
    return [m.task_run_id, m.root_task_run_id, m.parent_task_run_id, m.attempt]


@app.task
def leave() -> None:
    raise SystemExit(3)


@app.task
async def fan_out(values: list[int]) -> dict[str, Any]:
    started = time.monotonic()
    children = [square(v) for v in values]
    results = await asyncio.gather(*children)
    ids = [await child.run_id() for child in children]
    return {"results": results, "ids": ids, "elapsed": time.monotonic() - started}


@app.task
async def fan_out_ctx(ctx: TaskContext, n: int) -> int:
    results = await asyncio.gather(*(ctx.run(square, v) for v in range(n)))
    return sum(results)


@app.task
async def catch_child() -> list[Any]:
    try:
        await fail(5)
    except TaskRunError as exc:
        return [str(exc), exc.run_id, exc.error_type]
    return []


@app.task
async def propagate_child() -> None:
    await fail(6)


@app.task
async def refused() -> list[Any]:
    try:
        await square(2)
    except ClientError as exc:
        return [type(exc).__name__, exc.status, str(exc)]
    return []


def b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def output_of(callback: dict[str, Any]) -> Any:
    """The value the task returned: Baton's SDK always sends ``[value]``."""
    (value,) = json.loads(base64.b64decode(callback["complete"]["output"]))
    return value


async def test_complete_callback_carries_wrapped_result(fake_engine: Any) -> None:
    fake_engine.set_input("square", [7])
    assert await fake_engine.attempt(app.registry) == 0
    assert fake_engine.callbacks == [{"complete": {"output": b64([49])}}]
    method, target, _ = fake_engine.requests[0]
    assert method == "GET"
    assert target.startswith("/input?sdk_started_at=")
    assert int(target.rpartition("=")[2]) > 0


async def test_keyword_input_binds_by_name(fake_engine: Any) -> None:
    fake_engine.set_input("pair", {"b": 2, "a": 1})
    assert await fake_engine.attempt(app.registry) == 0
    assert output_of(fake_engine.callbacks[0]) == [1, 2]


async def test_error_callback_has_type_trace_and_is_retryable(fake_engine: Any) -> None:
    fake_engine.set_input("fail", [5])
    assert await fake_engine.attempt(app.registry) == 1
    [callback] = fake_engine.callbacks
    error = callback["error"]
    assert error["details"] == "bad 5"
    assert error["type"] == "ValueError"
    assert error["retryable"] is True
    assert "Traceback (most recent call last)" in error["stack_trace"]
    assert 'raise ValueError(f"bad {n}")' in error["stack_trace"]


async def test_non_retryable_error_is_marked_so(fake_engine: Any) -> None:
    fake_engine.set_input("give_up")
    assert await fake_engine.attempt(app.registry) == 1
    error = fake_engine.callbacks[0]["error"]
    assert (error["type"], error["retryable"]) == ("NonRetryableError", False)


async def test_unknown_task_fails_with_not_found(fake_engine: Any) -> None:
    fake_engine.set_input("nosuch")
    assert await fake_engine.attempt(app.registry) == 1
    error = fake_engine.callbacks[0]["error"]
    assert error["details"] == "Task 'nosuch' not found"
    assert error["type"] == "TaskNotFound"


async def test_result_that_is_not_json_is_an_error_callback(fake_engine: Any) -> None:
    fake_engine.set_input("not_json")
    assert await fake_engine.attempt(app.registry) == 1
    error = fake_engine.callbacks[0]["error"]
    assert error["type"] == "TypeError"
    assert error["details"] == "Object of type set is not JSON serializable"


async def test_binding_error_is_a_type_error_callback(fake_engine: Any) -> None:
    fake_engine.set_input("square", [1, 2, 3])
    assert await fake_engine.attempt(app.registry) == 1
    assert fake_engine.callbacks[0]["error"]["type"] == "TypeError"


async def test_bad_input_exits_1_without_callback(fake_engine: Any) -> None:
    fake_engine.input = {"task_name": "", "input": "W10="}
    assert await fake_engine.attempt(app.registry) == 1
    fake_engine.input = {"task_name": "square", "input": "not base64 json"}
    assert await fake_engine.attempt(app.registry) == 1
    assert fake_engine.callbacks == []


async def test_system_exit_propagates_without_callback(fake_engine: Any) -> None:
    fake_engine.set_input("leave")
    assert await fake_engine.attempt(app.registry) == 3
    assert fake_engine.callbacks == []


async def test_context_task_gets_metadata_from_input(fake_engine: Any) -> None:
    fake_engine.set_input(
        "meta", [], task_run_id="trn-c", root_task_run_id="trn-r", parent_task_run_id="trn-p"
    )
    fake_engine.input["attempt"] = 2
    assert await fake_engine.attempt(app.registry) == 0
    assert output_of(fake_engine.callbacks[0]) == ["trn-c", "trn-r", "trn-p", 2]


async def test_root_metadata_has_no_parent(fake_engine: Any) -> None:
    fake_engine.set_input("meta")
    assert await fake_engine.attempt(app.registry) == 0
    assert output_of(fake_engine.callbacks[0]) == ["trn-root", "trn-root", None, 0]


async def test_gathered_children_run_in_parallel_with_long_polls(fake_engine: Any) -> None:
    fake_engine.child_results["square"] = lambda args: args[0] ** 2
    fake_engine.child_delay_s = 0.3
    fake_engine.set_input("fan_out", [[1, 2, 3]])
    assert await fake_engine.attempt(app.registry) == 0
    result = output_of(fake_engine.callbacks[0])
    assert result["results"] == [1, 4, 9]
    assert sorted(result["ids"]) == ["trn-child-1", "trn-child-2", "trn-child-3"]
    assert result["elapsed"] < 0.8
    submits = [body for _, target, body in fake_engine.requests if target == "/run-subtask"]
    assert {body["task_name"] for body in submits} == {"square"}
    assert sorted(body["input"] for body in submits) == sorted(b64([v]) for v in (1, 2, 3))
    assert len({body["idempotency_key"] for body in submits}) == 3
    polls = [body for _, target, body in fake_engine.requests if target == "/get-subtask-result"]
    assert polls and all(body["wait_ms"] == 10000 for body in polls)


async def test_context_run_chains_hundreds_of_children(fake_engine: Any) -> None:
    fake_engine.child_results["square"] = lambda args: args[0] ** 2
    fake_engine.child_delay_s = 0.2
    fake_engine.set_input("fan_out_ctx", [300])
    assert await fake_engine.attempt(app.registry) == 0
    assert output_of(fake_engine.callbacks[0]) == sum(v * v for v in range(300))
    # Sequential calls would never have two requests in flight; how many overlap beyond that
    # depends on the machine's load (74 of 300 seen on a loaded 2-core machine).
    assert fake_engine.max_in_flight > 10


async def test_failed_child_raises_task_run_error_in_parent(fake_engine: Any) -> None:
    fake_engine.child_results["fail"] = lambda args: fail.func(*args)
    fake_engine.set_input("catch_child")
    assert await fake_engine.attempt(app.registry) == 0
    assert output_of(fake_engine.callbacks[0]) == [
        "Subtask failed: bad 5",
        "trn-child-1",
        "ValueError",
    ]


async def test_uncaught_child_failure_fails_the_parent(fake_engine: Any) -> None:
    fake_engine.child_results["fail"] = lambda args: fail.func(*args)
    fake_engine.set_input("propagate_child")
    assert await fake_engine.attempt(app.registry) == 1
    error = fake_engine.callbacks[0]["error"]
    assert (error["type"], error["details"]) == ("TaskRunError", "Subtask failed: bad 6")


async def test_refused_submission_raises_client_error_with_status(fake_engine: Any) -> None:
    fake_engine.refuse_subtask = (409, "parent run was canceled")
    fake_engine.set_input("refused")
    assert await fake_engine.attempt(app.registry) == 0
    name, status, message = output_of(fake_engine.callbacks[0])
    assert (name, status) == ("ClientError", 409)
    assert message == "POST /run-subtask failed with status 409: parent run was canceled"


async def test_register_posts_the_task_definitions(fake_engine: Any) -> None:
    assert await fake_engine.forked(lambda: register(app.registry, fake_engine.path)) == 0
    assert fake_engine.registered == [{"tasks": [d.to_wire() for d in app.task_defs()]}]


async def test_start_runs_the_mode_from_the_environment(fake_engine: Any) -> None:
    def main() -> int:
        os.environ["RENDER_SDK_MODE"] = "run"
        os.environ["RENDER_SDK_SOCKET_PATH"] = fake_engine.path
        app.start()

    fake_engine.set_input("square", [3])
    assert await fake_engine.forked(main) == 0
    assert output_of(fake_engine.callbacks[0]) == 9


async def test_unreachable_socket_exits_1(
    fake_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sockclient, "DEFAULT_TRIES", 3)
    monkeypatch.setattr(sockclient, "DEFAULT_BACKOFF_S", 0.01)
    missing = fake_engine.path + ".missing"
    assert await fake_engine.forked(lambda: run_attempt(app.registry, missing)) == 1


@app.task
async def forget_child() -> str:
    square(2)  # never awaited: cancelled when the attempt's loop closes
    await asyncio.sleep(0)
    return "done"


async def test_unawaited_child_does_not_block_the_callback(fake_engine: Any) -> None:
    fake_engine.child_results["square"] = lambda args: args[0] ** 2
    fake_engine.child_delay_s = 5.0
    fake_engine.set_input("forget_child")
    assert await fake_engine.attempt(app.registry) == 0
    assert output_of(fake_engine.callbacks[0]) == "done"


def test_warm_up_runs_a_no_op_attempt_in_process() -> None:
    warm_up()


async def test_plain_task_on_a_retry_restores_its_checkpoints(fake_engine: Any) -> None:
    app = Workflows()

    @app.task
    def resume() -> object:
        return restore("done", default=0)

    fake_engine.checkpoints = {"done": 41}
    fake_engine.set_input("resume", attempt=1)
    assert await fake_engine.attempt(app.registry) == 0
    assert output_of(fake_engine.callbacks[0]) == 41
    assert ("GET", "/checkpoints", None) in fake_engine.requests


async def test_plain_task_replaces_a_kept_connection_the_engine_closed(fake_engine: Any) -> None:
    # The fake engine closes every connection after one answer, so /callback cannot reuse
    # the connection of /input and must open a new one.
    app = Workflows()

    @app.task
    def seven() -> int:
        return 7

    fake_engine.set_input("seven")
    assert await fake_engine.attempt(app.registry) == 0
    assert output_of(fake_engine.callbacks[0]) == 7
