"""The dashboard's read queries on PostgreSQL (``docs/dashboard.md``): ``PostgresStore``'s
dashboard methods, one read transaction each.

The same keyset paging on ``runs.seq`` and the same indexes as ``sqlite_dashboard`` (migration
0003); run id prefixes compare byte-wise (``COLLATE "C"``, index ``runs_id_prefix``) as on
SQLite, whatever the database's collation.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from baton.store.base import AttemptSpan, ChainRun, RunQuery, RunSummary, TaskStats
from baton.store.dashboard_rows import (
    SUMMARY_COLUMNS,
    build_task_stats,
    prefix_end,
    summary_from_row,
)
from baton.store.pg_conn import Cursor, PgConnection
from baton.store.rows import from_ts


def _seq_at(cur: Cursor, sql: str, at: datetime) -> int | None:
    cur.execute(sql, (at.timestamp(),))
    row = cur.fetchone()
    return None if row is None else int(row["seq"])


def _where(cur: Cursor, query: RunQuery) -> tuple[list[str], list[object]]:
    where: list[str] = []
    args: list[object] = []
    if query.workflow:
        where.append("workflow = %s")
        args.append(query.workflow)
    if query.task_name:
        where.append("task_name = %s")
        args.append(query.task_name)
    if query.status:
        where.append("status = ANY(%s::text[])")
        args.append([str(s) for s in query.status])
    if query.id_prefix:
        where.append('id COLLATE "C" >= %s AND id COLLATE "C" < %s')
        args.extend([query.id_prefix, prefix_end(query.id_prefix)])
    if query.roots_only:
        where.append("parent_id IS NULL")
    # Time windows become seq bounds (seq grows with created_at), read through runs_created.
    if query.created_after is not None:
        low = _seq_at(
            cur,
            "SELECT seq FROM runs WHERE created_at >= %s ORDER BY created_at LIMIT 1",
            query.created_after,
        )
        where.append("seq >= %s AND created_at >= %s")
        args.extend([-1 if low is None else low, query.created_after.timestamp()])
    if query.created_before is not None:
        high = _seq_at(
            cur,
            "SELECT seq FROM runs WHERE created_at < %s ORDER BY created_at DESC LIMIT 1",
            query.created_before,
        )
        where.append("seq <= %s AND created_at < %s")
        args.extend([0 if high is None else high, query.created_before.timestamp()])
    return where, args


def _search(
    cur: Cursor, query: RunQuery, limit: int, before_seq: int | None, after_seq: int | None
) -> list[RunSummary]:
    where, args = _where(cur, query)
    if before_seq is not None:
        where.append("seq < %s")
        args.append(before_seq)
    order = "DESC"
    if after_seq is not None:
        where.append("seq > %s")
        args.append(after_seq)
        order = "ASC"  # the nearest newer runs, reversed below
    sql = f"SELECT {SUMMARY_COLUMNS} FROM runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    cur.execute(sql + f" ORDER BY seq {order} LIMIT %s", (*args, limit))
    runs = [summary_from_row(r) for r in cur.fetchall()]
    return runs[::-1] if order == "ASC" else runs


def _chain(cur: Cursor, root_id: str, limit: int) -> list[ChainRun]:
    cur.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE root_id = %s ORDER BY seq LIMIT %s",
        (root_id, limit),
    )
    rows = cur.fetchall()
    cur.execute(
        "SELECT a.run_id, a.attempt, a.status, a.started_at, a.completed_at FROM attempts a "
        "JOIN runs r ON r.id = a.run_id WHERE r.root_id = %s ORDER BY a.run_id, a.attempt",
        (root_id,),
    )
    spans: dict[str, list[AttemptSpan]] = {}
    for a in cur.fetchall():
        started = from_ts(a["started_at"])
        assert started is not None
        spans.setdefault(a["run_id"], []).append(
            AttemptSpan(a["attempt"], a["status"], started, from_ts(a["completed_at"]))
        )
    return [ChainRun(summary_from_row(r), tuple(spans.get(r["id"], ()))) for r in rows]


def _stats(cur: Cursor, since: datetime | None, sample: int) -> list[TaskStats]:
    window = "TRUE"
    wargs: tuple[object, ...] = ()
    if since is not None:
        low = _seq_at(
            cur, "SELECT seq FROM runs WHERE created_at >= %s ORDER BY created_at LIMIT 1", since
        )
        if low is None:
            return []
        window, wargs = "r.seq >= %s", (low,)
    cur.execute(
        f"SELECT r.workflow, r.task_name, r.status, count(*) AS n FROM runs r WHERE {window} "
        "GROUP BY r.workflow, r.task_name, r.status",
        wargs,
    )
    counts = cur.fetchall()
    cur.execute(
        "SELECT r.workflow, r.task_name, a.plan, count(*) AS n, sum(a.cpu_s) AS cpu, "
        "sum(a.completed_at - a.started_at) AS wall FROM attempts a JOIN runs r "
        f"ON r.id = a.run_id WHERE {window} AND a.completed_at IS NOT NULL "
        "GROUP BY r.workflow, r.task_name, a.plan",
        wargs,
    )
    compute = cur.fetchall()

    def durations(workflow: str, name: str) -> list[float]:
        cur.execute(
            f"SELECT r.completed_at - r.started_at AS d FROM runs r WHERE {window} "
            "AND r.workflow = %s AND r.task_name = %s AND r.status = 'completed' "
            "ORDER BY r.seq DESC LIMIT %s",
            (*wargs, workflow, name, sample),
        )
        return [d["d"] for d in cur.fetchall() if d["d"] is not None]

    return build_task_stats(counts, compute, durations)


class PgDashboard:
    """``PostgresStore``'s dashboard read models (see ``RunQuery`` and friends)."""

    if TYPE_CHECKING:  # provided by PostgresStore
        _db: PgConnection

    def search_runs(
        self,
        query: RunQuery,
        *,
        limit: int,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> list[RunSummary]:
        return self._db.run(lambda cur: _search(cur, query, limit, before_seq, after_seq))

    def chain_runs(self, root_id: str, *, limit: int) -> list[ChainRun]:
        return self._db.run(lambda cur: _chain(cur, root_id, limit))

    def task_stats(self, *, since: datetime | None, sample: int = 2000) -> list[TaskStats]:
        return self._db.run(lambda cur: _stats(cur, since, sample))
