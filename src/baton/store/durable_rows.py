"""Durable-run rows ↔ models, and the limits both backends apply (``docs/durable.md``).

Backend-neutral: ``sqlite_durable`` and ``pg_durable`` own their SQL and share these.
"""

from __future__ import annotations

import json

from baton.core.durable import CHECKPOINT_MAX_KEYS, Pause, Schedule, ScheduleSpec
from baton.errors import InvalidInput, InvalidTransition
from baton.store.rows import Row, from_ts

#: Tick rows kept this long past a schedule's catch-up window, for ``schedules get``.
TICK_HISTORY_S = 24 * 3600.0

#: The columns of ``schedules`` in insert order (both backends' ``add_schedule``).
SCHEDULE_COLUMNS = (
    "id, workflow, task_name, cron, timezone, input, overlap, catchup_s, source, paused, "
    "last_tick_at, created_at"
)


def schedule_from_row(row: Row) -> Schedule:
    created = from_ts(row["created_at"])
    assert created is not None
    return Schedule(
        id=row["id"],
        workflow=row["workflow"],
        task_name=row["task_name"],
        spec=ScheduleSpec(
            cron=row["cron"],
            timezone=row["timezone"],
            input=json.loads(row["input"]),
            overlap=row["overlap"],
            catchup_s=row["catchup_s"],
        ),
        source=row["source"],
        paused=bool(row["paused"]),
        created_at=created,
        last_tick_at=from_ts(row["last_tick_at"]),
    )


def pause_from_row(row: Row) -> Pause:
    created = from_ts(row["created_at"])
    assert created is not None
    return Pause(row["scope"], row["target"], created)


def checkpoint_not_running(run_id: str, attempt: int) -> InvalidTransition:
    return InvalidTransition(
        f"attempt {attempt} of task run {run_id} is not running; its checkpoint was dropped"
    )


def checkpoint_keys_full(run_id: str, count: int) -> InvalidInput:
    return InvalidInput(
        f"task run {run_id} already has {count} checkpoint keys "
        f"(limit {CHECKPOINT_MAX_KEYS}); reuse a key"
    )
