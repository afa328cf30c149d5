"""Calling tasks outside a run: plain Python, with a local context for 1.x-style tasks."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from baton.errors import TaskRunError
from baton.sdk import TaskContext, TaskRunMetadata, Workflows

app = Workflows()


@app.task
def square(a: int) -> int:
    return a * a


@app.task
async def double(a: int) -> int:
    return 2 * a


@app.task
def pair() -> tuple[int, int]:
    return (1, 2)


@app.task
def broken(n: int) -> int:
    raise ValueError(f"bad {n}")


@app.task
async def child_ids(ctx: TaskContext) -> list[str | None]:
    m = ctx.metadata
    return [m.task_run_id, m.root_task_run_id, m.parent_task_run_id]


@app.task
async def parent(ctx: TaskContext, n: int) -> dict[str, object]:
    squares = await asyncio.gather(*(ctx.run(square, v) for v in range(n)))
    return {
        "squares": squares,
        "double": await ctx.run(double, a=n),
        "pair": await ctx.run(pair),
        "ids": await ctx.run(child_ids),
        "me": ctx.metadata.task_run_id,
    }


@app.task
async def catches(ctx: TaskContext) -> str:
    try:
        await ctx.run(broken, 4)
    except TaskRunError as exc:
        return f"{exc.error_type}: {exc}"
    return ""


def test_sync_task_called_outside_a_run_returns_its_value() -> None:
    assert square(4) == 16
    assert square.func(5) == 25


async def test_async_task_called_outside_a_run_returns_a_coroutine() -> None:
    call = double(4)
    assert inspect.iscoroutine(call)
    assert await call == 8


async def test_context_task_gets_a_local_context_whose_run_calls_in_process() -> None:
    result = await parent(3)
    assert result["squares"] == [0, 1, 4]
    assert result["double"] == 6
    assert result["pair"] == [1, 2]  # through JSON, as the engine would pass it
    run_id, root, parent_id = result["ids"]  # type: ignore[misc]
    assert parent_id == result["me"] and root == result["me"] and run_id != root


async def test_an_explicit_context_is_passed_through() -> None:
    ctx = TaskContext(TaskRunMetadata("trn-1", "trn-0", "trn-0", 1))
    assert await child_ids(ctx) == ["trn-1", "trn-0", "trn-0"]
    assert await child_ids(ctx=ctx) == ["trn-1", "trn-0", "trn-0"]


async def test_a_failed_local_child_raises_task_run_error() -> None:
    assert await catches() == "ValueError: Subtask failed: bad 4"


async def test_local_run_rejects_mixed_arguments_before_calling() -> None:
    with pytest.raises(ValueError, match="not both"):
        TaskContext().run(square, 1, a=2)


def test_metadata_is_frozen() -> None:
    meta = TaskRunMetadata("a", "a")
    with pytest.raises(AttributeError):
        meta.attempt = 2  # type: ignore[misc]
    assert meta.parent_task_run_id is None and meta.attempt == 0
