"""``/v1/tasks``: the tasks of each workflow's current version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from baton.api import schemas
from baton.services import Services

router = APIRouter(tags=["tasks"])


@router.get("/tasks", summary="List tasks")
async def list_tasks(request: Request, workflow: str | None = None) -> list[dict[str, Any]]:
    services: Services = request.app.state.services
    return [{"task": schemas.task(t), "cursor": t.id} for t in services.list_tasks(workflow)]
