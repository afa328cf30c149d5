"""Legal run transitions. Nothing leaves a final state."""

from __future__ import annotations

from baton.core.models import RunStatus
from baton.errors import InvalidTransition

_ALLOWED: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.CANCELED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.PENDING, RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED}
    ),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELED: frozenset(),
}


def can_move(src: RunStatus, dst: RunStatus) -> bool:
    return dst in _ALLOWED[src]


def check_move(run_id: str, src: RunStatus, dst: RunStatus) -> None:
    if not can_move(src, dst):
        raise InvalidTransition(f"task run {run_id} is {src}; it cannot become {dst}")
