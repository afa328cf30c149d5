"""Durable-run options: schedules, concurrency keys, plan escalation, checkpoint limits.

Pure functions and values, no I/O (``docs/durable.md``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from baton.core.models import JSON, TaskDef
from baton.core.plans import PLANS

__all__ = [
    "CHECKPOINT_MAX_BYTES",
    "CHECKPOINT_MAX_KEYS",
    "OVERLAP_POLICIES",
    "ScheduleSpec",
    "concurrency_group",
    "cron_ticks",
    "next_plan",
]

#: Largest JSON-encoded value one checkpoint key may hold.
CHECKPOINT_MAX_BYTES = 1024 * 1024
#: Most checkpoint keys one run may hold.
CHECKPOINT_MAX_KEYS = 64
CHECKPOINT_MAX_KEY_LEN = 200
OVERLAP_POLICIES = ("skip", "queue", "cancel")
DEFAULT_CATCHUP_S = 60.0
MAX_CATCHUP_S = 7 * 24 * 3600.0
#: Most ticks one schedule fires in one pass (a long outage with a wide window).
MAX_TICKS_PER_PASS = 100


def check_cron(expr: object) -> str:
    """Return ``expr`` if it is a valid cron expression (5 fields, or 6 with seconds last)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("schedule needs a cron expression such as '*/5 * * * *'")
    from croniter import croniter  # type: ignore[import-untyped]  # imported when used: SDK start-up

    expr = " ".join(expr.split())
    if len(expr.split()) not in (5, 6) or not croniter.is_valid(expr):
        raise ValueError(
            f"invalid cron expression {expr!r}: use 5 fields (minute hour day month weekday), "
            "or 6 with seconds last, e.g. '*/5 * * * *'"
        )
    return expr


