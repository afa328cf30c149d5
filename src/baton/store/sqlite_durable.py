"""Durable runs on SQLite: memoized children, claims under pauses, priorities and concurrency
keys, plan escalation, checkpoints, pauses and schedules (``docs/durable.md``).

The helper functions run inside a transaction ``SQLiteStore`` already holds; the mixin's
methods are the ``Store`` operations of this concern. The SQL is kept portable (no SQLite-only
syntax beyond ``?`` placeholders) so the PostgreSQL backend can mirror it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from baton.core.durable import (
    CHECKPOINT_MAX_KEYS,
    Pause,
    Schedule,
    ScheduleSpec,
    TickResult,
    next_plan,
)
from baton.core.models import JSON, ErrorType, NewRun
from baton.errors import ScheduleNotFound
from baton.store.base import Outcome
from baton.store.durable_rows import (
    TICK_HISTORY_S,
    checkpoint_keys_full,
    checkpoint_not_running,
    pause_from_row,
    schedule_from_row,
)
from baton.store.rows import Row, from_ts


def _one(db: sqlite3.Connection, sql: str, args: tuple[Any, ...] = ()) -> Any:
    row = db.execute(sql, args).fetchone()
    return None if row is None else next(iter(row.values()))


# helpers inside a transaction ---------------------------------------------------------------


def memoized_child(
    db: sqlite3.Connection,
    parent_id: str,
    parent_attempt: int,
    index: int,
    task_name: str,
    digest: str,
) -> str | None:
    """The child an earlier attempt of ``parent_id`` made for the same call, if reusable.

    Reusable: completed (its result is returned), or still pending or running. A child that
    failed for good or was canceled is not: the retried parent gets a fresh one.
    """
    row = db.execute(
        "SELECT c.child_id FROM calls c JOIN runs r ON r.id = c.child_id "
        "WHERE c.parent_id = ? AND c.call_index = ? AND c.task_name = ? AND c.input_hash = ? "
        "AND c.parent_attempt < ? AND r.status IN ('pending', 'running', 'completed') "
        "ORDER BY c.parent_attempt DESC LIMIT 1",
        (parent_id, index, task_name, digest, parent_attempt),
    ).fetchone()
    return None if row is None else str(row["child_id"])


def queue_paused(db: sqlite3.Connection) -> bool:
    return _one(db, "SELECT 1 FROM pauses WHERE scope = 'queue'") is not None


def claimable(
    db: sqlite3.Connection, ts: float, n: int, plans: Sequence[str] | None = None
) -> list[Row]:
    """Up to ``n`` pending runs to claim now: highest priority first, then oldest; none of a
    paused task or tree; none whose concurrency key is at its limit; with ``plans``, only
    runs on one of them."""
    plan_args: tuple[str, ...] = () if plans is None else tuple(plans)
    # placeholders only: the plan names themselves are parameters
    plan_filter = "" if plans is None else f"AND r.plan IN ({', '.join('?' * len(plan_args))}) "
    rows = db.execute(
        "SELECT r.id, r.attempt_count, r.plan, r.concurrency_key, r.concurrency_limit "
        "FROM runs r WHERE r.status = 'pending' AND r.not_before <= ? "
        + plan_filter
        + "AND NOT EXISTS (SELECT 1 FROM pauses p WHERE "
        "(p.scope = 'task' AND p.target = r.workflow || '/' || r.task_name) "
        "OR (p.scope = 'tree' AND p.target = r.root_id)) "
        "AND (r.concurrency_key IS NULL OR (SELECT count(*) FROM runs c "
        "WHERE c.concurrency_key = r.concurrency_key AND c.status = 'running') "
        "< r.concurrency_limit) "
        "ORDER BY r.priority DESC, r.seq LIMIT ?",
        (ts, *plan_args, n + 8),  # a few spare rows for keys that fill up within this batch
    ).fetchall()
    running: dict[str, int] = {}
    out: list[Row] = []
    for r in rows:
        if len(out) >= n:
            break
        key = r["concurrency_key"]
        if key is not None:
            if key not in running:
                running[key] = _one(
                    db,
                    "SELECT count(*) FROM runs WHERE concurrency_key = ? AND status = 'running'",
                    (key,),
                )
            if running[key] >= r["concurrency_limit"]:
                continue  # filled by a claim earlier in this same batch
            running[key] += 1
        out.append(r)
    return out


def escalate_plan(db: sqlite3.Connection, run_id: str, outcome: Outcome, ts: float) -> bool:
    """Retry an out-of-memory attempt at once on the next plan up, if the task asks for it.

    Escalation comes on top of the retry policy: each step up grants one more attempt.
    """
    if outcome.ok or outcome.error_type != ErrorType.OUT_OF_MEMORY:
        return False
    row = db.execute("SELECT plan, escalate_plans FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None or not row["escalate_plans"]:
        return False
    bigger = next_plan(row["plan"])
    if bigger is None:
        return False
    db.execute(
        "UPDATE runs SET status = 'pending', not_before = ?, plan = ? WHERE id = ?",
        (ts, bigger, run_id),
    )
    return True


def cancel_tree(db: sqlite3.Connection, root_id: str, ts: float) -> list[str]:
    """Cancel the unfinished runs of ``root_id``'s tree; returns their ids."""
    ids = [
        r["id"]
        for r in db.execute(
            "SELECT id FROM runs WHERE root_id = ? AND status IN ('pending', 'running')",
            (root_id,),
        ).fetchall()
    ]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    db.execute(
        f"UPDATE attempts SET status = 'canceled', completed_at = ?, "
        f"error = 'task run canceled', error_type = ?, waiting = 0 "
        f"WHERE status = 'running' AND run_id IN ({marks})",
        (ts, ErrorType.CANCELED, *ids),
    )
    db.execute(
        f"UPDATE runs SET status = 'canceled', completed_at = ?, "
        f"error = 'task run canceled', error_type = ? WHERE id IN ({marks})",
        (ts, ErrorType.CANCELED, *ids),
    )
    return ids


