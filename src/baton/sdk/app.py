"""``Workflows``: the app object that collects tasks and starts the attempt process."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NoReturn, TypeAlias, overload

from baton.core.durable import ScheduleSpec
from baton.core.models import TaskDef, TaskOptions
from baton.core.plans import check_plan, check_timeout
from baton.core.retry import Retry
from baton.sdk import runtime
from baton.sdk.task import TaskSpec

__all__ = ["Workflows"]

_RETRY_KEYS = frozenset({"max_retries", "wait_duration_ms", "backoff_scaling"})

RetryConfig: TypeAlias = Retry | Mapping[str, Any]


def check_retry(retry: object) -> Retry | None:
    """Return ``retry`` as a ``Retry`` (``None`` stays ``None``).

    Raises:
        ValueError: not a ``Retry`` nor a dict with exactly ``max_retries``,
            ``wait_duration_ms`` and ``backoff_scaling``, or values out of range.
    """
    if retry is None or isinstance(retry, Retry):
        return retry
    if isinstance(retry, Mapping):
        keys = set(retry)
        if keys != _RETRY_KEYS:
            raise ValueError(
                "retry dict needs exactly the keys backoff_scaling, max_retries, "
                f"wait_duration_ms; got {', '.join(sorted(map(str, keys))) or 'none'}"
            )
        return Retry(**retry)
    raise ValueError(f"retry must be a Retry or a dict, got {type(retry).__name__}")


def _check_timeout(value: object) -> int | None:
    return None if value is None else check_timeout(value)


def _check_plan(value: object) -> str | None:
    return None if value is None else check_plan(value)


class Workflows:
    """A set of tasks, registered with ``@app.task`` and served by ``app.start()``.

    Args:
        default_retry: retry policy for tasks that set none (a ``Retry`` or a dict with its
            three keys). Without one, the engine applies its default (3 retries, 1 s, x2).
        default_timeout: seconds an attempt may run, 30 to 86400, for tasks that set none.
        default_plan: instance plan name for tasks that set none.

    Raises:
        ValueError: a default is out of range or of the wrong type.
    """

    def __init__(
        self,
        default_retry: RetryConfig | None = None,
        default_timeout: int | None = None,
        default_plan: str | None = None,
    ) -> None:
        self.default_retry = check_retry(default_retry)
        self.default_timeout = _check_timeout(default_timeout)
        self.default_plan = _check_plan(default_plan)
        self._registry: dict[str, TaskSpec] = {}

    @property
    def registry(self) -> Mapping[str, TaskSpec]:
        """Registered tasks by name, in definition order (read-only)."""
        return MappingProxyType(self._registry)

    @overload
    def task(self, func: Callable[..., Any], /) -> TaskSpec: ...

    @overload
    def task(
        self,
        /,
        *,
        name: str | None = None,
        retry: RetryConfig | None = None,
        timeout_seconds: int | None = None,
        plan: str | None = None,
        memoize: bool = True,
        priority: int = 0,
        concurrency: int | None = None,
        concurrency_key: str | None = None,
        escalate_plans: bool = False,
        schedule: str | Mapping[str, Any] | None = None,
    ) -> Callable[[Callable[..., Any]], TaskSpec]: ...

    def task(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        retry: RetryConfig | None = None,
        timeout_seconds: int | None = None,
        plan: str | None = None,
        memoize: bool = True,
        priority: int = 0,
        concurrency: int | None = None,
        concurrency_key: str | None = None,
        escalate_plans: bool = False,
        schedule: str | Mapping[str, Any] | None = None,
    ) -> TaskSpec | Callable[[Callable[..., Any]], TaskSpec]:
        """Register a sync or async function as a task; use bare or with options.

        Args:
            func: the function, when used as a bare ``@app.task``.
            name: the task name; defaults to the function's ``__name__``.
            retry: overrides the app's ``default_retry``.
            timeout_seconds: overrides the app's ``default_timeout`` (30 to 86400).
            plan: overrides the app's ``default_plan``.
            memoize: a retried run gets the children its earlier attempts made for the same
                calls (default); ``False`` starts every child afresh.
            priority: claim order, higher first (-1000 to 1000, default 0).
            concurrency: most runs of this task running at once (per ``concurrency_key``
                value when one is set).
            concurrency_key: an input field; runs with the same value share ``concurrency``
                (1 if not set): e.g. one run per customer at a time.
            escalate_plans: retry an attempt killed for memory on the next plan up.
            schedule: a cron expression (``"*/5 * * * *"``), or a dict with ``cron`` and
                any of ``timezone``, ``input``, ``overlap``, ``catchup_s``
                (``docs/durable.md``).

        Returns:
            The ``TaskSpec`` (or a decorator making one, when called with options).

        Raises:
            ValueError: an option is invalid, or the name is already registered.
        """
        options = TaskOptions(
            retry=check_retry(retry) or self.default_retry,
            timeout_seconds=_check_timeout(timeout_seconds) or self.default_timeout,
            plan=_check_plan(plan) or self.default_plan,
            **durable_options(
                memoize=memoize,
                priority=priority,
                concurrency=concurrency,
                concurrency_key=concurrency_key,
                escalate_plans=escalate_plans,
                schedule=schedule,
            ),
        )

        def decorate(f: Callable[..., Any]) -> TaskSpec:
            spec = TaskSpec(f, name=name if name is not None else _name_of(f), options=options)
            self._add(spec, "Task '{}' already registered")
            return spec

        return decorate if func is None else decorate(func)

    def _add(self, spec: TaskSpec, duplicate: str) -> None:
        if spec.name in self._registry:
            raise ValueError(duplicate.format(spec.name))
        self._registry[spec.name] = spec

    @classmethod
    def from_workflows(
        cls,
        *apps: Workflows,
        default_retry: RetryConfig | None = None,
        default_timeout: int | None = None,
        default_plan: str | None = None,
    ) -> Workflows:
        """Merge several apps into one; the defaults fill options no task or app set.

        Raises:
            ValueError: two apps define the same task name, or a default is invalid.
        """
        merged = cls(default_retry, default_timeout, default_plan)
        for app in apps:
            for spec in app.registry.values():
                filled = spec.with_defaults(
                    merged.default_retry, merged.default_timeout, merged.default_plan
                )
                merged._add(filled, "Task '{}' is defined in multiple apps")
        return merged

    def task_defs(self) -> list[TaskDef]:
        """The tasks as ``POST /register-tasks`` publishes them, in definition order."""
        return [spec.to_task_def() for spec in self._registry.values()]

    def start(self) -> NoReturn:
        """Serve one attempt or one registration, as the environment says, then exit.

        Reads ``RENDER_SDK_MODE`` (``run`` or ``register``) and ``RENDER_SDK_SOCKET_PATH``.

        Raises:
            ValueError: a variable is missing or the mode is unknown.
        """
        mode = os.environ.get("RENDER_SDK_MODE")
        if not mode:
            raise ValueError("RENDER_SDK_MODE environment variable is required")
        if mode not in ("run", "register"):
            raise ValueError(f"Unknown mode: {mode}")
        socket_path = os.environ.get("RENDER_SDK_SOCKET_PATH")
        if not socket_path:
            raise ValueError("RENDER_SDK_SOCKET_PATH environment variable is required")
        if mode == "run":
            sys.exit(runtime.run_attempt(self._registry, socket_path))
        sys.exit(runtime.register(self._registry, socket_path))


def durable_options(
    *,
    memoize: bool,
    priority: int,
    concurrency: int | None,
    concurrency_key: str | None,
    escalate_plans: bool,
    schedule: str | Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The durable ``TaskOptions`` fields, checked (``ValueError`` with what is wrong)."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"priority must be an int, got {priority!r}")
    if not -1000 <= priority <= 1000:
        raise ValueError(f"priority must be from -1000 to 1000, got {priority}")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    if concurrency_key is not None and (
        not isinstance(concurrency_key, str) or not concurrency_key
    ):
        raise ValueError("concurrency_key must name an input field")
    return {
        "memoize": bool(memoize),
        "priority": priority,
        "concurrency": concurrency,
        "concurrency_key": concurrency_key,
        "escalate_plans": bool(escalate_plans),
        "schedule": None if schedule is None else ScheduleSpec.coerce(schedule).to_wire(),
    }


def _name_of(func: Callable[..., Any]) -> str:
    name = getattr(func, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(f"cannot name task {func!r}; pass name=")
    return name
