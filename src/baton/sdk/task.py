"""``TaskSpec``: what ``@app.task`` returns, and how a call to it behaves.

Outside a run, calling a task calls its function (so tasks unit-test as plain Python). Inside a
running attempt, calling a task submits a child run and returns a ``TaskInstance`` at once.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from baton.core.models import Param, TaskDef, TaskOptions
from baton.core.retry import Retry
from baton.sdk import chain
from baton.sdk.chain import TaskInstance
from baton.sdk.context import TaskContext

__all__ = ["TaskInstance", "TaskSpec"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class TaskSpec:
    """A task registered with ``@app.task``: its function, name and options.

    Calling it outside a run calls the function (a context-style task gets a local
    ``TaskContext`` when none is passed). Calling it inside a running attempt submits a child
    run and returns a ``TaskInstance``; ``await`` it for the child's result.

    Attributes:
        name: the registered task name.
        func: the decorated function (also ``__wrapped__``).
        options: retry, timeout and plan, with the app's defaults applied.
        takes_context: whether the first parameter receives a ``TaskContext`` (Render 1.x).
        is_async: whether an attempt runs it in an event loop: an ``async def`` function, or
            a callable that is not a plain function (a partial, a callable object).
        parameters: the signature as registered (without the context parameter).
    """

    __wrapped__: Callable[..., Any]
    func: Callable[..., Any]

    def __init__(self, func: Callable[..., Any], *, name: str, options: TaskOptions) -> None:
        if isinstance(func, TaskSpec):
            func = func.func
        if not callable(func):
            raise ValueError(f"@task needs a function, got {func!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"task name must be a non-empty string, got {name!r}")
        functools.update_wrapper(self, func)
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"task {name!r}: cannot read the signature: {exc}") from exc
        params = list(signature.parameters.values())
        self.func = func
        self.name = name
        self.options = options
        # Known here, in the zygote, so that a forked attempt does not ask ``inspect``.
        self.is_async = _is_async(func)
        self.takes_context = bool(params) and _is_context_param(params[0])
        self._context_name = params[0].name if self.takes_context else ""
        self.parameters = tuple(_param(p) for p in params[1 if self.takes_context else 0 :])

    def __repr__(self) -> str:
        return f"<TaskSpec {self.name!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        state = chain.current_run.get()
        if state is not None:
            return chain.start_child(state, self.name, args, kwargs)
        if self.takes_context and not self._has_context(args, kwargs):
            return self.func(TaskContext(), *args, **kwargs)
        return self.func(*args, **kwargs)

    def _has_context(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
        return bool(args and isinstance(args[0], TaskContext)) or self._context_name in kwargs

    def with_defaults(
        self, retry: Retry | None, timeout_seconds: int | None, plan: str | None
    ) -> TaskSpec:
        """This task with unset options filled from the given defaults (``self`` if none)."""
        options = replace(
            self.options,
            retry=self.options.retry or retry,
            timeout_seconds=self.options.timeout_seconds or timeout_seconds,
            plan=self.options.plan or plan,
        )
        if options == self.options:
            return self
        return TaskSpec(self.func, name=self.name, options=options)

    def to_task_def(self) -> TaskDef:
        """The task as ``POST /register-tasks`` publishes it."""
        return TaskDef(name=self.name, options=self.options, parameters=self.parameters or None)


def _is_async(func: object) -> bool:
    if inspect.isfunction(func) or inspect.ismethod(func):
        return inspect.iscoroutinefunction(func)
    return True  # partials and callable objects: let the loop path find out


def _is_context_param(param: inspect.Parameter) -> bool:
    if param.kind not in _POSITIONAL:
        return False
    annotation = param.annotation
    if isinstance(annotation, str):
        named = annotation.rsplit(".", 1)[-1]
    else:
        # Render's own TaskContext class counts too: compare by name, not identity.
        named = getattr(annotation, "__name__", "")
    return named == "TaskContext" or param.name == "ctx"


def _param(param: inspect.Parameter) -> Param:
    has_default = param.default is not inspect.Parameter.empty
    annotation = param.annotation
    type_name = None
    if annotation is not inspect.Parameter.empty:
        type_name = getattr(annotation, "__name__", None) or str(annotation)
    return Param(
        name=param.name,
        has_default=has_default,
        type=type_name,
        default_value=_default_json(param.default) if has_default else None,
        kind=param.kind.name.lower(),
    )


def _default_json(value: object) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return None
