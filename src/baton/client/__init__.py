"""REST clients for Baton's API, wire-compatible with Render Workflows' ``Render`` client.

``Baton`` blocks; ``BatonAsync`` is its asyncio twin. Both reach the task-run operations
through ``.workflows``::

    from baton.client import Baton

    with Baton("http://127.0.0.1:8000") as client:
        details = client.workflows.run_task("my-workflow/square", [3])
"""

from __future__ import annotations

from baton.client.async_ import AwaitableTaskRun, BatonAsync
from baton.client.durable import Pause, Schedule, ScheduleTick
from baton.client.sync import Baton
from baton.client.types import (
    LogLine,
    Task,
    TaskAttempt,
    TaskRun,
    TaskRunDetails,
    TaskRunWithCursor,
)

__all__ = [
    "AwaitableTaskRun",
    "Baton",
    "BatonAsync",
    "LogLine",
    "Pause",
    "Schedule",
    "ScheduleTick",
    "Task",
    "TaskAttempt",
    "TaskRun",
    "TaskRunDetails",
    "TaskRunWithCursor",
]
