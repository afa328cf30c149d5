"""Durable-run operations of the REST clients (Baton extensions, ``docs/durable.md``):
schedules, pauses and checkpoints, reached as ``Baton(...).durable`` /
``BatonAsync(...).durable``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from baton.client._calls import Call, _array, _object
from baton.client.types import JSONValue, _list, _str, _time

__all__ = ["DurableAPI", "DurableAPIAsync", "Pause", "Schedule", "ScheduleTick"]

T = TypeVar("T")


@dataclass(frozen=True)
class ScheduleTick:
    """One fired tick: what it did (``started``, ``skipped``...) and the run it started."""

    tick_at: datetime | None
    outcome: str
    task_run_id: str | None


@dataclass(frozen=True)
class Schedule:
    """A schedule as the API returns it (``ticks`` only from ``get_schedule``)."""

    id: str
    task_slug: str
    cron: str
    timezone: str
    input: JSONValue
    overlap: str
    catchup_seconds: float
    source: str
    paused: bool
    created_at: datetime | None
    last_tick_at: datetime | None
    ticks: tuple[ScheduleTick, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Schedule:
        ticks = tuple(
            ScheduleTick(
                tick_at=_time(_object(t), "tickAt"),
                outcome=_str(_object(t), "outcome"),
                task_run_id=_object(t).get("taskRunId") or None,  # type: ignore[arg-type]
            )
            for t in (_list(data, "ticks") if "ticks" in data else [])
        )
        catchup = data.get("catchupSeconds")
        return cls(
            id=_str(data, "id"),
            task_slug=_str(data, "taskSlug"),
            cron=_str(data, "cron"),
            timezone=_str(data, "timezone"),
            input=data.get("input"),  # type: ignore[arg-type]
            overlap=_str(data, "overlap"),
            catchup_seconds=float(catchup) if isinstance(catchup, int | float) else 0.0,
            source=_str(data, "source"),
            paused=data.get("paused") is True,
            created_at=_time(data, "createdAt"),
            last_tick_at=_time(data, "lastTickAt"),
            ticks=ticks,
        )


@dataclass(frozen=True)
class Pause:
    """A paused scope: ``queue``, ``task`` (target ``wf/task``) or ``tree`` (root run id)."""

    scope: str
    target: str
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Pause:
        return cls(_str(data, "scope"), _str(data, "target"), _time(data, "createdAt"))


def _schedule(data: object) -> Schedule:
    return Schedule.from_json(_object(data))


def _changed(data: object) -> bool:
    return _object(data).get("changed") is True


def _path(schedule_id: str, suffix: str = "") -> str:
    return f"schedules/{quote(schedule_id, safe='')}{suffix}"


def create_schedule(
    task_slug: str,
    cron: str,
    input: Sequence[object] | Mapping[str, object] | None,
    timezone: str,
    overlap: str,
    catchup_seconds: float | None,
) -> Call[Schedule]:
    body: dict[str, object] = {
        "task": task_slug,
        "cron": cron,
        "timezone": timezone,
        "overlap": overlap,
        "input": dict(input) if isinstance(input, Mapping) else list(input or []),
    }
    if catchup_seconds is not None:
        body["catchupSeconds"] = catchup_seconds
    return Call("create schedule", "POST", "schedules", _schedule, body=body)


def list_schedules() -> Call[list[Schedule]]:
    return Call("list schedules", "GET", "schedules", lambda d: [_schedule(s) for s in _array(d)])


def get_schedule(schedule_id: str) -> Call[Schedule]:
    return Call("get schedule", "GET", _path(schedule_id), _schedule)


def set_schedule_paused(schedule_id: str, paused: bool) -> Call[Schedule]:
    action = "pause" if paused else "resume"
    return Call(f"{action} schedule", "POST", _path(schedule_id, f"/{action}"), _schedule)


def delete_schedule(schedule_id: str) -> Call[None]:
    return Call("delete schedule", "DELETE", _path(schedule_id), lambda _: None)


def pause(scope: str, target: str) -> Call[bool]:
    body: dict[str, object] = {"scope": scope, "target": target}
    return Call("pause", "POST", "pauses", _changed, body=body)


def resume(scope: str, target: str) -> Call[bool]:
    return Call(
        "resume", "DELETE", "pauses", _changed, params=[("scope", scope), ("target", target)]
    )


def list_pauses() -> Call[list[Pause]]:
    return Call(
        "list pauses", "GET", "pauses", lambda d: [Pause.from_json(_object(p)) for p in _array(d)]
    )


def get_checkpoints(task_run_id: str) -> Call[dict[str, Any]]:
    return Call(
        "get checkpoints",
        "GET",
        f"task-runs/{quote(task_run_id, safe='')}/checkpoints",
        lambda d: dict(_object(_object(d).get("checkpoints") or {})),
    )


Input = Sequence[object] | Mapping[str, object] | None


class DurableAPI:
    """Schedules, pauses and checkpoints, reached as ``Baton(...).durable``."""

    def __init__(self, send: Callable[[Call[Any]], Any]) -> None:
        self._send = send

    def create_schedule(
        self,
        task_slug: str,
        cron: str,
        input: Input = None,
        *,
        timezone: str = "UTC",
        overlap: str = "skip",
        catchup_seconds: float | None = None,
    ) -> Schedule:
        """Create a schedule that starts ``task_slug`` on ``cron``, read in ``timezone``.

        Args:
            task_slug: ``"<workflow>/<task>"``.
            cron: 5 fields (``"*/5 * * * *"``), or 6 with seconds last.
            input: the runs' arguments (a list, or a dict by name).
            timezone: an IANA zone name.
            overlap: ``skip``, ``queue`` or ``cancel``: what a tick does while the run the
                previous tick started is still active.
            catchup_seconds: after downtime, ticks at most this old still fire (default 60).

        Raises:
            ClientError: bad cron, timezone, policy or input (400), unknown task (404).
        """
        call = create_schedule(task_slug, cron, input, timezone, overlap, catchup_seconds)
        return self._send(call)  # type: ignore[no-any-return]

    def list_schedules(self) -> list[Schedule]:
        """Every schedule, from the API and from ``@app.task(schedule=...)``."""
        return self._send(list_schedules())  # type: ignore[no-any-return]

    def get_schedule(self, schedule_id: str) -> Schedule:
        """A schedule with its latest ticks."""
        return self._send(get_schedule(schedule_id))  # type: ignore[no-any-return]

    def pause_schedule(self, schedule_id: str) -> Schedule:
        """Stop a schedule's ticks until ``resume_schedule``."""
        return self._send(set_schedule_paused(schedule_id, True))  # type: ignore[no-any-return]

    def resume_schedule(self, schedule_id: str) -> Schedule:
        """Let a paused schedule fire again (missed ticks inside its window fire at once)."""
        return self._send(set_schedule_paused(schedule_id, False))  # type: ignore[no-any-return]

    def delete_schedule(self, schedule_id: str) -> None:
        self._send(delete_schedule(schedule_id))

    def pause(self, scope: str, target: str = "") -> bool:
        """Pause the ``queue``, a ``task`` (``wf/task``) or a run ``tree`` (root run id).

        Nothing new starts in a paused scope; running attempts finish. Returns False if it
        was paused already.
        """
        return self._send(pause(scope, target))  # type: ignore[no-any-return]

    def resume(self, scope: str, target: str = "") -> bool:
        """Resume a paused scope; returns False if it was not paused."""
        return self._send(resume(scope, target))  # type: ignore[no-any-return]

    def list_pauses(self) -> list[Pause]:
        return self._send(list_pauses())  # type: ignore[no-any-return]

    def get_checkpoints(self, task_run_id: str) -> dict[str, JSONValue]:
        """A run's checkpoints by key."""
        return self._send(get_checkpoints(task_run_id))  # type: ignore[no-any-return]


