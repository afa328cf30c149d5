"""The dashboard's durable-run controls (``docs/durable.md``): the schedules page, and the
pause / resume actions for the queue, a task, a run tree and a schedule.

Every action is a POST form with the page's CSRF token that redirects back to its page with
a ``message`` (the Post/Redirect/Get pattern the run page's cancel and re-run use).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from baton.core.durable import Schedule, next_tick
from baton.core.models import utcnow
from baton.dashboard.views import _services, _sessions, render
from baton.errors import BatonError

router = APIRouter(include_in_schema=False)
TICKS_SHOWN = 5


def _redirect(path: str, message: str) -> Response:
    return RedirectResponse(f"{path}?message={quote(message)}", status_code=303)


# schedules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRow:
    schedule: Schedule
    next_at: datetime | None
    ticks: list[tuple[datetime, str, str | None]]


def _next_at(schedule: Schedule, now: datetime) -> datetime:
    """The next tick the cron loop will fire (in UTC, as the pages show times)."""
    return next_tick(schedule.spec, max(schedule.last_tick_at or now, now)).astimezone(UTC)


@router.get("/schedules", response_class=HTMLResponse)
async def schedules_page(request: Request) -> Response:
    _sessions(request).check(request)
    services = _services(request)
    now = utcnow()
    rows = [
        ScheduleRow(
            schedule=s,
            next_at=None if s.paused else _next_at(s, now),
            ticks=services.store.schedule_ticks(s.id, limit=TICKS_SHOWN),
        )
        for s in sorted(services.list_schedules(), key=lambda s: (s.slug, s.id))
    ]
    return render(
        request,
        "schedules.html",
        nav="schedules",
        title="Schedules",
        rows=rows,
        message=request.query_params.get("message", ""),
    )


async def _schedule_action(request: Request, schedule_id: str, act: str) -> Response:
    await _sessions(request).checked_form(request)
    services = _services(request)
    try:
        if act == "pause":
            slug = services.pause_schedule(schedule_id).slug
            message = f"Paused schedule {schedule_id} of {slug}: no ticks fire until resumed."
        elif act == "resume":
            slug = services.resume_schedule(schedule_id).slug
            message = f"Resumed schedule {schedule_id} of {slug}."
        else:
            services.delete_schedule(schedule_id)
            message = f"Deleted schedule {schedule_id}."
    except BatonError as exc:
        message = exc.message
    return _redirect("/schedules", message)


@router.post("/schedules/{schedule_id}/pause")
async def pause_schedule_action(request: Request, schedule_id: str) -> Response:
    return await _schedule_action(request, schedule_id, "pause")


@router.post("/schedules/{schedule_id}/resume")
async def resume_schedule_action(request: Request, schedule_id: str) -> Response:
    return await _schedule_action(request, schedule_id, "resume")


@router.post("/schedules/{schedule_id}/delete")
async def delete_schedule_action(request: Request, schedule_id: str) -> Response:
    return await _schedule_action(request, schedule_id, "delete")


# pauses: queue, task, run tree ------------------------------------------------------------------


async def _pause_action(
    request: Request, scope: str, target: str, act: str, back: str, what: str
) -> Response:
    services = _services(request)
    try:
        if act == "pause":
            changed = services.pause(scope, target)
            message = f"Paused {what}." if changed else f"{what.capitalize()} was already paused."
        else:
            changed = services.resume(scope, target)
            message = f"Resumed {what}." if changed else f"{what.capitalize()} was not paused."
    except BatonError as exc:
        message = exc.message
    return _redirect(back, message)


@router.post("/queue/pause")
async def pause_queue_action(request: Request) -> Response:
    await _sessions(request).checked_form(request)
    return await _pause_action(request, "queue", "", "pause", "/workers", "the queue")


@router.post("/queue/resume")
async def resume_queue_action(request: Request) -> Response:
    await _sessions(request).checked_form(request)
    return await _pause_action(request, "queue", "", "resume", "/workers", "the queue")


@router.post("/tasks/pause")
async def pause_task_action(request: Request) -> Response:
    form = await _sessions(request).checked_form(request)
    slug = form.get("task", "")
    return await _pause_action(request, "task", slug, "pause", "/tasks", f"task {slug}")


@router.post("/tasks/resume")
async def resume_task_action(request: Request) -> Response:
    form = await _sessions(request).checked_form(request)
    slug = form.get("task", "")
    return await _pause_action(request, "task", slug, "resume", "/tasks", f"task {slug}")


async def _tree_action(request: Request, run_id: str, act: str) -> Response:
    await _sessions(request).checked_form(request)
    services = _services(request)
    try:
        root_id = services.store.get_run(run_id, attempts=False).root_id
    except BatonError as exc:
        return _redirect(f"/runs/{run_id}", exc.message)
    what = f"the run tree of {root_id}"
    return await _pause_action(request, "tree", root_id, act, f"/runs/{run_id}", what)


@router.post("/runs/{run_id}/pause")
async def pause_tree_action(request: Request, run_id: str) -> Response:
    return await _tree_action(request, run_id, "pause")


@router.post("/runs/{run_id}/resume")
async def resume_tree_action(request: Request, run_id: str) -> Response:
    return await _tree_action(request, run_id, "resume")
