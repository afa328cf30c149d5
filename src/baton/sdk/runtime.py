"""The attempt process's side of the worker protocol (spec §1.1, §1.4, §1.7).

``run_attempt``: ``GET /input``, call the task, ``POST /callback``, return the exit status.
``register``: ``POST /register-tasks`` once. Both are cheap enough to run right after a fork
from a warm process: no imports, no threads.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import time
import traceback
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from baton.core.models import JSON
from baton.errors import BatonError, NonRetryableError, TaskNotFound
from baton.sdk import wire
from baton.sdk.chain import RunState, current_run
from baton.sdk.checkpoint import load_checkpoints, load_checkpoints_sync
from baton.sdk.context import TaskContext, TaskRunMetadata
from baton.sdk.sockclient import SocketClient
from baton.sdk.task import TaskSpec

__all__ = ["attempt", "register", "run_attempt"]

T = TypeVar("T")


def run_attempt(registry: Mapping[str, TaskSpec], socket_path: str) -> int:
    """Run the one attempt the engine serves on ``socket_path``.

    A plain (``def``) task runs without an event loop, which is cheaper right after a fork;
    an ``async def`` task runs in a fresh loop.

    Args:
        registry: tasks by name (``Workflows.registry``).
        socket_path: the attempt's Unix socket.

    Returns:
        The process exit status: 0 after a ``complete`` callback; 1 after an ``error``
        callback, on bad input, or when the engine cannot be reached.

    ``BaseException``s raised by the task (``SystemExit``, ``KeyboardInterrupt``,
    ``TaskCanceled``) propagate without a callback.
    """
    started_at = time.time_ns()
    client = SocketClient(socket_path)
    try:
        return _run_attempt(registry, client, started_at)
    finally:
        client.close()


def _run_attempt(registry: Mapping[str, TaskSpec], client: SocketClient, started_at: int) -> int:
    try:
        data = client.request_sync("GET", f"/input?sdk_started_at={started_at}")
        name, args, kwargs, metadata = _read_input(data)
    except (BatonError, ValueError) as exc:
        print(f"baton: cannot read the attempt's input: {exc}", file=sys.stderr)
        return 1
    spec = registry.get(name)
    state = RunState(client, metadata)
    if spec is not None and spec.is_async:
        return _run_in_new_loop(_finish(spec, name, args, kwargs, state))
    try:
        output = _execute_sync(spec, name, args, kwargs, state)
    except Exception as exc:
        traceback.print_exception(exc)
        _callback_sync(client, {"error": _error(exc)})
        return 1
    return 0 if _callback_sync(client, {"complete": {"output": output}}) else 1


def _execute_sync(
    spec: TaskSpec | None,
    name: str,
    args: list[JSON],
    kwargs: dict[str, JSON],
    state: RunState,
) -> str:
    if spec is None:
        raise TaskNotFound(f"Task '{name}' not found")
    if state.metadata.attempt > 0:
        state.checkpoints.update(load_checkpoints_sync(state.client))
    token = current_run.set(state)
    try:
        if spec.takes_context:
            result = spec.func(TaskContext(state.metadata), *args, **kwargs)
        else:
            result = spec.func(*args, **kwargs)
    finally:
        current_run.reset(token)
    if result is not None and inspect.isawaitable(result):  # a coroutine from a plain def
        result = _run_in_new_loop(_await(result))
    return wire.encode_output(result)


async def _await(value: Any) -> Any:
    return await value


def _callback_sync(client: SocketClient, body: dict[str, Any]) -> bool:
    try:
        client.request_sync("POST", "/callback", body)
    except BatonError as exc:
        print(f"baton: reporting the attempt's outcome failed: {exc}", file=sys.stderr)
        return False
    return True


def register(registry: Mapping[str, TaskSpec], socket_path: str) -> int:
    """Publish the task definitions with one ``POST /register-tasks``.

    Returns:
        The process exit status: 0 once the engine accepted them, else 1.
    """
    tasks = [spec.to_task_def().to_wire() for spec in registry.values()]

    async def publish() -> None:
        await SocketClient(socket_path).request("POST", "/register-tasks", {"tasks": tasks})

    try:
        _run_in_new_loop(publish())
    except BatonError as exc:
        print(f"baton: registering tasks failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_in_new_loop(main: Coroutine[Any, Any, T]) -> T:
    # asyncio.run without its extras (SIGINT handler, executor shutdown, a context copy),
    # which cost a few hundred microseconds in a freshly forked process.
    # A process forked from inside a running event loop inherits the "running loop" marker.
    if asyncio._get_running_loop() is not None:
        asyncio._set_running_loop(None)
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    # Children called but never awaited: cancel them, as asyncio.run would.
    pending = asyncio.all_tasks(loop)
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


async def attempt(registry: Mapping[str, TaskSpec], socket_path: str, started_at: int) -> int:
    """``run_attempt``'s body, inside a running loop; ``started_at`` is Unix-epoch ns."""
    client = SocketClient(socket_path)
    try:
        data = await client.request("GET", f"/input?sdk_started_at={started_at}")
        name, args, kwargs, metadata = _read_input(data)
    except (BatonError, ValueError) as exc:
        print(f"baton: cannot read the attempt's input: {exc}", file=sys.stderr)
        return 1
    return await _finish(registry.get(name), name, args, kwargs, RunState(client, metadata))


async def _finish(
    spec: TaskSpec | None,
    name: str,
    args: list[JSON],
    kwargs: dict[str, JSON],
    state: RunState,
) -> int:
    try:
        if spec is None:
            raise TaskNotFound(f"Task '{name}' not found")
        if state.metadata.attempt > 0:
            state.checkpoints.update(await load_checkpoints(state.client))
        output = await _execute(spec, args, kwargs, state)
    except Exception as exc:
        traceback.print_exception(exc)
        await _callback(state.client, {"error": _error(exc)})
        return 1
    return 0 if await _callback(state.client, {"complete": {"output": output}}) else 1


def _read_input(
    data: Mapping[str, Any],
) -> tuple[str, list[JSON], dict[str, JSON], TaskRunMetadata]:
    name = data.get("task_name")
    if not isinstance(name, str) or not name:
        raise ValueError("GET /input answered without a task_name")
    args, kwargs = wire.decode_input(data.get("input"))
    run_id = str(data.get("task_run_id") or "")
    parent = data.get("parent_task_run_id")
    attempt = data.get("attempt")
    metadata = TaskRunMetadata(
        task_run_id=run_id,
        root_task_run_id=str(data.get("root_task_run_id") or run_id),
        parent_task_run_id=str(parent) if parent else None,
        attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 0,
    )
    return name, args, kwargs, metadata


async def _execute(
    spec: TaskSpec, args: list[JSON], kwargs: dict[str, JSON], state: RunState
) -> str:
    token = current_run.set(state)
    try:
        if spec.takes_context:
            result = spec.func(TaskContext(state.metadata), *args, **kwargs)
        else:
            result = spec.func(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    finally:
        current_run.reset(token)
    return wire.encode_output(result)


def _error(exc: Exception) -> dict[str, Any]:
    return {
        "details": str(exc),
        "type": "OutOfMemory" if isinstance(exc, MemoryError) else type(exc).__name__,
        "stack_trace": "".join(traceback.format_exception(exc)),
        "retryable": not isinstance(exc, NonRetryableError | TaskNotFound),
    }


async def _callback(client: SocketClient, body: dict[str, Any]) -> bool:
    try:
        await client.request("POST", "/callback", body)
    except BatonError as exc:
        print(f"baton: reporting the attempt's outcome failed: {exc}", file=sys.stderr)
        return False
    return True
