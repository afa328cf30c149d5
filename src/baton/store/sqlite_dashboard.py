"""The dashboard's read queries on SQLite (``SQLiteStore`` delegates its dashboard methods).

Every list is keyset-paged on ``runs.seq`` and reads through an index of migration 0003, so a
page costs the same with a thousand runs or a million. The SQL is kept portable (no SQLite
functions) so the PostgreSQL backend can reuse it with its own placeholders.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from baton.store.base import AttemptSpan, ChainRun, RunQuery, RunSummary, TaskStats
from baton.store.dashboard_rows import (
    SUMMARY_COLUMNS,
    build_task_stats,
    prefix_end,
    summary_from_row,
)
from baton.store.rows import from_ts


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
        args.extend([query.id_prefix, prefix_end(query.id_prefix)])
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
    counts = db.execute(
        f"SELECT r.workflow, r.task_name, r.status, count(*) AS n FROM runs r WHERE {window} "
        "GROUP BY r.workflow, r.task_name, r.status",
        wargs,
    ).fetchall()
    compute = db.execute(
        "SELECT r.workflow, r.task_name, a.plan, count(*) AS n, sum(a.cpu_s) AS cpu, "
        "sum(a.completed_at - a.started_at) AS wall FROM attempts a JOIN runs r "
        f"ON r.id = a.run_id WHERE {window} AND a.completed_at IS NOT NULL "
        "GROUP BY r.workflow, r.task_name, a.plan",
        wargs,
    ).fetchall()

    def durations(workflow: str, name: str) -> list[float]:
        rows = db.execute(
            f"SELECT r.completed_at - r.started_at AS d FROM runs r WHERE {window} "
            "AND r.workflow = ? AND r.task_name = ? AND r.status = 'completed' "
            "ORDER BY r.seq DESC LIMIT ?",
            (*wargs, workflow, name, sample),
        ).fetchall()
        return [d["d"] for d in rows if d["d"] is not None]

    return build_task_stats(counts, compute, durations)
