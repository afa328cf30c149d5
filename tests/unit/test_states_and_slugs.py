"""Legal run transitions and task slug parsing."""

from __future__ import annotations

import pytest

from baton.core.models import RunStatus
from baton.core.states import can_move, check_move
from baton.errors import InvalidTransition, TaskNotFound
from baton.services import parse_slug

FINAL = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED]


@pytest.mark.parametrize("src", FINAL)
@pytest.mark.parametrize("dst", list(RunStatus))
def test_nothing_leaves_a_final_state(src: RunStatus, dst: RunStatus) -> None:
    assert not can_move(src, dst)
    with pytest.raises(InvalidTransition):
        check_move("trn-x", src, dst)


def test_running_run_can_go_back_to_pending_for_a_retry() -> None:
    assert can_move(RunStatus.RUNNING, RunStatus.PENDING)


@pytest.mark.parametrize("status", FINAL)
def test_final_statuses_are_final(status: RunStatus) -> None:
    assert status.is_final


@pytest.mark.parametrize("status", [RunStatus.PENDING, RunStatus.RUNNING])
def test_active_statuses_are_not_final(status: RunStatus) -> None:
    assert not status.is_final


@pytest.mark.parametrize(
    ("slug", "parsed"),
    [
        ("wf/task", ("wf", "task", None)),
        ("wf/task:wfv-123", ("wf", "task", "wfv-123")),
        ("my-flow/snake_case", ("my-flow", "snake_case", None)),
    ],
)
def test_parse_slug_splits_workflow_task_and_version(
    slug: str, parsed: tuple[str, str, str | None]
) -> None:
    assert parse_slug(slug) == parsed


@pytest.mark.parametrize("slug", ["task", "/task", "wf/", ""])
def test_parse_slug_rejects_slug_without_workflow_and_task(slug: str) -> None:
    with pytest.raises(TaskNotFound, match="expected <workflow>/<task>"):
        parse_slug(slug)