def check_timezone(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError("timezone must be an IANA name such as 'UTC' or 'Europe/Paris'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}: use an IANA name such as 'UTC'") from exc
    return name


@dataclass(frozen=True)
class ScheduleSpec:
    """When and how a schedule starts runs of its task.

    Attributes:
        cron: 5-field cron (``*/5 * * * *``), or 6 fields with seconds last.
        timezone: IANA zone the cron expression is read in.
        input: the run's input (a JSON array or object).
        overlap: ``skip`` (no new run while the last is active), ``queue`` (start it; it waits
            for the previous one), ``cancel`` (cancel the previous run, start the new one).
        catchup_s: after downtime, ticks at most this old are still fired; older are dropped.
    """

    cron: str
    timezone: str = "UTC"
    input: JSON = field(default_factory=list)
    overlap: str = "skip"
    catchup_s: float = DEFAULT_CATCHUP_S

    def __post_init__(self) -> None:
        object.__setattr__(self, "cron", check_cron(self.cron))
        check_timezone(self.timezone)
        if not isinstance(self.input, list | dict):
            raise ValueError("schedule input must be a JSON array or object")
        if self.overlap not in OVERLAP_POLICIES:
            raise ValueError(
                f"overlap must be one of {', '.join(OVERLAP_POLICIES)}, got {self.overlap!r}"
            )
        if isinstance(self.catchup_s, bool) or not isinstance(self.catchup_s, int | float):
            raise ValueError("catchup_s must be a number of seconds")
        if not 0 <= self.catchup_s <= MAX_CATCHUP_S:
            raise ValueError(f"catchup_s must be from 0 to {MAX_CATCHUP_S:.0f} (7 days)")

    def to_wire(self) -> dict[str, Any]:
        return {
            "cron": self.cron,
            "timezone": self.timezone,
            "input": self.input,
            "overlap": self.overlap,
            "catchup_s": self.catchup_s,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ScheduleSpec:
        return cls(
            cron=data.get("cron"),  # type: ignore[arg-type]
            timezone=data.get("timezone") or "UTC",
            input=data.get("input") if data.get("input") is not None else [],
            overlap=data.get("overlap") or "skip",
            catchup_s=data.get("catchup_s", DEFAULT_CATCHUP_S),
        )

    @classmethod
    def coerce(cls, value: object) -> ScheduleSpec:
        """A spec from a cron string, a mapping of its fields, or a spec."""
        if isinstance(value, ScheduleSpec):
            return value
        if isinstance(value, str):
            return cls(cron=value)
        if isinstance(value, Mapping):
            unknown = set(value) - {"cron", "timezone", "input", "overlap", "catchup_s"}
            if unknown:
                raise ValueError(f"unknown schedule option(s): {', '.join(sorted(unknown))}")
            return cls.from_wire(value)
        raise ValueError(f"schedule must be a cron string or a dict, got {type(value).__name__}")


def cron_ticks(spec: ScheduleSpec, after: datetime, until: datetime) -> list[datetime]:
    """Ticks of ``spec`` in ``(after, until]`` (aware datetimes), at most ``MAX_TICKS_PER_PASS``
    of the latest ones."""
    from croniter import croniter

    zone = ZoneInfo(spec.timezone)
    it = croniter(spec.cron, after.astimezone(zone))
    ticks: list[datetime] = []
    for _ in range(100_000):  # bounded: a 1-second cron over a 7-day window is 604800
        tick: datetime = it.get_next(datetime)
        if tick > until:
            break
        ticks.append(tick)
        if len(ticks) > MAX_TICKS_PER_PASS:
            ticks.pop(0)
    return ticks


def next_tick(spec: ScheduleSpec, after: datetime) -> datetime:
    from croniter import croniter

    zone = ZoneInfo(spec.timezone)
    tick: datetime = croniter(spec.cron, after.astimezone(zone)).get_next(datetime)
    return tick


def next_plan(plan: str) -> str | None:
    """The plan one step up from ``plan``; ``None`` at the top."""
    names = list(PLANS)
    if plan not in names:
        return None
    i = names.index(plan)
    return names[i + 1] if i + 1 < len(names) else None


def concurrency_group(workflow: str, task: TaskDef, value: JSON) -> tuple[str | None, int | None]:
    """The run's concurrency key and limit from the task's options and its input.

    ``concurrency=N`` alone: all runs of the task share ``N``. ``concurrency_key="field"``:
    runs with the same value of that input field share the limit (1 unless ``concurrency``
    says otherwise).
    """
    options = task.options
    if options.concurrency is None and not options.concurrency_key:
        return None, None
    limit = options.concurrency if options.concurrency is not None else 1
    key = f"{workflow}/{task.name}"
    if options.concurrency_key:
        field_value = _field(task, value, options.concurrency_key)
        key += "#" + json.dumps(field_value, sort_keys=True, separators=(",", ":"))
    return key, limit


def _field(task: TaskDef, value: JSON, name: str) -> JSON:
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, list) and task.parameters:
        for i, param in enumerate(task.parameters):
            if param.name == name:
                return value[i] if i < len(value) else None
    return None


def check_durable_options(task: TaskDef) -> None:
    """Raise ``ValueError`` for durable options Baton cannot honour."""
    options = task.options
    if options.concurrency is not None and not 1 <= options.concurrency <= 100_000:
        raise ValueError("concurrency must be from 1 to 100000")
    if not -1000 <= options.priority <= 1000:
        raise ValueError("priority must be from -1000 to 1000")
    if options.concurrency_key is not None and (
        task.parameters is not None
        and options.concurrency_key not in {p.name for p in task.parameters}
    ):
        raise ValueError(f"concurrency_key {options.concurrency_key!r} is not a parameter")
    if options.schedule is not None:
        ScheduleSpec.from_wire(options.schedule)


PAUSE_SCOPES = ("queue", "task", "tree")


@dataclass(frozen=True)
class Pause:
    """A paused scope: the whole ``queue`` (target ``""``), a ``task`` (``workflow/task``) or
    a run ``tree`` (its root run id)."""

    scope: str
    target: str
    created_at: datetime


@dataclass(frozen=True)
class Schedule:
    """A stored schedule: ``spec`` starts runs of ``workflow/task_name``.

    Attributes:
        source: ``"api"`` (created through the API/CLI) or ``"code"`` (``@app.task(schedule=)``,
            kept in step with the workflow's current version).
    """

    id: str
    workflow: str
    task_name: str
    spec: ScheduleSpec
    source: str
    paused: bool
    created_at: datetime
    last_tick_at: datetime | None = None

    @property
    def slug(self) -> str:
        return f"{self.workflow}/{self.task_name}"


@dataclass(frozen=True)
class TickResult:
    """What firing one tick did. ``fired`` is False when another server fired it first."""

    schedule_id: str
    tick_at: datetime
    fired: bool
    outcome: str = ""  # started | skipped | paused | missing_task
    run_id: str | None = None
    canceled_ids: tuple[str, ...] = ()
