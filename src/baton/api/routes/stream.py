"""``GET /v1/task-runs/stream``: every run change (created, started, retried, ended) as
server-sent events, optionally filtered; the feed the dashboard's live pages also use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from baton.api import schemas
from baton.core.models import Run, RunStatus
from baton.dashboard.live import feed, sse
from baton.errors import InvalidInput
from baton.services import Services

router = APIRouter(tags=["task runs"])


def _split(values: list[str] | None) -> set[str]:
    return {v for raw in values or [] for v in raw.split(",") if v}


@router.get(
    "/task-runs/stream",
    summary="Server-sent events: one task.updated event per run change",
    response_class=StreamingResponse,
)
async def task_run_stream(
    request: Request,
    workflow: Annotated[list[str] | None, Query()] = None,
    taskSlug: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None,
    rootTaskRunId: Annotated[list[str] | None, Query()] = None,
) -> StreamingResponse:
    services: Services = request.app.state.services
    workflows, slugs, roots = _split(workflow), _split(taskSlug), _split(rootTaskRunId)
    try:
        statuses = {RunStatus(s) for s in _split(status)}
    except ValueError as exc:
        raise InvalidInput(f"unknown status filter: {exc}") from exc

    def match(run: Run) -> bool:
        return (
            (not workflows or run.workflow in workflows)
            and (not slugs or run.slug in slugs)
            and (not statuses or run.status in statuses)
            and (not roots or run.root_id in roots)
        )

    return sse(feed(services, match, lambda r: schemas.task_run(r), "task.updated"))
