"""The records Baton keeps: task definitions, runs and their attempts."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from baton.core.retry import Retry

JSON = Any  # a value json.loads can return


class RunStatus(enum.StrEnum):
    """Where a run is in its life. Retries go back to ``PENDING`` with a not-before time."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED})


class AttemptStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


class ErrorType:
    """Error types the engine records itself (a task's own errors use the exception name)."""

    TIMEOUT = "Timeout"
    OUT_OF_MEMORY = "OutOfMemory"
    CRASHED = "ProcessExited"
    LEASE_EXPIRED = "WorkerLost"
    CANCELED = "Canceled"
    BAD_RESULT = "InvalidResult"
    CHILD_FAILED = "TaskRunError"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_rfc3339(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Param:
    """One parameter of a task's signature, as registered over the worker protocol."""

    name: str
    has_default: bool
    type: str | None = None
    default_value: str | None = None  # JSON text of the default
    kind: str = "positional_or_keyword"  # inspect.Parameter kind name, lower case

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "has_default": self.has_default}
        if self.type is not None:
            out["type"] = self.type
        if self.default_value is not None:
            out["default_value"] = self.default_value
        if self.kind != "positional_or_keyword":
            out["kind"] = self.kind
        return out

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Param:
        return cls(
            name=str(data["name"]),
            has_default=bool(data.get("has_default", False)),
            type=data.get("type"),
            default_value=data.get("default_value"),
            kind=str(data.get("kind", "positional_or_keyword")),
        )


@dataclass(frozen=True)
class TaskOptions:
    retry: Retry | None = None
    timeout_seconds: int | None = None
    plan: str | None = None
    # Baton extensions (docs/durable.md); sent on the wire only when not the default.
    memoize: bool = True
    priority: int = 0
    concurrency: int | None = None
    concurrency_key: str | None = None
    escalate_plans: bool = False
    schedule: dict[str, Any] | None = None  # ScheduleSpec.to_wire()

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.retry is not None:
            out["retry"] = self.retry.to_wire()
        if self.timeout_seconds:
            out["timeout_seconds"] = self.timeout_seconds
        if self.plan:
            out["plan"] = self.plan
        out.update(_durable_to_wire(self))
        return out

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> TaskOptions:
        retry = data.get("retry")
        schedule = data.get("schedule")
        return cls(
            retry=Retry.from_wire(retry) if isinstance(retry, dict) else None,
            timeout_seconds=data.get("timeout_seconds") or None,
            plan=data.get("plan") or None,
            memoize=data.get("memoize") is not False,
            priority=_int_or(data.get("priority"), 0) or 0,
            concurrency=_int_or(data.get("concurrency"), None),
            concurrency_key=data.get("concurrency_key") or None,
            escalate_plans=data.get("escalate_plans") is True,
            schedule=schedule if isinstance(schedule, dict) else None,
        )


def _int_or(value: object, default: int | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default


def _durable_to_wire(options: TaskOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not options.memoize:
        out["memoize"] = False
    if options.priority:
        out["priority"] = options.priority
    if options.concurrency is not None:
        out["concurrency"] = options.concurrency
    if options.concurrency_key:
        out["concurrency_key"] = options.concurrency_key
    if options.escalate_plans:
        out["escalate_plans"] = True
    if options.schedule:
        out["schedule"] = options.schedule
    return out


@dataclass(frozen=True)
class TaskDef:
    """A task as one workflow version registered it."""

    name: str
    options: TaskOptions = field(default_factory=TaskOptions)
    parameters: tuple[Param, ...] | None = None  # None: the SDK did not say (TypeScript)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "options": self.options.to_wire()}
        if self.parameters:
            out["parameters"] = [p.to_wire() for p in self.parameters]
        return out

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> TaskDef:
        params = data.get("parameters")
        return cls(
            name=str(data["name"]),
            options=TaskOptions.from_wire(data.get("options") or {}),
            parameters=tuple(Param.from_wire(p) for p in params)
            if isinstance(params, list)
            else None,
        )


@dataclass(frozen=True)
class Task:
    """A task definition stored for one workflow version."""

    id: str
    workflow: str  # the workflow slug
    version_id: str
    name: str
    definition: TaskDef
    created_at: datetime

    @property
    def slug(self) -> str:
        return f"{self.workflow}/{self.name}"


@dataclass(frozen=True)
class WorkflowVersion:
    id: str
    workflow: str
    target: str  # "module:attr", "path.py:attr", or a start command
    kind: str  # "baton" (imported into a zygote) or "command" (spawned cold)
    code_dir: str
    status: str  # registering | ready | registration_failed
    created_at: datetime
    error: str | None = None


@dataclass(frozen=True)
class Attempt:
    run_id: str
    attempt: int  # 0-based
    status: AttemptStatus
    started_at: datetime
    completed_at: datetime | None = None
    worker_id: str | None = None
    pid: int | None = None
    error: str | None = None
    error_type: str | None = None
    output: str | None = None  # base64 callback output, verbatim
    exit_code: int | None = None
    peak_rss_kb: int | None = None
    cpu_s: float | None = None
    plan: str | None = None
    timings: dict[str, float] | None = None  # SDK start-up timestamps and fork time


@dataclass(frozen=True)
class Run:
    id: str
    task_id: str
    workflow: str
    task_name: str
    version_id: str
    status: RunStatus
    input: JSON  # list or dict, as submitted
    parent_id: str | None
    root_id: str
    parent_attempt: int | None
    created_at: datetime
    retry: Retry
    timeout_s: int
    plan: str
    attempt_count: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    not_before_at: datetime | None = None
    output: str | None = None  # base64 callback output, verbatim
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    attempts: tuple[Attempt, ...] = ()
    priority: int = 0
    concurrency_key: str | None = None
    schedule_id: str | None = None

    @property
    def slug(self) -> str:
        return f"{self.workflow}/{self.task_name}"

    @property
    def retries(self) -> int:
        return max(0, self.attempt_count - 1)

    @property
    def results(self) -> list[JSON]:
        """The decoded output array, ``[]`` until the run completes."""
        return decode_output(self.output)


def decode_output(output: str | None) -> list[JSON]:
    import base64

    if not output:
        return []
    value = json.loads(base64.b64decode(output))
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class NewRun:
    """What ``Store.enqueue`` needs to create a run."""

    id: str
    task: Task
    input: JSON
    retry: Retry
    timeout_s: int
    plan: str
    parent_id: str | None = None
    root_id: str | None = None
    parent_attempt: int | None = None
    idempotency_key: str | None = None
    priority: int = 0
    concurrency_key: str | None = None  # runs sharing a key share ``concurrency_limit``
    concurrency_limit: int | None = None
    escalate_plans: bool = False
    schedule_id: str | None = None


@dataclass(frozen=True)
class Claim:
    """An attempt a worker has leased: everything needed to start its process."""

    run: Run
    attempt: int
    worker_id: str
    lease_expires_at: datetime
    version: WorkflowVersion