# the Store operations -----------------------------------------------------------------------


class SQLiteDurable:
    """``SQLiteStore``'s checkpoint, pause and schedule operations."""

    if TYPE_CHECKING:  # provided by SQLiteStore

        def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _insert_run(self, db: sqlite3.Connection, new: NewRun, now: float) -> None: ...

    # checkpoints

    def put_checkpoint(self, run_id: str, attempt: int, key: str, value: JSON) -> None:
        """Store ``value`` under ``key`` for the run; only its running attempt may write.

        ``InvalidTransition`` if that attempt is no longer running; ``InvalidInput`` past
        ``CHECKPOINT_MAX_KEYS`` keys.
        """
        with self._tx() as db:
            status = _one(
                db,
                "SELECT status FROM attempts WHERE run_id = ? AND attempt = ?",
                (run_id, attempt),
            )
            if status != "running":
                raise checkpoint_not_running(run_id, attempt)
            exists = _one(
                db, "SELECT 1 FROM checkpoints WHERE run_id = ? AND key = ?", (run_id, key)
            )
            if exists is None:
                count = _one(db, "SELECT count(*) FROM checkpoints WHERE run_id = ?", (run_id,))
                if count >= CHECKPOINT_MAX_KEYS:
                    raise checkpoint_keys_full(run_id, count)
            db.execute(
                "INSERT INTO checkpoints (run_id, key, value, attempt, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET "
                "value = excluded.value, attempt = excluded.attempt, "
                "updated_at = excluded.updated_at",
                (run_id, key, json.dumps(value), attempt, time.time()),
            )

    def get_checkpoints(self, run_id: str) -> dict[str, JSON]:
        """Every checkpoint of the run, by key (``{}`` for none)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT key, value FROM checkpoints WHERE run_id = ? ORDER BY key", (run_id,)
            ).fetchall()
        return {r["key"]: json.loads(r["value"]) for r in rows}

    # pauses

    def add_pause(self, scope: str, target: str) -> bool:
        """Pause a scope; False if it was paused already."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO pauses (scope, target, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (scope, target, time.time()),
            )
        return cur.rowcount > 0

    def remove_pause(self, scope: str, target: str) -> bool:
        """Resume a scope; False if it was not paused."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM pauses WHERE scope = ? AND target = ?", (scope, target))
        return cur.rowcount > 0

    def list_pauses(self) -> list[Pause]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM pauses ORDER BY created_at").fetchall()
        return [pause_from_row(r) for r in rows]

    # schedules

    def add_schedule(self, schedule: Schedule) -> Schedule:
        spec = schedule.spec
        with self._tx() as db:
            db.execute(
                "INSERT INTO schedules (id, workflow, task_name, cron, timezone, input, overlap, "
                "catchup_s, source, paused, last_tick_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
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
        return self.get_schedule(schedule.id)

    def get_schedule(self, schedule_id: str) -> Schedule:
        with self._read() as db:
            row = db.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
        if row is None:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")
        return schedule_from_row(row)

    def list_schedules(self) -> list[Schedule]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM schedules ORDER BY created_at, id").fetchall()
        return [schedule_from_row(r) for r in rows]

    def set_schedule_paused(self, schedule_id: str, paused: bool) -> Schedule:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE schedules SET paused = ? WHERE id = ?", (int(paused), schedule_id)
            )
        if cur.rowcount == 0:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")
        return self.get_schedule(schedule_id)

    def delete_schedule(self, schedule_id: str) -> None:
        with self._tx() as db:
            cur = db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))
            db.execute("DELETE FROM schedule_ticks WHERE schedule_id = ?", (schedule_id,))
        if cur.rowcount == 0:
            raise ScheduleNotFound(f"schedule {schedule_id} not found")

    def sync_code_schedules(
        self, workflow: str, specs: Mapping[str, ScheduleSpec], *, now: datetime
    ) -> None:
        """Make the workflow's ``code`` schedules match ``specs`` (task name → spec).

        A schedule that stays keeps its paused flag and its last tick.
        """
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, task_name FROM schedules WHERE workflow = ? AND source = 'code'",
                (workflow,),
            ).fetchall()
            for r in rows:
                if r["task_name"] not in specs:
                    db.execute("DELETE FROM schedules WHERE id = ?", (r["id"],))
            for task_name, spec in specs.items():
                db.execute(
                    "INSERT INTO schedules (id, workflow, task_name, cron, timezone, input, "
                    "overlap, catchup_s, source, paused, last_tick_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'code', 0, NULL, ?) "
                    "ON CONFLICT (id) DO UPDATE SET cron = excluded.cron, "
                    "timezone = excluded.timezone, input = excluded.input, "
                    "overlap = excluded.overlap, catchup_s = excluded.catchup_s",
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
                    ),
                )

    def fire_tick(
        self,
        schedule_id: str,
        tick_at: datetime,
        new: NewRun | None,
        *,
        now: datetime,
    ) -> TickResult:
        """Fire one tick in one transaction: claim ``(schedule, tick)`` (unique, so one server
        wins), apply the overlap policy, enqueue ``new``. ``new=None``: the task is gone."""
        ts, tick = now.timestamp(), tick_at.timestamp()
        with self._tx() as db:
            row = db.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
            if row is None:
                raise ScheduleNotFound(f"schedule {schedule_id} not found")
            cur = db.execute(
                "INSERT INTO schedule_ticks (schedule_id, tick_at, outcome, run_id, fired_at) "
                "VALUES (?, ?, 'firing', NULL, ?) ON CONFLICT DO NOTHING",
                (schedule_id, tick, ts),
            )
            if cur.rowcount == 0:
                return TickResult(schedule_id, tick_at, fired=False)
            db.execute(
                "UPDATE schedules SET last_tick_at = ? WHERE id = ? "
                "AND (last_tick_at IS NULL OR last_tick_at < ?)",
                (tick, schedule_id, tick),
            )
            db.execute(
                "DELETE FROM schedule_ticks WHERE schedule_id = ? AND tick_at < ?",
                (schedule_id, ts - row["catchup_s"] - TICK_HISTORY_S),
            )
            outcome, run_id, canceled = self._apply_tick(db, row, new, ts)
            db.execute(
                "UPDATE schedule_ticks SET outcome = ?, run_id = ? "
                "WHERE schedule_id = ? AND tick_at = ?",
                (outcome, run_id, schedule_id, tick),
            )
        return TickResult(schedule_id, tick_at, True, outcome, run_id, tuple(canceled))

    def schedule_ticks(
        self, schedule_id: str, *, limit: int = 20
    ) -> list[tuple[datetime, str, str | None]]:
        """The latest fired ticks: ``(tick_at, outcome, run_id)``, newest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT tick_at, outcome, run_id FROM schedule_ticks WHERE schedule_id = ? "
                "ORDER BY tick_at DESC LIMIT ?",
                (schedule_id, limit),
            ).fetchall()
        return [(from_ts(r["tick_at"]), r["outcome"], r["run_id"]) for r in rows]  # type: ignore[misc]

    def _apply_tick(
        self, db: sqlite3.Connection, row: Row, new: NewRun | None, ts: float
    ) -> tuple[str, str | None, list[str]]:
        if row["paused"]:
            return "paused", None, []
        if new is None:
            return "missing_task", None, []
        active = [
            r["id"]
            for r in db.execute(
                "SELECT id FROM runs WHERE schedule_id = ? AND parent_id IS NULL "
                "AND status IN ('pending', 'running') ORDER BY seq",
                (row["id"],),
            ).fetchall()
        ]
        canceled: list[str] = []
        if active and row["overlap"] == "skip":
            return "skipped", None, []
        if active and row["overlap"] == "cancel":
            for root_id in active:
                canceled += cancel_tree(db, root_id, ts)
        self._insert_run(db, new, ts)
        return "started", new.id, canceled
