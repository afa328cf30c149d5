"""``/v1/task-runs``: start, read, list, cancel and watch runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from baton.api import schemas
from baton.core.models import RunStatus
from baton.errors import InvalidInput, RunNotFound
from baton.services import Services
from baton.store import RunFilter

router = APIRouter(tags=["task runs"])
KEEPALIVE_S = 15.0
MAX_WATCHED = 1000


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _split(values: list[str] | None) -> list[str]:
    """Repeated keys (Python clients) and comma-joined values (TypeScript) alike."""
    return [v for raw in values or [] for v in raw.split(",") if v]


@router.post("/task-runs", status_code=202, summary="Start a task run")
async def start_task_run(
    body: schemas.StartTaskRun,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    services = _services(request)
    run = await services.submit_run(
        body.task, body.input, idempotency_key=body.idempotencyKey or idempotency_key
    )
    return JSONResponse(schemas.task_run(run, details=True), status_code=202)


@router.get("/task-runs", summary="List task runs, newest first")
async def list_task_runs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
    taskSlug: Annotated[list[str] | None, Query()] = None,
    rootTaskRunId: Annotated[list[str] | None, Query()] = None,
    parentTaskRunId: Annotated[list[str] | None, Query()] = None,
    workflow: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None,
    rootsOnly: bool = False,
) -> list[dict[str, Any]]:
    try:
        statuses = [RunStatus(s) for s in _split(status)]
    except ValueError as exc:
        raise InvalidInput(f"unknown status filter: {exc}") from exc
    if cursor is not None and not cursor.isdigit():
        raise InvalidInput(f"invalid cursor {cursor!r}: pass the cursor of a listed run")
    flt = RunFilter(
        workflow=_split(workflow),
        task_slug=_split(taskSlug),
        status=statuses,
        root_id=_split(rootTaskRunId),
        parent_id=_split(parentTaskRunId),
        roots_only=rootsOnly,
    )
    services = _services(request)
    rows = await services.offload(
        services.list_runs, flt, limit=limit, cursor=int(cursor) if cursor else None
    )
    return [{"taskRun": schemas.task_run(run), "cursor": str(seq)} for run, seq in rows]


def _event(run_json: dict[str, Any]) -> bytes:
    data = json.dumps(run_json, ensure_ascii=True, separators=(",", ":"))
    return f"event: task.completed\ndata: {data}\n\n".encode()


@router.get(
    "/task-runs/events",
    summary="Server-sent events: one task.completed event per run as it ends",
    response_class=StreamingResponse,
)
async def task_run_events(
    request: Request,
    taskRunIds: Annotated[list[str], Query()],
) -> StreamingResponse:
    services = _services(request)
    ids = list(dict.fromkeys(_split(taskRunIds)))
    if not ids:
        raise InvalidInput("taskRunIds must name at least one task run")
    if len(ids) > MAX_WATCHED:
        raise InvalidInput(f"at most {MAX_WATCHED} task runs per stream")
    known = {r.id for r in await services.offload(services.store.get_runs, ids)}
    missing = [i for i in ids if i not in known]
    if missing:
        raise RunNotFound(f"task run {missing[0]} not found")

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n: ping\n\n"
        finals = services.finals(ids).__aiter__()
        next_final = asyncio.ensure_future(finals.__anext__())
        try:
            while True:
                done, _ = await asyncio.wait({next_final}, timeout=KEEPALIVE_S)
                if not done:
                    yield b": ping\n\n"
                    continue
                try:
                    run = next_final.result()
                except StopAsyncIteration:
                    return
                yield _event(schemas.task_run(run, details=True))
                next_final = asyncio.ensure_future(finals.__anext__())
        finally:
            next_final.cancel()
            await finals.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/task-runs/{task_run_id}", summary="Get a task run with its attempts")
async def get_task_run(task_run_id: str, request: Request) -> dict[str, Any]:
    services = _services(request)
    return schemas.task_run(await services.offload(services.get_run, task_run_id), details=True)


@router.delete(
    "/task-runs/{task_run_id}",
    status_code=204,
    summary="Cancel a root run and all its unfinished descendants",
)
async def cancel_task_run(task_run_id: str, request: Request) -> Response:
    _services(request).cancel_run(task_run_id)
    return Response(status_code=204)


@router.get("/task-runs/{task_run_id}/logs", summary="Log lines of a run's attempts")
async def get_task_run_logs(
    task_run_id: str,
    request: Request,
    attempt: int | None = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    lines = _services(request).get_logs(task_run_id, attempt=attempt, after=after, limit=limit)
    return {
        "lines": [schemas.log_line(line) for line in lines],
        "next": lines[-1].seq if lines else after,
    }
