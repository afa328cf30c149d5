"""Durable runs on PostgreSQL: memoized children, checkpoints, pauses and schedules
(``docs/durable.md``). The claim's share (pauses, priorities, concurrency keys) and plan
escalation live in ``pg_queue`` with the rest of the claim.

``memoized_child`` runs inside a transaction ``PostgresStore`` already holds; the mixin's
methods are the ``Store`` operations of this concern, one transaction each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from baton.core.durable import CHECKPOINT_MAX_KEYS, Pause, Schedule, ScheduleSpec, TickResult
from baton.core.models import JSON, ErrorType, NewRun, RunStatus
from baton.errors import ScheduleNotFound
from baton.store import pg_queue as q
from baton.store.durable_rows import (
    SCHEDULE_COLUMNS,
    TICK_HISTORY_S,
    checkpoint_keys_full,
    checkpoint_not_running,
    pause_from_row,
    schedule_from_row,
)
from baton.store.pg_conn import Cursor, PgConnection
from baton.store.rows import Row, from_ts


def memoized_child(
    cur: Cursor, parent_id: str, parent_attempt: int, index: int, task_name: str, digest: str
) -> str | None:
    """The child an earlier attempt of ``parent_id`` made for the same call, if reusable
    (pending, running or completed; a child that failed or was canceled is not).

    The caller holds the parent's row lock, so two calls of one parent cannot race here.
    """
    cur.execute(
        "SELECT c.child_id FROM calls c JOIN runs r ON r.id = c.child_id "
        "WHERE c.parent_id = %s AND c.call_index = %s AND c.task_name = %s "
        "AND c.input_hash = %s AND c.parent_attempt < %s "
        "AND r.status IN ('pending', 'running', 'completed') "
        "ORDER BY c.parent_attempt DESC LIMIT 1",
        (parent_id, index, task_name, digest, parent_attempt),
    )
    row = cur.fetchone()
    return None if row is None else str(row["child_id"])


class PgDurable:
    """``PostgresStore``'s checkpoint, pause and schedule operations."""

    if TYPE_CHECKING:  # provided by PostgresStore
        _db: PgConnection

        @staticmethod
        def _insert_run(cur: Cursor, new: NewRun, now: float) -> None: ...

    # checkpoints

    def put_checkpoint(self, run_id: str, attempt: int, key: str, value: JSON) -> None:
        """Store ``value`` under ``key`` for the run; only its running attempt may write.

        ``InvalidTransition`` if that attempt is no longer running; ``InvalidInput`` past
        ``CHECKPOINT_MAX_KEYS`` keys.
        """

        def body(cur: Cursor) -> None:
            # The attempt's row lock orders this write against the attempt's end.
            cur.execute(
                "SELECT status FROM attempts WHERE run_id = %s AND attempt = %s FOR UPDATE",
                (run_id, attempt),
            )
            row = cur.fetchone()
            if row is None or row["status"] != "running":
                raise checkpoint_not_running(run_id, attempt)
            cur.execute(
                "SELECT count(*) AS n, count(*) FILTER (WHERE key = %s) AS mine "
                "FROM checkpoints WHERE run_id = %s",
                (key, run_id),
            )
            count = cur.fetchone()
            if not count["mine"] and count["n"] >= CHECKPOINT_MAX_KEYS:
                raise checkpoint_keys_full(run_id, count["n"])
            cur.execute(
                "INSERT INTO checkpoints (run_id, key, value, attempt, updated_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id, key) DO UPDATE SET "
                "value = excluded.value, attempt = excluded.attempt, "
                "updated_at = excluded.updated_at",
                (run_id, key, json.dumps(value), attempt, time.time()),
            )

        self._db.run(body)

    def get_checkpoints(self, run_id: str) -> dict[str, JSON]:
        """Every checkpoint of the run, by key (``{}`` for none)."""
        rows = self._rows(
            "SELECT key, value FROM checkpoints WHERE run_id = %s ORDER BY key", (run_id,)
        )
        return {r["key"]: json.loads(r["value"]) for r in rows}

    # pauses

    def add_pause(self, scope: str, target: str) -> bool:
        """Pause a scope; False if it was paused already."""

        def body(cur: Cursor) -> bool:
            cur.execute(
                "INSERT INTO pauses (scope, target, created_at) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (scope, target, time.time()),
            )
            return bool(cur.rowcount > 0)

        return self._db.run(body)

    def remove_pause(self, scope: str, target: str) -> bool:
        """Resume a scope; False if it was not paused."""

        def body(cur: Cursor) -> bool:
            cur.execute("DELETE FROM pauses WHERE scope = %s AND target = %s", (scope, target))
            if cur.rowcount == 0:
                return False
            q.notify_work(cur)  # what the pause held back is claimable again
            return True

        return self._db.run(body)

    def list_pauses(self) -> list[Pause]:
        return [pause_from_row(r) for r in self._rows("SELECT * FROM pauses ORDER BY created_at")]

    # schedules

    def add_schedule(self, schedule: Schedule) -> Schedule:
        spec = schedule.spec

        def body(cur: Cursor) -> Schedule:
            cur.execute(
                f"INSERT INTO schedules ({SCHEDULE_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s) RETURNING *",
                (
                    schedule.id,
                    schedule.workflow,
                    schedule.task_name,
                    spec.cron,
                    spec.timezone,
                    json.dumps(spec.input),
                    spec.overlap,
                    spec.catchup_s,
                    schedule.source,
                    int(schedule.paused),
                    schedule.created_at.timestamp(),
                ),
            )
            return schedule_from_row(cur.fetchone())

        return self._db.run(body)

    def get_schedule(self, schedule_id: str) -> Schedule:
        rows = self._rows("SELECT * FROM schedules WHERE id = %s", (schedule_id,))
        if not rows:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")
        return schedule_from_row(rows[0])

    def list_schedules(self) -> list[Schedule]:
        rows = self._rows("SELECT * FROM schedules ORDER BY created_at, id")
        return [schedule_from_row(r) for r in rows]

    def set_schedule_paused(self, schedule_id: str, paused: bool) -> Schedule:
        def body(cur: Cursor) -> Row | None:
            cur.execute(
                "UPDATE schedules SET paused = %s WHERE id = %s RETURNING *",
                (int(paused), schedule_id),
            )
            row: Row | None = cur.fetchone()
            return row

        row = self._db.run(body)
        if row is None:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")
        return schedule_from_row(row)

    def delete_schedule(self, schedule_id: str) -> None:
        def body(cur: Cursor) -> int:
            cur.execute("DELETE FROM schedules WHERE id = %s", (schedule_id,))
            deleted: int = cur.rowcount
            cur.execute("DELETE FROM schedule_ticks WHERE schedule_id = %s", (schedule_id,))
            return deleted

        if self._db.run(body) == 0:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")

    def sync_code_schedules(
        self, workflow: str, specs: Mapping[str, ScheduleSpec], *, now: datetime
    ) -> None:
        """Make the workflow's ``code`` schedules match ``specs`` (task name → spec).

        A schedule that stays keeps its paused flag and its last tick.
        """

        def body(cur: Cursor) -> None:
            cur.execute(
                "DELETE FROM schedules WHERE workflow = %s AND source = 'code' "
                "AND NOT (task_name = ANY(%s::text[]))",
                (workflow, list(specs)),
            )
            cur.executemany(
                f"INSERT INTO schedules ({SCHEDULE_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'code', 0, NULL, %s) "
                "ON CONFLICT (id) DO UPDATE SET cron = excluded.cron, "
                "timezone = excluded.timezone, input = excluded.input, "
                "overlap = excluded.overlap, catchup_s = excluded.catchup_s",
                [
                    (
                        f"code:{workflow}:{task_name}",
                        workflow,
                        task_name,
                        spec.cron,
                        spec.timezone,
                        json.dumps(spec.input),
                        spec.overlap,
                        spec.catchup_s,
                        now.timestamp(),
                    )
                    for task_name, spec in sorted(specs.items())  # key order: no deadlock
                ],
            )

        self._db.run(body)

    def fire_tick(
        self, schedule_id: str, tick_at: datetime, new: NewRun | None, *, now: datetime
    ) -> TickResult:
        """Fire one tick in one transaction: claim ``(schedule, tick)`` (unique, so one server
        wins), apply the overlap policy, enqueue ``new``. ``new=None``: the task is gone."""
        ts, tick = now.timestamp(), tick_at.timestamp()

        def body(cur: Cursor) -> TickResult:
            # The schedule's row lock serialises the ticks of one schedule across servers, so
            # the overlap policy sees the run an earlier tick started.
            cur.execute("SELECT * FROM schedules WHERE id = %s FOR UPDATE", (schedule_id,))
            row = cur.fetchone()
            if row is None:
                raise ScheduleNotFound(f"schedule {schedule_id} not found")
            cur.execute(
                "INSERT INTO schedule_ticks (schedule_id, tick_at, outcome, run_id, fired_at) "
                "VALUES (%s, %s, 'firing', NULL, %s) ON CONFLICT DO NOTHING",
                (schedule_id, tick, ts),
            )
            if cur.rowcount == 0:
                return TickResult(schedule_id, tick_at, fired=False)
            cur.execute(
                "UPDATE schedules SET last_tick_at = %s WHERE id = %s "
                "AND (last_tick_at IS NULL OR last_tick_at < %s)",
                (tick, schedule_id, tick),
            )
            cur.execute(
                "DELETE FROM schedule_ticks WHERE schedule_id = %s AND tick_at < %s",
                (schedule_id, ts - row["catchup_s"] - TICK_HISTORY_S),
            )
            outcome, run_id, canceled = self._apply_tick(cur, row, new, ts)
            cur.execute(
                "UPDATE schedule_ticks SET outcome = %s, run_id = %s "
                "WHERE schedule_id = %s AND tick_at = %s",
                (outcome, run_id, schedule_id, tick),
            )
            return TickResult(schedule_id, tick_at, True, outcome, run_id, tuple(canceled))

        return self._db.run(body)

    def schedule_ticks(
        self, schedule_id: str, *, limit: int = 20
    ) -> list[tuple[datetime, str, str | None]]:
        """The latest fired ticks: ``(tick_at, outcome, run_id)``, newest first."""
        rows = self._rows(
            "SELECT tick_at, outcome, run_id FROM schedule_ticks WHERE schedule_id = %s "
            "ORDER BY tick_at DESC LIMIT %s",
            (schedule_id, limit),
        )
        return [(from_ts(r["tick_at"]), r["outcome"], r["run_id"]) for r in rows]  # type: ignore[misc]

    def _apply_tick(
        self, cur: Cursor, row: Row, new: NewRun | None, ts: float
    ) -> tuple[str, str | None, list[str]]:
        if row["paused"]:
            return "paused", None, []
        if new is None:
            return "missing_task", None, []
        cur.execute(
            "SELECT id FROM runs WHERE schedule_id = %s AND parent_id IS NULL "
            "AND status IN ('pending', 'running') ORDER BY seq",
            (row["id"],),
        )
        active = [r["id"] for r in cur.fetchall()]
        canceled: list[str] = []
        if active and row["overlap"] == "skip":
            return "skipped", None, []
        if active and row["overlap"] == "cancel":
            for root_id in active:
                canceled += q.cancel_tree(cur, root_id, ts, ErrorType.CANCELED)
            q.notify_final(cur, [(rid, RunStatus.CANCELED) for rid in canceled])
        self._insert_run(cur, new, ts)
        q.notify_work(cur)
        return "started", new.id, canceled

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        def body(cur: Cursor) -> list[Row]:
            cur.execute(sql, args)
            rows: list[Row] = cur.fetchall()
            return rows

        return self._db.run(body)
