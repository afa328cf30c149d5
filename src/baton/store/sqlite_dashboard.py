"""The dashboard's read queries on SQLite (``SQLiteStore`` delegates its dashboard methods).

Every list is keyset-paged on ``runs.seq`` and reads through an index of migration 0003, so a
page costs the same with a thousand runs or a million. The SQL is kept portable (no SQLite
functions) so the PostgreSQL backend can reuse it with its own placeholders.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from baton.core.models import RunStatus
from baton.store.base import AttemptSpan, ChainRun, RunQuery, RunSummary, TaskStats
from baton.store.rows import from_ts

SUMMARY_COLUMNS = (
    "seq, id, workflow, task_name, status, parent_id, root_id, attempt_count, created_at, "
    "started_at, completed_at, error_type"
)


def summary_from_row(row: Mapping[str, Any]) -> RunSummary:
    created = from_ts(row["created_at"])
    assert created is not None
    return RunSummary(
        seq=row["seq"],
        id=row["id"],
        workflow=row["workflow"],
        task_name=row["task_name"],
        status=RunStatus(row["status"]),
        parent_id=row["parent_id"],
        root_id=row["root_id"],
        attempt_count=row["attempt_count"],
        created_at=created,
        started_at=from_ts(row["started_at"]),
        completed_at=from_ts(row["completed_at"]),
        error_type=row["error_type"],
    )


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _time_bounds(db: sqlite3.Connection, query: RunQuery) -> tuple[int | None, int | None]:
    """Seq bounds equivalent to the query's time window (seq grows with created_at)."""
    low = high = None
    if query.created_after is not None:
        row = db.execute(
            "SELECT seq FROM runs WHERE created_at >= ? ORDER BY created_at LIMIT 1",
            (query.created_after.timestamp(),),
        ).fetchone()
        low = row["seq"] if row else -1  # -1: nothing that new, the page is empty
    if query.created_before is not None:
        row = db.execute(
            "SELECT seq FROM runs WHERE created_at < ? ORDER BY created_at DESC LIMIT 1",
            (query.created_before.timestamp(),),
        ).fetchone()
        high = row["seq"] if row else 0
    return low, high


def _where(db: sqlite3.Connection, query: RunQuery) -> tuple[list[str], list[object]]:
    where: list[str] = []
    args: list[object] = []
    if query.workflow:
        where.append("workflow = ?")
        args.append(query.workflow)
    if query.task_name:
        where.append("task_name = ?")
        args.append(query.task_name)
    if query.status:
        where.append(f"status IN ({','.join('?' * len(query.status))})")
        args.extend(str(s) for s in query.status)
    if query.id_prefix:
        where.append("id >= ? AND id < ?")
        args.extend([query.id_prefix, _prefix_end(query.id_prefix)])
    if query.roots_only:
        where.append("parent_id IS NULL")
    low, high = _time_bounds(db, query)
    if low is not None:
        where.append("seq >= ? AND created_at >= ?")
        args.extend([low, query.created_after.timestamp()])  # type: ignore[union-attr]
    if high is not None:
        where.append("seq <= ? AND created_at < ?")
        args.extend([high, query.created_before.timestamp()])  # type: ignore[union-attr]
    return where, args


def search_runs(
    db: sqlite3.Connection,
    query: RunQuery,
    *,
    limit: int,
    before_seq: int | None,
    after_seq: int | None,
) -> list[RunSummary]:
    where, args = _where(db, query)
    if before_seq is not None:
        where.append("seq < ?")
        args.append(before_seq)
    order = "DESC"
    if after_seq is not None:
        where.append("seq > ?")
        args.append(after_seq)
        order = "ASC"  # the nearest newer runs, reversed below
    sql = f"SELECT {SUMMARY_COLUMNS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY seq {order} LIMIT ?"
    rows = db.execute(sql, (*args, limit)).fetchall()
    runs = [summary_from_row(r) for r in rows]
    return runs[::-1] if order == "ASC" else runs


def chain_runs(db: sqlite3.Connection, root_id: str, *, limit: int) -> list[ChainRun]:
    rows = db.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE root_id = ? ORDER BY seq LIMIT ?",
        (root_id, limit),
    ).fetchall()
    spans: dict[str, list[AttemptSpan]] = {}
    for a in db.execute(
        "SELECT a.run_id, a.attempt, a.status, a.started_at, a.completed_at FROM attempts a "
        "JOIN runs r ON r.id = a.run_id WHERE r.root_id = ? ORDER BY a.run_id, a.attempt",
        (root_id,),
    ).fetchall():
        started = from_ts(a["started_at"])
        assert started is not None
        spans.setdefault(a["run_id"], []).append(
            AttemptSpan(a["attempt"], a["status"], started, from_ts(a["completed_at"]))
        )
    return [ChainRun(summary_from_row(r), tuple(spans.get(r["id"], ()))) for r in rows]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def task_stats(db: sqlite3.Connection, *, since: datetime | None, sample: int) -> list[TaskStats]:
    low: int | None = None
    if since is not None:
        row = db.execute(
            "SELECT seq FROM runs WHERE created_at >= ? ORDER BY created_at LIMIT 1",
            (since.timestamp(),),
        ).fetchone()
        if row is None:
            return []
        low = row["seq"]
    window = "r.seq >= ?" if low is not None else "1 = 1"
    wargs: tuple[object, ...] = (low,) if low is not None else ()
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in db.execute(
        f"SELECT r.workflow, r.task_name, r.status, count(*) AS n FROM runs r WHERE {window} "
        "GROUP BY r.workflow, r.task_name, r.status",
        wargs,
    ).fetchall():
        counts.setdefault((r["workflow"], r["task_name"]), {})[r["status"]] = r["n"]
    compute: dict[tuple[str, str], tuple[int, float, dict[str, float]]] = {}
    for r in db.execute(
        "SELECT r.workflow, r.task_name, a.plan, count(*) AS n, sum(a.cpu_s) AS cpu, "
        "sum(a.completed_at - a.started_at) AS wall FROM attempts a JOIN runs r "
        f"ON r.id = a.run_id WHERE {window} AND a.completed_at IS NOT NULL "
        "GROUP BY r.workflow, r.task_name, a.plan",
        wargs,
    ).fetchall():
        n, cpu, plans = compute.get((r["workflow"], r["task_name"]), (0, 0.0, {}))
        plans[r["plan"] or "standard"] = plans.get(r["plan"] or "standard", 0.0) + (r["wall"] or 0)
        compute[(r["workflow"], r["task_name"])] = (n + r["n"], cpu + (r["cpu"] or 0.0), plans)
    out = []
    for (workflow, name), by_status in sorted(counts.items()):
        durations = [
            d["d"]
            for d in db.execute(
                f"SELECT r.completed_at - r.started_at AS d FROM runs r WHERE {window} "
                "AND r.workflow = ? AND r.task_name = ? AND r.status = 'completed' "
                "ORDER BY r.seq DESC LIMIT ?",
                (*wargs, workflow, name, sample),
            ).fetchall()
            if d["d"] is not None
        ]
        n, cpu, plans = compute.get((workflow, name), (0, 0.0, {}))
        out.append(
            TaskStats(
                workflow=workflow,
                task_name=name,
                by_status=by_status,
                p50_s=_percentile(durations, 0.5),
                p95_s=_percentile(durations, 0.95),
                attempts=n,
                cpu_s=cpu,
                plan_s=plans,
            )
        )
    return out
