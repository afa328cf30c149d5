"""The public surface of ``baton``: changing it is a deliberate act."""

from __future__ import annotations

import baton


def test_baton_all_is_pinned() -> None:
    assert baton.__all__ == [
        "AwaitableTaskRun",
        "Baton",
        "BatonAsync",
        "BatonError",
        "ClientError",
        "NonRetryableError",
        "RateLimitError",
        "Retry",
        "ServerError",
        "TaskCanceled",
        "TaskContext",
        "TaskInstance",
        "TaskRun",
        "TaskRunDetails",
        "TaskRunError",
        "TaskRunMetadata",
        "TimeoutError",
        "Workflows",
        "checkpoint",
        "restore",
    ]


def test_every_name_in_all_exists() -> None:
    missing = [name for name in baton.__all__ if not hasattr(baton, name)]

    assert missing == []


def test_task_canceled_is_not_an_exception() -> None:
    assert not issubclass(baton.TaskCanceled, Exception)
    assert issubclass(baton.TaskCanceled, BaseException)
