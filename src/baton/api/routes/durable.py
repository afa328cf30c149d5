"""Durable-run routes (Baton extensions, ``docs/durable.md``): ``/v1/schedules``,
``/v1/pauses`` and ``/v1/task-runs/{id}/checkpoints``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from baton.core.durable import DEFAULT_CATCHUP_S, Pause, Schedule, ScheduleSpec
from baton.core.models import to_rfc3339
from baton.errors import InvalidInput
from baton.services import Services

router = APIRouter(tags=["durable runs"])


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


class CreateSchedule(BaseModel):
    """Body of ``POST /v1/schedules``."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="`<workflow>/<task>`", min_length=3)
    cron: str = Field(description="5 fields, or 6 with seconds last: `*/5 * * * *`")
    timezone: str = Field(default="UTC", description="IANA zone the cron is read in")
    input: list[Any] | dict[str, Any] = Field(default_factory=list)
    overlap: str = Field(default="skip", description="skip | queue | cancel")
    catchupSeconds: float = Field(
        default=DEFAULT_CATCHUP_S, description="After downtime, fire ticks at most this old"
    )


class PauseBody(BaseModel):
    """Body of ``POST /v1/pauses``."""

    model_config = ConfigDict(extra="forbid")

    scope: str = Field(description="queue | task | tree")
    target: str = Field(default="", description="`<workflow>/<task>`, or a root run id")


def schedule_json(s: Schedule, ticks: list[tuple[Any, str, str | None]] | None = None) -> Any:
    out: dict[str, Any] = {
        "id": s.id,
        "taskSlug": s.slug,
        "cron": s.spec.cron,
        "timezone": s.spec.timezone,
        "input": s.spec.input,
        "overlap": s.spec.overlap,
        "catchupSeconds": s.spec.catchup_s,
        "source": s.source,
        "paused": s.paused,
        "createdAt": to_rfc3339(s.created_at),
        "lastTickAt": to_rfc3339(s.last_tick_at),
    }
    if ticks is not None:
        out["ticks"] = [
            {"tickAt": to_rfc3339(at), "outcome": outcome, "taskRunId": run_id}
            for at, outcome, run_id in ticks
        ]
    return out


def pause_json(p: Pause) -> dict[str, Any]:
    return {"scope": p.scope, "target": p.target, "createdAt": to_rfc3339(p.created_at)}


@router.post("/schedules", status_code=201, summary="Create a schedule")
async def create_schedule(body: CreateSchedule, request: Request) -> JSONResponse:
    try:
        spec = ScheduleSpec(
            cron=body.cron,
            timezone=body.timezone,
            input=body.input,
            overlap=body.overlap,
            catchup_s=body.catchupSeconds,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    schedule = _services(request).create_schedule(body.task, spec)
    return JSONResponse(schedule_json(schedule), status_code=201)


@router.get("/schedules", summary="List schedules")
async def list_schedules(request: Request) -> list[Any]:
    return [schedule_json(s) for s in _services(request).list_schedules()]


@router.get("/schedules/{schedule_id}", summary="Get a schedule with its latest ticks")
async def get_schedule(schedule_id: str, request: Request) -> Any:
    services = _services(request)
    schedule = services.get_schedule(schedule_id)
    return schedule_json(schedule, services.store.schedule_ticks(schedule_id))


@router.post("/schedules/{schedule_id}/pause", summary="Pause a schedule (no ticks fire)")
async def pause_schedule(schedule_id: str, request: Request) -> Any:
    return schedule_json(_services(request).pause_schedule(schedule_id))


@router.post("/schedules/{schedule_id}/resume", summary="Resume a paused schedule")
async def resume_schedule(schedule_id: str, request: Request) -> Any:
    return schedule_json(_services(request).resume_schedule(schedule_id))


@router.delete("/schedules/{schedule_id}", status_code=204, summary="Delete a schedule")
async def delete_schedule(schedule_id: str, request: Request) -> Response:
    _services(request).delete_schedule(schedule_id)
    return Response(status_code=204)


@router.get("/pauses", summary="List paused scopes")
async def list_pauses(request: Request) -> list[dict[str, Any]]:
    return [pause_json(p) for p in _services(request).list_pauses()]


@router.post("/pauses", summary="Pause the queue, a task or a run tree")
async def add_pause(body: PauseBody, request: Request) -> dict[str, Any]:
    created = _services(request).pause(body.scope, body.target)
    return {"scope": body.scope, "target": body.target, "changed": created}


@router.delete("/pauses", summary="Resume the queue, a task or a run tree")
async def remove_pause(
    request: Request,
    scope: Annotated[str, Query(description="queue | task | tree")],
    target: str = "",
) -> dict[str, Any]:
    resumed = _services(request).resume(scope, target)
    return {"scope": scope, "target": target, "changed": resumed}


@router.get("/task-runs/{task_run_id}/checkpoints", summary="A run's checkpoints")
async def get_checkpoints(task_run_id: str, request: Request) -> dict[str, Any]:
    return {"checkpoints": _services(request).get_checkpoints(task_run_id)}
