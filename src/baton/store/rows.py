"""Row ↔ model conversion shared by the backends (rows arrive as mappings)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from baton.core.models import (
    Attempt,
    AttemptStatus,
    NewRun,
    Run,
    RunStatus,
    Task,
    TaskDef,
    WorkflowVersion,
)
from baton.core.retry import Retry
from baton.errors import BatonError

if TYPE_CHECKING:
    from baton.store.base import Outcome

T = TypeVar("T")

Row = Mapping[str, Any]


def to_ts(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def from_ts(value: float | datetime | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)


def _req_ts(value: float | datetime) -> datetime:
    at = from_ts(value)
    assert at is not None
    return at


def retry_to_json(policy: Retry) -> str:
    return json.dumps(policy.to_wire())


def input_hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:32]


#: The columns a new run is inserted with; its status is always ``pending``.
_RUN_INSERT_COLUMNS = (
    "id, task_id, workflow, task_name, version_id, status, input, parent_id, root_id, "
    "parent_attempt, retry, timeout_s, plan, idempotency_key, created_at, not_before, "
    "priority, concurrency_key, concurrency_limit, escalate_plans, schedule_id"
)


def run_insert(new: NewRun, now: float, placeholder: str) -> tuple[str, tuple[object, ...]]:
    """The ``INSERT INTO runs`` statement and its values for ``new``, in either backend's
    parameter style (``?`` or ``%s``)."""
    values: tuple[object, ...] = (
        new.id,
        new.task.id,
        new.task.workflow,
        new.task.name,
        new.task.version_id,
        json.dumps(new.input),
        new.parent_id,
        new.root_id or new.id,
        new.parent_attempt,
        retry_to_json(new.retry),
        new.timeout_s,
        new.plan,
        new.idempotency_key,
        now,
        now,
        new.priority,
        new.concurrency_key,
        new.concurrency_limit,
        int(new.escalate_plans),
        new.schedule_id,
    )
    marks = [placeholder] * len(values)
    marks.insert(5, "'pending'")
    sql = f"INSERT INTO runs ({_RUN_INSERT_COLUMNS}) VALUES ({', '.join(marks)})"
    return sql, values


#: ``status IN`` list of the final run states, for SQL on either backend.
FINAL_STATUSES = "(" + ", ".join(f"'{s.value}'" for s in RunStatus if s.is_final) + ")"


def end_attempt_sql(merge_timings: str) -> str:
    """``UPDATE attempts`` that records an attempt's end (``?`` marks; ``end_values`` fills
    them). ``merge_timings`` is the backend's expression for the stored ``timings`` JSON merged
    with the JSON object bound to its one ``?``."""
    return (
        "UPDATE attempts SET status = ?, completed_at = ?, output = ?, error = ?, "
        "error_type = ?, traceback = ?, exit_code = COALESCE(?, exit_code), "
        "peak_rss_kb = COALESCE(?, peak_rss_kb), cpu_s = COALESCE(?, cpu_s), "
        "pid = COALESCE(?, pid), timings = CASE WHEN CAST(? AS TEXT) IS NULL THEN timings "
        f"ELSE {merge_timings} END, waiting = 0 WHERE run_id = ? AND attempt = ?"
    )


def text(value: str | None) -> str | None:
    """``value`` with each NUL replaced by U+FFFD: PostgreSQL's text cannot hold NUL, and what
    a task prints or raises must be stored, not refused (both stores store the same)."""
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def storable(outcome: Outcome) -> Outcome:
    """``outcome`` with its texts made storable (``text``)."""
    if not any("\x00" in (t or "") for t in (outcome.error, outcome.error_type, outcome.traceback)):
        return outcome
    return replace(
        outcome,
        error=text(outcome.error),
        error_type=text(outcome.error_type),
        traceback=text(outcome.traceback),
    )


def log_rows(
    run_id: str, attempt: int, ts: float, lines: Sequence[tuple[str, str]]
) -> list[tuple[str, int, str, float, str | None]]:
    """The ``logs`` rows ``(run_id, attempt, stream, at, line)`` of ``lines``."""
    return [(run_id, attempt, stream, ts, text(line)) for stream, line in lines]


def end_values(run_id: str, attempt: int, outcome: Outcome, ts: float) -> tuple[object, ...]:
    """The values of ``end_attempt_sql`` for ``outcome``."""
    timings = json.dumps(dict(outcome.timings)) if outcome.timings else None
    return (
        "completed" if outcome.ok else "failed",
        ts,
        outcome.output,
        outcome.error,
        outcome.error_type,
        outcome.traceback,
        outcome.exit_code,
        outcome.peak_rss_kb,
        outcome.cpu_s,
        outcome.pid,
        timings,
        timings,
        run_id,
        attempt,
    )


def with_savepoints(
    execute: Callable[[str], object], items: Sequence[Callable[[], T]]
) -> list[T | BatonError]:
    """Run ``items`` inside an open transaction, each under a savepoint: one that raises a
    ``BatonError`` is rolled back (its error takes its place in the answer), the others stay.
    ``execute`` runs a statement (the same savepoint syntax works on both backends)."""
    out: list[T | BatonError] = []
    for item in items:
        execute("SAVEPOINT baton_item")
        try:
            out.append(item())
        except BatonError as exc:
            execute("ROLLBACK TO SAVEPOINT baton_item")
            out.append(exc)
        else:
            execute("RELEASE SAVEPOINT baton_item")
    return out


def attempt_from_row(row: Row) -> Attempt:
    return Attempt(
        run_id=row["run_id"],
        attempt=row["attempt"],
        status=AttemptStatus(row["status"]),
        started_at=_req_ts(row["started_at"]),
        completed_at=from_ts(row["completed_at"]),
        worker_id=row["worker_id"],
        pid=row["pid"],
        error=row["error"],
        error_type=row["error_type"],
        output=row["output"],
        exit_code=row["exit_code"],
        peak_rss_kb=row["peak_rss_kb"],
        cpu_s=row["cpu_s"],
        plan=row["plan"],
        timings=json.loads(row["timings"]) if row["timings"] else None,
    )


def run_from_row(row: Row, attempts: tuple[Attempt, ...] = ()) -> Run:
    return Run(
        id=row["id"],
        task_id=row["task_id"],
        workflow=row["workflow"],
        task_name=row["task_name"],
        version_id=row["version_id"],
        status=RunStatus(row["status"]),
        input=json.loads(row["input"]),
        parent_id=row["parent_id"],
        root_id=row["root_id"],
        parent_attempt=row["parent_attempt"],
        created_at=_req_ts(row["created_at"]),
        retry=Retry.from_wire(json.loads(row["retry"])),
        timeout_s=row["timeout_s"],
        plan=row["plan"],
        attempt_count=row["attempt_count"],
        started_at=from_ts(row["started_at"]),
        completed_at=from_ts(row["completed_at"]),
        not_before_at=from_ts(row["not_before"]),
        output=row["output"],
        error=row["error"],
        error_type=row["error_type"],
        traceback=row["traceback"],
        attempts=attempts,
        priority=row.get("priority") or 0,
        concurrency_key=row.get("concurrency_key"),
        schedule_id=row.get("schedule_id"),
    )


def task_from_row(row: Row) -> Task:
    return Task(
        id=row["id"],
        workflow=row["workflow"],
        version_id=row["version_id"],
        name=row["name"],
        definition=TaskDef.from_wire(json.loads(row["definition"])),
        created_at=_req_ts(row["created_at"]),
    )


def version_from_row(row: Row) -> WorkflowVersion:
    return WorkflowVersion(
        id=row["id"],
        workflow=row["workflow"],
        target=row["target"],
        kind=row["kind"],
        code_dir=row["code_dir"],
        status=row["status"],
        created_at=_req_ts(row["created_at"]),
        error=row["error"],
    )
