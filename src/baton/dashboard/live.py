"""What the pages fetch while open: the run-change stream, log tails, the chain timeline,
and Prometheus ``/metrics``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from baton.core.models import Run, to_rfc3339
from baton.dashboard.auth import NeedSignIn, Sessions
from baton.dashboard.filters import RunsFilter
from baton.dashboard.format import STATUS_ICONS, duration
from baton.dashboard.metrics import Metrics
from baton.services import Services
from baton.store.base import ChainRun

router = APIRouter(include_in_schema=False)
KEEPALIVE_S = 15.0
TIMELINE_LIMIT = 10_000


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _check(request: Request) -> None:
    sessions: Sessions = request.app.state.sessions
    if not sessions.signed_in(request):
        raise NeedSignIn()


def run_change(run: Run) -> dict[str, Any]:
    """A run change as the pages' scripts read it."""
    started, ended = run.started_at, run.completed_at
    return {
        "id": run.id,
        "slug": run.slug,
        "workflow": run.workflow,
        "task": run.task_name,
        "status": str(run.status),
        "icon": STATUS_ICONS.get(str(run.status), ""),
        "parentId": run.parent_id,
        "rootId": run.root_id,
        "attempts": run.attempt_count,
        "createdAt": to_rfc3339(run.created_at),
        "startedAt": to_rfc3339(started),
        "completedAt": to_rfc3339(ended),
        "duration": duration((ended - started).total_seconds()) if started and ended else "",
    }


async def feed(
    services: Services,
    match: Callable[[Run], bool],
    render: Callable[[Run], dict[str, Any]],
    event: str,
) -> AsyncIterator[bytes]:
    """Server-sent events: one ``event`` per matching run change; ``resync`` if we lagged."""
    subscription = services.events.subscribe()
    try:
        yield b"retry: 2000\n: ping\n\n"
        while True:
            run = await subscription.get(KEEPALIVE_S)
            if subscription.take_lagged():
                yield b"event: resync\ndata: {}\n\n"
            if run is None:
                yield b": ping\n\n"
            elif match(run):
                data = json.dumps(render(run), separators=(",", ":"))
                yield f"event: {event}\ndata: {data}\n\n".encode()
    finally:
        services.events.unsubscribe(subscription)


def sse(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/ui/stream")
async def stream(request: Request) -> StreamingResponse:
    """Run changes for the runs page (its filters) or a run page (``root=<root run id>``)."""
    _check(request)
    root = request.query_params.get("root")
    if root:
        return sse(feed(_services(request), lambda r: r.root_id == root, run_change, "run"))
    flt = RunsFilter.parse(request.query_params)
    query = flt.query()
    return sse(feed(_services(request), lambda r: flt.matches(r, query), run_change, "run"))


@router.get("/ui/runs/{run_id}/logs")
async def logs(
    request: Request, run_id: str, after: int = Query(0, ge=0), attempt: int | None = None
) -> JSONResponse:
    _check(request)
    services = _services(request)
    run = services.get_run(run_id)
    lines = services.get_logs(run_id, attempt=attempt, after=after, limit=2000)
    return JSONResponse(
        {
            "status": str(run.status),
            "final": run.status.is_final,
            "next": lines[-1].seq if lines else after,
            "lines": [
                {"attempt": ln.attempt, "stream": ln.stream, "line": ln.line, "seq": ln.seq}
                for ln in lines
            ],
        }
    )


def _timeline_row(c: ChainRun) -> list[Any]:
    r = c.run
    ts = [
        [s.started_at.timestamp(), s.completed_at.timestamp() if s.completed_at else None, s.status]
        for s in c.spans
    ]
    return [
        r.id,
        r.parent_id,
        r.task_name,
        str(r.status),
        r.created_at.timestamp(),
        r.completed_at.timestamp() if r.completed_at else None,
        ts,
    ]


@router.get("/ui/runs/{root_id}/timeline")
async def timeline(request: Request, root_id: str) -> JSONResponse:
    """The chain under ``root_id`` as compact rows (the page draws only the visible ones)."""
    _check(request)
    from baton.core.models import utcnow

    chain = _services(request).chain(root_id, limit=TIMELINE_LIMIT)
    return JSONResponse(
        {
            "now": utcnow().timestamp(),
            "truncated": len(chain) >= TIMELINE_LIMIT,
            "columns": ["id", "parent", "task", "status", "created", "ended", "attempts"],
            "rows": [_timeline_row(c) for c in chain],
        }
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    sessions: Sessions = request.app.state.sessions
    if not sessions.bearer_or_session(request):
        return JSONResponse(
            {"message": "missing or invalid API token", "code": "unauthorized"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    collector: Metrics = request.app.state.metrics
    return PlainTextResponse(
        collector.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
