"""Drives a Baton server with Render's own clients; runs inside one SDK's virtual environment.

``python driver.py <sdk-module> <base-url> <token> <workflow> <style> <scratch-dir>`` runs every
scenario below once and prints one JSON object: for each scenario either ``{"value": ...}`` or
``{"error": {"type": ..., "message": ...}}``. The tests in this folder assert on that report,
so one process per SDK version covers them all. Standard library and the SDK only.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

SDK, URL, TOKEN, WF, STYLE, SCRATCH = sys.argv[1:7]
Render = importlib.import_module(SDK).Render
RenderAsync = importlib.import_module(SDK).RenderAsync
ListTaskRunsParams = importlib.import_module(f"{SDK}.client.types").ListTaskRunsParams
httpx = importlib.import_module("httpx")

DEADLINE_S = 60.0
SCENARIOS: dict[str, Callable[[], Any]] = {}


def scenario(fn: Callable[[], Any]) -> Callable[[], Any]:
    SCENARIOS[fn.__name__] = fn
    return fn


def plain(value: Any) -> Any:
    """The SDK's model objects as JSON-able data (``Unset`` becomes ``None``)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "value") and type(value).__module__.endswith("status"):
        return value.value
    if type(value).__name__ == "Unset":
        return None
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return repr(value)


def details(run: Any) -> dict[str, Any]:
    data = plain(run)
    assert isinstance(data, dict)
    return data


def client() -> Any:
    return Render(token=TOKEN, base_url=URL)


def async_client() -> Any:
    return RenderAsync(token=TOKEN, base_url=URL)


def slug(name: str) -> str:
    return f"{WF}/{name}"


def rest(path: str) -> Any:
    answer = httpx.get(f"{URL}/v1{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    answer.raise_for_status()
    return answer.json()


def wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up after {DEADLINE_S} s waiting for {what}")


def run(name: str, data: Any) -> dict[str, Any]:
    return details(client().workflows.run_task(slug(name), data))


# --- the worker side: fixture tasks through run_task ------------------------------------------


@scenario
def plain_result() -> Any:
    return run("square", [7])


@scenario
def keyword_input() -> Any:
    return run("greet", {"name": "ada"})["results"]


@scenario
def default_overridden() -> Any:
    return [
        run("greet", {"name": "ada", "greeting": "hi"})["results"],
        run("greet", ["bob"])["results"],
    ]


@scenario
def custom_name() -> Any:
    return run("custom-name", [3])["results"]


@scenario
def failing_task() -> Any:
    return run("fail", [5])


@scenario
def non_json_result() -> Any:
    return run("non_json", [])


@scenario
def input_not_matching_signature() -> Any:
    return run("square", {"zzz": 1})


@scenario
def chaining() -> Any:
    return run("chain", [2])["results"]


@scenario
def child_failure_caught() -> Any:
    return run("parent_of_failure", [5])["results"]


@scenario
def child_failure_uncaught() -> Any:
    return run("parent_fails", [3])


@scenario
def fan_out() -> Any:
    return run("sum_squares", [list(range(1, 11))])["results"]


@scenario
def unwrap_quirk() -> Any:
    return run("unwrap", [])["results"]


@scenario
def metadata() -> Any:
    # 0.x has no ctx.metadata: there the REST side of the same chain is checked.
    return run("meta_parent" if STYLE == "v1" else "unwrap", [])


@scenario
def retried_attempt() -> Any:
    marker = os.path.join(SCRATCH, f"flaky-{time.time_ns()}")
    return run("flaky", [marker])


@scenario
def environment_is_scrubbed() -> Any:
    return [run("env", ["BATON_COMPAT_SECRET"])["results"], run("env", ["HOME"])["results"]]


@scenario
def exit_without_callback() -> Any:
    return run("exit_hard", [])


@scenario
def socket_garbage() -> Any:
    return run("garbage", [])


@scenario
def resent_subtask() -> Any:
    return run("resend", [])


# --- the client side ----------------------------------------------------------------------------


@scenario
def start_and_await() -> Any:
    async def go() -> Any:
        task_run = await async_client().workflows.start_task(slug("square"), [9])
        before = {"id": task_run.id, "status": plain(task_run.status)}
        done = await task_run
        return {"before": before, "after": details(done)}

    return asyncio.run(go())


@scenario
def start_then_get() -> Any:
    render = client()
    started = details(render.workflows.start_task(slug("square"), [4]))
    final = wait_for(
        lambda: (
            (d := details(render.workflows.get_task_run(started["id"])))["status"]
            in ("completed", "failed", "canceled")
            and d
        ),
        "the run to end",
    )
    return {"started": started, "final": final}


@scenario
def list_with_cursor() -> Any:
    render = client()
    newest = details(render.workflows.start_task(slug("noop"), []))
    first = render.workflows.list_task_runs(ListTaskRunsParams(limit=2))
    second = render.workflows.list_task_runs(ListTaskRunsParams(limit=2, cursor=first[-1].cursor))
    return {
        "newest": newest["id"],
        "first": [{"id": e.task_run.id, "cursor": e.cursor} for e in first],
        "second": [{"id": e.task_run.id, "cursor": e.cursor} for e in second],
    }


@scenario
def cancel_fan_out() -> Any:
    async def go() -> Any:
        render = async_client()
        task_run = await render.workflows.start_task(slug("fan_sleep"), [3, 60])
        wait_for(
            lambda: (
                sum(
                    e["taskRun"]["status"] == "running"
                    for e in rest(f"/task-runs?rootTaskRunId={task_run.id}&limit=10")
                )
                >= 4
            ),
            "the parent and its 3 children to run",
        )
        await render.workflows.cancel_task_run(task_run.id)
        try:
            awaited: Any = details(await task_run)
        except Exception as exc:
            awaited = {"raised": type(exc).__name__, "message": str(exc)}
        final = details(await render.workflows.get_task_run(task_run.id))
        return {"root": task_run.id, "awaited": awaited, "final": final}

    return asyncio.run(go())


@scenario
def events_stream() -> Any:
    render = client()
    ended = details(render.workflows.run_task(slug("square"), [2]))["id"]
    fresh = details(render.workflows.start_task(slug("sleeper"), [0.5]))["id"]

    async def go() -> list[dict[str, Any]]:
        seen = []
        async for event in async_client().workflows.task_run_events([ended, fresh]):
            seen.append(details(event))
        return seen

    events = asyncio.run(asyncio.wait_for(go(), DEADLINE_S))
    return {"ended": ended, "fresh": fresh, "events": events}


@scenario
def unknown_task() -> Any:
    return client().workflows.start_task(slug("nosuch"), [])


@scenario
def unknown_run() -> Any:
    return client().workflows.get_task_run("trn-00000000000000000000")


@scenario
def cancel_ended_run() -> Any:
    ended = run("square", [3])["id"]
    return client().workflows.cancel_task_run(ended)


def main() -> None:
    report: dict[str, Any] = {}
    only = set(os.environ.get("COMPAT_ONLY", "").split(",")) - {""}
    for name, fn in SCENARIOS.items():
        if only and name not in only:
            continue
        try:
            report[name] = {"value": plain(fn())}
        except Exception as exc:
            report[name] = {
                "error": {
                    "type": type(exc).__name__,
                    "bases": [c.__name__ for c in type(exc).__mro__],
                    "message": str(exc),
                    "traceback": traceback.format_exc(),
                }
            }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
