"""``TaskContext``: the first argument of a context-style (Render 1.x) task."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from baton.core.models import JSON
from baton.errors import TaskRunError
from baton.sdk import chain, checkpoint, wire

__all__ = ["TaskContext", "TaskRunMetadata"]

_local_ids = itertools.count(1)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class TaskRunMetadata:
    """Who is running: ids from ``GET /input``, the same on every attempt except ``attempt``.

    Attributes:
        task_run_id: this run's id.
        root_task_run_id: the id of the run at the top of the chain (this run's own for a root).
        parent_task_run_id: the id of the run that started this one; ``None`` for a root.
        attempt: the 0-based attempt number (a Baton extension; always 0 under Render).
    """

    task_run_id: str = ""
    root_task_run_id: str = ""
    parent_task_run_id: str | None = None
    attempt: int = 0


def _local_metadata(parent: TaskRunMetadata | None) -> TaskRunMetadata:
    run_id = f"local-{next(_local_ids)}"
    if parent is None:
        return TaskRunMetadata(run_id, run_id, None, 0)
    return TaskRunMetadata(run_id, parent.root_task_run_id or run_id, parent.task_run_id or None)


class TaskContext:
    """Passed to a task whose first parameter is annotated ``TaskContext`` or named ``ctx``.

    Inside a run, ``ctx.run`` starts a child run through the engine. Outside one (a unit test
    calling the task directly), it calls the child's function in this process, passing the
    arguments and the result through JSON as the engine would.

    Args:
        metadata: the run's ids; a local context gets made-up ``local-<n>`` ids.
    """

    def __init__(self, metadata: TaskRunMetadata | None = None) -> None:
        self.metadata = metadata if metadata is not None else _local_metadata(None)
        self._local_checkpoints: dict[str, Any] = {}

    async def checkpoint(self, key: str, value: object) -> None:
        """Store ``value`` (JSON, at most 1 MiB) under ``key`` with this run.

        A retried attempt of the run reads it back with ``restore(key)``, so a long loop can
        resume where the last attempt stopped. Outside a run, the context keeps it in memory.

        Raises:
            ValueError: a bad key or a value over 1 MiB (nothing is stored).
            TypeError: the value is not JSON-serializable.
        """
        state = chain.current_run.get()
        if state is None:
            self._local_checkpoints[key] = checkpoint.encode(key, value)
            return
        await checkpoint.save(state, key, value)

    def restore(self, key: str, default: Any = None) -> Any:
        """The value this run last stored under ``key``, or ``default``."""
        if chain.current_run.get() is None:
            return self._local_checkpoints.get(key, default)
        return checkpoint.restore(key, default)

    def __repr__(self) -> str:
        return f"<TaskContext {self.metadata.task_run_id!r}>"

    def run(self, task: _Named | str, *args: object, **kwargs: object) -> Awaitable[Any]:
        """Start ``task`` as a child run; await the result for the child's return value.

        Args:
            task: a task (any object with a ``.name``) or a task name.
            *args: positional arguments (sent as a JSON array).
            **kwargs: keyword arguments (sent as a JSON object); do not mix with ``args``.

        Returns:
            A ``TaskInstance`` inside a run; outside one, an awaitable of the local call.

        Raises:
            ValueError: both positional and keyword arguments were given.
            TypeError: an argument is not JSON-serializable.
        """
        name = task if isinstance(task, str) else task.name
        state = chain.current_run.get()
        if state is not None:
            return chain.start_child(state, name, args, kwargs)
        payload = wire.encode_input(args, kwargs)
        return self._run_local(task, payload)

    async def _run_local(self, task: object, payload: str) -> Any:
        func = getattr(task, "func", None)
        if not callable(func):
            raise TypeError(f"cannot run {task!r} outside a run: it has no .func")
        args, kwargs = wire.decode_input(payload)
        try:
            result = _call_local(
                func, bool(getattr(task, "takes_context", False)), self, args, kwargs
            )
            if inspect.isawaitable(result):
                result = await result
            output = wire.encode_output(result)
        except Exception as exc:
            raise TaskRunError(f"Subtask failed: {exc}", error_type=type(exc).__name__) from exc
        return wire.unwrap_output(output)


def _call_local(
    func: Any,
    takes_context: bool,
    parent: TaskContext,
    args: Sequence[JSON],
    kwargs: Mapping[str, JSON],
) -> object:
    if takes_context:
        return func(TaskContext(_local_metadata(parent.metadata)), *args, **kwargs)
    return func(*args, **kwargs)
