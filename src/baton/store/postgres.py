"""``PostgresStore``: the multi-node backend (``postgresql://user@host:port/dbname``).

The same contract as ``SQLiteStore``, for several servers and workers sharing one database.
Every method is one short ``READ COMMITTED`` transaction on a connection from a small pool
(connections reconnect by themselves, see ``pg_conn``). Claims take
``FOR UPDATE SKIP LOCKED`` rows under one transaction-scoped advisory lock, so the global
concurrency limit holds across processes (``docs/postgres.md``). Writes that make work
claimable or end a run ``NOTIFY`` the other processes (``watch``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from baton.core.ids import new_id
from baton.core.models import (
    Claim,
    ErrorType,
    NewRun,
    Run,
    RunStatus,
    Task,
    TaskDef,
    WorkflowVersion,
)
from baton.errors import BatonError, InvalidTransition, RunNotFound, TaskNotFound
from baton.store import pg_queue as q
from baton.store.base import ChildCall, LogLine, Outcome, QueueStats, RunFilter
from baton.store.pending import PendingGauge
from baton.store.pg_conn import Cursor, PgConnection, migrate
from baton.store.pg_dashboard import PgDashboard
from baton.store.pg_durable import PgDurable, memoized_child
from baton.store.pg_listen import Listener
from baton.store.rows import (
    FINAL_STATUSES,
    from_ts,
    input_hash,
    log_rows,
    run_from_row,
    run_insert,
    storable,
    task_from_row,
    version_from_row,
)

IDEMPOTENCY_WINDOW_S = 24 * 3600
_COUNT_PENDING = "SELECT count(*) AS n FROM runs WHERE status = 'pending'"
T = TypeVar("T")


class PostgresStore(PgDurable, PgDashboard):
    """The ``Store`` on a PostgreSQL database (``postgresql://…`` or ``postgres://…``)."""

    offload_io = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = PgConnection(url)
        self._versions: dict[str, WorkflowVersion] = {}
        self._pending = PendingGauge()
        try:
            migrate(self._db)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    # workflows and tasks ----------------------------------------------------------------------

    def add_version(self, workflow: str, target: str, kind: str, code_dir: str) -> WorkflowVersion:
        now = time.time()
        vid = new_id("wfv")

        def body(cur: Cursor) -> WorkflowVersion:
            cur.execute(
                "INSERT INTO workflows (slug, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (workflow, now),
            )
            cur.execute(
                "INSERT INTO workflow_versions VALUES (%s, %s, %s, %s, %s, 'registering', NULL, "
                "%s) RETURNING *",
                (vid, workflow, target, kind, code_dir, now),
            )
            return version_from_row(cur.fetchone())

        return self._db.run(body)

    def register_tasks(self, version_id: str, tasks: Sequence[TaskDef]) -> list[Task]:
        now = time.time()

        def body(cur: Cursor) -> list[Task]:
            cur.execute("SELECT workflow FROM workflow_versions WHERE id = %s", (version_id,))
            row = cur.fetchone()
            if row is None:
                raise TaskNotFound(f"unknown workflow version {version_id}")
            rows = [
                (new_id("tsk"), row["workflow"], version_id, t.name, json.dumps(t.to_wire()), now)
                for t in tasks
            ]
            cur.executemany("INSERT INTO tasks VALUES (%s, %s, %s, %s, %s, %s)", rows)
            cur.execute(
                "UPDATE workflow_versions SET status = 'ready' WHERE id = %s", (version_id,)
            )
            cur.execute(
                "UPDATE workflows SET current_version_id = %s WHERE slug = %s",
                (version_id, row["workflow"]),
            )
            cur.execute("SELECT * FROM tasks WHERE version_id = %s", (version_id,))
            by_id = {r["id"]: task_from_row(r) for r in cur.fetchall()}
            return [by_id[r[0]] for r in rows]

        self._versions.pop(version_id, None)
        return self._db.run(body)

    def fail_version(self, version_id: str, error: str) -> None:
        self._db.run(
            lambda cur: cur.execute(
                "UPDATE workflow_versions SET status = 'registration_failed', error = %s "
                "WHERE id = %s",
                (error, version_id),
            )
        )
        self._versions.pop(version_id, None)

    def get_version(self, version_id: str) -> WorkflowVersion:
        cached = self._versions.get(version_id)
        if cached is not None:
            return cached
        row = self._one("SELECT * FROM workflow_versions WHERE id = %s", (version_id,))
        if row is None:
            raise TaskNotFound(f"unknown workflow version {version_id}")
        version = version_from_row(row)
        if version.status == "ready":
            self._versions[version_id] = version
        return version

    def get_task(self, workflow: str, name: str, version_id: str | None = None) -> Task:
        if version_id is None:
            row = self._one(
                "SELECT t.* FROM tasks t JOIN workflows w "
                "ON t.version_id = w.current_version_id WHERE w.slug = %s AND t.name = %s",
                (workflow, name),
            )
        else:
            row = self._one(
                "SELECT * FROM tasks WHERE version_id = %s AND name = %s AND workflow = %s",
                (version_id, name, workflow),
            )
        if row is None:
            raise TaskNotFound(f"task not found: {workflow}/{name}")
        return task_from_row(row)

    def list_tasks(self, workflow: str | None = None) -> list[Task]:
        # A version's tasks share created_at; ids made by one process sort in creation order.
        sql = "SELECT t.* FROM tasks t JOIN workflows w ON t.version_id = w.current_version_id"
        args: tuple[str, ...] = ()
        if workflow is not None:
            sql += " WHERE w.slug = %s"
            args = (workflow,)
        rows = self._all(sql + " ORDER BY t.workflow, t.created_at, t.id", args)
        return [task_from_row(r) for r in rows]

    # runs -------------------------------------------------------------------------------------

    @staticmethod
    def _insert_run(cur: Cursor, new: NewRun, now: float) -> None:
        cur.execute(*run_insert(new, now, "%s"))

    def enqueue(self, new: NewRun, *, max_pending: int | None = None) -> tuple[Run, bool]:
        now = time.time()
        if new.idempotency_key is None:
            self._pending.check(max_pending, lambda: self._one(_COUNT_PENDING, ()))
            # One round trip: insert, read back and notify in one statement (autocommit).
            sql, values = run_insert(new, now, "%s")
            row = self._one(
                f"WITH r AS ({sql} ON CONFLICT (id) DO NOTHING RETURNING *) "
                f"SELECT r.*, pg_notify('{q.WORK_CHANNEL}', '') FROM r",
                values,
            )
            self._pending.added()
            # No row: the statement was sent again after a lost connection and had already run.
            return (run_from_row(row) if row else self.get_run(new.id)), True

        def body(cur: Cursor) -> tuple[Run, bool]:
            # Two servers enqueueing one key at once: the second waits, then finds the first.
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"{new.task.workflow}\x1f{new.idempotency_key}",),
            )
            cur.execute(
                "SELECT id FROM runs WHERE workflow = %s AND idempotency_key = %s "
                "AND created_at > %s ORDER BY seq LIMIT 1",
                (new.task.workflow, new.idempotency_key, now - IDEMPOTENCY_WINDOW_S),
            )
            row = cur.fetchone()
            if row is not None:
                return q.load_runs(cur, [row["id"]])[0], False
            self._pending.check(max_pending, lambda: cur.execute(_COUNT_PENDING).fetchone())
            self._insert_run(cur, new, now)
            q.notify_work(cur)
            return q.load_runs(cur, [new.id])[0], True

        run, created = self._db.run(body)
        if created:
            self._pending.added()
        return run, created

    def create_child(
        self, parent_id: str, parent_attempt: int, call: ChildCall, new: NewRun
    ) -> tuple[Run, bool]:
        now = time.time()

        def body(cur: Cursor) -> tuple[Run, bool]:
            # The parent's row lock orders concurrent calls of one parent and a cancel.
            cur.execute("SELECT status FROM runs WHERE id = %s FOR UPDATE", (parent_id,))
            parent = cur.fetchone()
            if call.idempotency_key is not None:
                cur.execute(
                    "SELECT child_id FROM calls WHERE parent_id = %s AND idempotency_key = %s "
                    "AND created_key IS NOT DISTINCT FROM %s",
                    (parent_id, call.idempotency_key, call.created_key),
                )
                row = cur.fetchone()
                if row is not None:
                    return q.load_runs(cur, [row["child_id"]])[0], False
            if parent is None:
                raise RunNotFound(f"task run {parent_id} not found")
            if parent["status"] != "running":
                raise InvalidTransition(
                    f"task run {parent_id} is {parent['status']}; it cannot start children"
                )
            index = call.call_index
            if index is None:
                cur.execute(
                    "SELECT count(*) AS n FROM calls WHERE parent_id = %s AND parent_attempt = %s",
                    (parent_id, parent_attempt),
                )
                index = cur.fetchone()["n"]
            digest = input_hash(call.input)
            child_id = (
                memoized_child(cur, parent_id, parent_attempt, index, call.task_name, digest)
                if call.memoize and parent_attempt > 0
                else None
            )
            created = child_id is None
            if child_id is None:
                self._insert_run(cur, new, now)
                child_id = new.id
                q.notify_work(cur)
            cur.execute(
                "INSERT INTO calls VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    parent_id,
                    parent_attempt,
                    index,
                    call.task_name,
                    digest,
                    call.idempotency_key,
                    call.created_key,
                    child_id,
                ),
            )
            return q.load_runs(cur, [child_id])[0], created

        return self._db.run(body)

    def get_run(self, run_id: str, *, attempts: bool = True) -> Run:
        if attempts:
            runs = q.runs_from_rows(self._all(q.RUNS_WITH_ATTEMPTS, ([run_id],)), [run_id])
        else:
            row = self._one("SELECT * FROM runs WHERE id = %s", (run_id,))
            runs = [] if row is None else [run_from_row(row)]
        if not runs:
            raise RunNotFound(f"task run {run_id} not found")
        return runs[0]

    def final_ids(self, run_ids: Sequence[str]) -> list[str]:
        if not run_ids:
            return []
        rows = self._all(
            f"SELECT id FROM runs WHERE id = ANY(%s) AND status IN {FINAL_STATUSES}",
            (list(run_ids),),
        )
        return [r["id"] for r in rows]

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        if not run_ids:
            return []
        ids = list(run_ids)
        return q.runs_from_rows(self._all(q.RUNS_WITH_ATTEMPTS, (ids,)), ids)

    def list_runs(
        self, flt: RunFilter, *, limit: int, cursor: int | None = None
    ) -> list[tuple[Run, int]]:
        where: list[str] = []
        args: list[object] = []
        if cursor is not None:
            where.append("seq < %s")
            args.append(cursor)
        for column, values in (
            ("workflow", flt.workflow),
            ("status", [str(s) for s in flt.status]),
            ("root_id", flt.root_id),
            ("parent_id", flt.parent_id),
        ):
            if values:
                where.append(f"{column} = ANY(%s)")
                args.append(list(values))
        if flt.task_slug:
            parts = []
            for slug in flt.task_slug:
                workflow, _, name = slug.partition("/")
                parts.append("(workflow = %s AND task_name = %s)")
                args.extend([workflow, name.partition(":")[0]])
            where.append("(" + " OR ".join(parts) + ")")
        if flt.roots_only:
            where.append("parent_id IS NULL")
        sql = "SELECT id, seq FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT %s"
        args.append(limit)

        def body(cur: Cursor) -> list[tuple[Run, int]]:
            cur.execute(sql, args)
            seqs = {r["id"]: r["seq"] for r in cur.fetchall()}
            return [(run, seqs[run.id]) for run in q.load_runs(cur, list(seqs))]

        return self._db.run(body)

    def children(self, run_id: str) -> list[Run]:
        def body(cur: Cursor) -> list[Run]:
            cur.execute("SELECT id FROM runs WHERE parent_id = %s ORDER BY seq", (run_id,))
            return q.load_runs(cur, [r["id"] for r in cur.fetchall()])

        return self._db.run(body)

    # the queue --------------------------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        slots: int,
        *,
        limit: int,
        lease_s: float,
        now: datetime,
        plans: Sequence[str] | None = None,
    ) -> list[Claim]:
        ts = now.timestamp()

        runs = self._db.run(
            lambda cur: q.claim_rows(
                cur, worker_id, slots, limit=limit, lease_s=lease_s, ts=ts, plans=plans
            )
        )
        expires = now + timedelta(seconds=lease_s)
        return [
            Claim(
                run=run,
                attempt=run.attempt_count - 1,
                worker_id=worker_id,
                lease_expires_at=expires,
                version=self.get_version(run.version_id),
            )
            for run in runs
        ]

    def attempt_started(
        self, run_id: str, attempt: int, pid: int, timings: dict[str, float] | None = None
    ) -> None:
        self._write(
            # merged: the attempt's /input may have recorded timings already
            "UPDATE attempts SET pid = %s, timings = CASE WHEN %s::text IS NULL THEN timings "
            "ELSE (COALESCE(timings, '{}')::jsonb || %s::jsonb)::text END "
            "WHERE run_id = %s AND attempt = %s",
            (pid, *([json.dumps(timings) if timings else None] * 2), run_id, attempt),
        )

    def set_waiting(self, run_id: str, attempt: int, waiting: bool) -> None:
        def body(cur: Cursor) -> None:
            cur.execute(
                "UPDATE attempts SET waiting = %s WHERE run_id = %s AND attempt = %s "
                "AND status = 'running'",
                (int(waiting), run_id, attempt),
            )
            if waiting:
                q.notify_work(cur)  # a slot is free for some other worker

        self._db.run(body)

    def record_timings(self, run_id: str, attempt: int, timings: dict[str, float]) -> None:
        self._write(  # one statement: the merge happens under the row's lock
            "UPDATE attempts SET timings = (COALESCE(timings, '{}')::jsonb || %s::jsonb)::text "
            "WHERE run_id = %s AND attempt = %s",
            (json.dumps(timings), run_id, attempt),
        )

    def heartbeat(self, worker_id: str, *, lease_s: float, now: datetime) -> list[tuple[str, int]]:
        expires = now.timestamp() + lease_s
        return self._db.run(lambda cur: q.renew(cur, worker_id, expires))

    def finish_attempt(
        self, run_id: str, attempt: int, worker_id: str, outcome: Outcome, *, now: datetime
    ) -> Run | None:
        ts, outcome = now.timestamp(), storable(outcome)
        return self._db.run(
            lambda cur: q.finish_owned(cur, run_id, attempt, worker_id, outcome, ts)
        )

    def batch(self, items: Sequence[Callable[[], T]]) -> list[T | BatonError]:
        return self._db.run_each(items)

    def update_attempt_exit(
        self,
        run_id: str,
        attempt: int,
        *,
        exit_code: int | None,
        peak_rss_kb: int | None,
        cpu_s: float | None,
    ) -> None:
        self._write(
            "UPDATE attempts SET exit_code = %s, peak_rss_kb = %s, cpu_s = %s "
            "WHERE run_id = %s AND attempt = %s",
            (exit_code, peak_rss_kb, cpu_s, run_id, attempt),
        )

    def expire_leases(self, *, now: datetime) -> list[Run]:
        lost = Outcome(
            ok=False,
            error="the worker running this attempt stopped renewing its lease",
            error_type=ErrorType.LEASE_EXPIRED,
        )

        def body(cur: Cursor) -> list[Run]:
            changed = q.expire(cur, lost, now.timestamp())
            if not changed:
                return []
            q.notify(
                cur, final=[(rid, s) for rid, s in changed if RunStatus(s).is_final], work=True
            )
            return q.load_runs(cur, [rid for rid, _ in changed])

        return self._db.run(body)

    def cancel(self, root_id: str, *, now: datetime) -> list[Run]:
        def body(cur: Cursor) -> list[Run]:
            cur.execute(
                "SELECT status, parent_id, root_id FROM runs WHERE id = %s FOR UPDATE",
                (root_id,),
            )
            row = cur.fetchone()
            if row is None:
                raise RunNotFound(f"task run {root_id} not found")
            if row["parent_id"] is not None:
                raise InvalidTransition(
                    f"task run {root_id} is a subtask; cancel its root {row['root_id']} instead"
                )
            if RunStatus(row["status"]).is_final:
                raise InvalidTransition(f"task run {root_id} already {row['status']}")
            ids = q.cancel_tree(cur, root_id, now.timestamp(), ErrorType.CANCELED)
            q.notify(cur, final=[(rid, RunStatus.CANCELED) for rid in ids], work=True)
            return q.load_runs(cur, ids)

        return self._db.run(body)

    def next_due(self, *, now: datetime) -> datetime | None:
        row = self._one(
            "SELECT min(not_before) AS due FROM runs WHERE status = 'pending' AND not_before > %s",
            (now.timestamp(),),
        )
        return from_ts(row["due"] if row else None)

    def queue_stats(self) -> QueueStats:
        def body(cur: Cursor) -> tuple[dict[str, int], int]:
            cur.execute("SELECT status, count(*) AS n FROM runs GROUP BY status")
            by_status = {r["status"]: r["n"] for r in cur.fetchall()}
            cur.execute(
                "SELECT count(*) AS n FROM attempts WHERE status = 'running' AND waiting = 1"
            )
            return by_status, cur.fetchone()["n"]

        by_status, waiting = self._db.run(body)
        return QueueStats(
            pending=by_status.get("pending", 0),
            running=by_status.get("running", 0),
            waiting=waiting,
            by_status=by_status,
        )

    # logs -------------------------------------------------------------------------------------

    def append_logs(self, run_id: str, attempt: int, lines: Sequence[tuple[str, str]]) -> None:
        if not lines:
            return
        ts = time.time()
        self._db.run(
            lambda cur: cur.executemany(
                "INSERT INTO logs (run_id, attempt, stream, at, line) VALUES (%s, %s, %s, %s, %s)",
                log_rows(run_id, attempt, ts, lines),
            )
        )

    def get_logs(
        self, run_id: str, *, attempt: int | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogLine]:
        sql = "SELECT * FROM logs WHERE run_id = %s AND seq > %s"
        args: list[Any] = [run_id, after]
        if attempt is not None:
            sql += " AND attempt = %s"
            args.append(attempt)
        rows = self._all(sql + " ORDER BY seq LIMIT %s", (*args, limit))
        return [
            LogLine(
                seq=r["seq"],
                run_id=r["run_id"],
                attempt=r["attempt"],
                stream=r["stream"],
                at=from_ts(r["at"]),  # type: ignore[arg-type]
                line=r["line"],
            )
            for r in rows
        ]

    # tokens -----------------------------------------------------------------------------------

    def add_token(self, name: str, token_hash: str) -> str:
        tid = new_id("tok")
        self._write(
            "INSERT INTO api_tokens VALUES (%s, %s, %s, %s)", (tid, name, token_hash, time.time())
        )
        return tid

    def has_token(self, token_hash: str) -> bool:
        return (
            self._one("SELECT 1 FROM api_tokens WHERE token_hash = %s", (token_hash,)) is not None
        )

    def count_tokens(self) -> int:
        row = self._one("SELECT count(*) AS n FROM api_tokens", ())
        return int(row["n"]) if row else 0

    # bundles (remote workers: code distribution) ----------------------------------------------

    def put_bundle(self, digest: str, data: bytes) -> None:
        self._write(
            "INSERT INTO bundles (digest, size, data, created_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (digest) DO NOTHING",
            (digest, len(data), data, time.time()),
        )

    def get_bundle(self, digest: str) -> bytes | None:
        row = self._one("SELECT data FROM bundles WHERE digest = %s", (digest,))
        return bytes(row["data"]) if row is not None else None

    # cross-process notifications --------------------------------------------------------------

    def watch(
        self, on_work: Callable[[], None], on_final: Callable[[str, RunStatus], None]
    ) -> Callable[[], None]:
        """Deliver other processes' ``NOTIFY``s from a background thread (see ``Store``)."""
        listener = Listener(self.url, on_work, on_final, lambda: self._db.backend_pids)
        listener.start()
        return listener.stop

    # plumbing ---------------------------------------------------------------------------------

    def _one(self, sql: str, args: Sequence[object]) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self._db.statement(sql, args, "one")
        return row

    def _all(self, sql: str, args: Sequence[object]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._db.statement(sql, args, "all")
        return rows

    def _write(self, sql: str, args: Sequence[object]) -> None:
        self._db.statement(sql, args)


__all__ = ["PostgresStore"]