class DurableAPIAsync:
    """``DurableAPI``'s asyncio twin, reached as ``BatonAsync(...).durable``."""

    def __init__(self, send: Callable[[Call[Any]], Awaitable[Any]]) -> None:
        self._send = send

    async def create_schedule(
        self,
        task_slug: str,
        cron: str,
        input: Input = None,
        *,
        timezone: str = "UTC",
        overlap: str = "skip",
        catchup_seconds: float | None = None,
    ) -> Schedule:
        """See ``DurableAPI.create_schedule``."""
        call = create_schedule(task_slug, cron, input, timezone, overlap, catchup_seconds)
        return await self._send(call)  # type: ignore[no-any-return]

    async def list_schedules(self) -> list[Schedule]:
        return await self._send(list_schedules())  # type: ignore[no-any-return]

    async def get_schedule(self, schedule_id: str) -> Schedule:
        return await self._send(get_schedule(schedule_id))  # type: ignore[no-any-return]

    async def pause_schedule(self, schedule_id: str) -> Schedule:
        return await self._send(set_schedule_paused(schedule_id, True))  # type: ignore[no-any-return]

    async def resume_schedule(self, schedule_id: str) -> Schedule:
        return await self._send(set_schedule_paused(schedule_id, False))  # type: ignore[no-any-return]

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._send(delete_schedule(schedule_id))

    async def pause(self, scope: str, target: str = "") -> bool:
        """See ``DurableAPI.pause``."""
        return await self._send(pause(scope, target))  # type: ignore[no-any-return]

    async def resume(self, scope: str, target: str = "") -> bool:
        return await self._send(resume(scope, target))  # type: ignore[no-any-return]

    async def list_pauses(self) -> list[Pause]:
        return await self._send(list_pauses())  # type: ignore[no-any-return]

    async def get_checkpoints(self, task_run_id: str) -> dict[str, JSONValue]:
        return await self._send(get_checkpoints(task_run_id))  # type: ignore[no-any-return]
