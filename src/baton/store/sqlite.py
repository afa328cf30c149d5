"""``SQLiteStore``: the embedded backend (one WAL file, one writer at a time).

Every write is one ``BEGIN IMMEDIATE`` transaction (the writes inside ``batch`` share one), so
two processes sharing the file never claim the same run. Calls are serialised on one
connection by a lock; each is sub-millisecond, so the event loop calls them directly.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
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
from baton.core.retry import next_retry_delay_s
from baton.errors import (
    BatonError,
    InvalidTransition,
    RunNotFound,
    StoreUnavailable,
    TaskNotFound,
)
from baton.store import sqlite_dashboard
from baton.store.base import (  # dashboard
    ChainRun,
    ChildCall,
    LogLine,
    Outcome,
    QueueStats,
    RunFilter,
    RunQuery,
    RunSummary,
    TaskStats,
)
from baton.store.migrate import migration_scripts
from baton.store.pending import PendingGauge
from baton.store.rows import (
    FINAL_STATUSES,
    attempt_from_row,
    end_attempt_sql,
    end_values,
    from_ts,
    input_hash,
    log_rows,
    run_from_row,
    run_insert,
    storable,
    task_from_row,
    version_from_row,
    with_savepoints,
)
from baton.store.sqlite_durable import (
    SQLiteDurable,
    cancel_tree,
    claimable,
    escalate_plan,
    memoized_child,
    queue_paused,
)

IDEMPOTENCY_WINDOW_S = 24 * 3600
_COUNT_PENDING = "SELECT count(*) AS n FROM runs WHERE status = 'pending'"
_END_ATTEMPT = end_attempt_sql("json_patch(COALESCE(timings, '{}'), ?)")
T = TypeVar("T")


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


class SQLiteStore(SQLiteDurable):
    """The ``Store`` on a SQLite file (``sqlite:///path/to/baton.db``)."""

    offload_io = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._lock = threading.RLock()
        self._pending = PendingGauge()
        self._batching = False  # guarded by _lock
        self._versions: dict[str, WorkflowVersion] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.row_factory = _dict_row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc

    # plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._batching:  # inside batch(): its transaction (and item savepoint) it is
                try:
                    yield self._db
                except sqlite3.Error as exc:
                    raise StoreUnavailable(f"SQLite error: {exc}") from exc
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite error: {exc}") from exc

    def batch(self, items: Sequence[Callable[[], T]]) -> list[T | BatonError]:
        if not items:
            return []
        with self._tx() as db:
            outer, self._batching = self._batching, True
            try:
                out = with_savepoints(db.execute, items)
            finally:
                self._batching = outer
        return out

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite error: {exc}") from exc

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            done = {r["version"] for r in self._db.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migration_scripts("sqlite"):
                if version in done:
                    continue
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in sql.split(";\n"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        (version, name, time.time()),
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")

    # workflows and tasks ----------------------------------------------------------------------

    def add_version(self, workflow: str, target: str, kind: str, code_dir: str) -> WorkflowVersion:
        now = time.time()
        vid = new_id("wfv")
        with self._tx() as db:
            db.execute(
                "INSERT INTO workflows (slug, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (workflow, now),
            )
            db.execute(
                "INSERT INTO workflow_versions VALUES (?, ?, ?, ?, ?, 'registering', NULL, ?)",
                (vid, workflow, target, kind, code_dir, now),
            )
        return self.get_version(vid)

    def register_tasks(self, version_id: str, tasks: Sequence[TaskDef]) -> list[Task]:
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT workflow FROM workflow_versions WHERE id = ?", (version_id,)
            ).fetchone()
            if row is None:
                raise TaskNotFound(f"unknown workflow version {version_id}")
            for task in tasks:
                db.execute(
                    "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        new_id("tsk"),
                        row["workflow"],
                        version_id,
                        task.name,
                        json.dumps(task.to_wire()),
                        now,
                    ),
                )
            db.execute("UPDATE workflow_versions SET status = 'ready' WHERE id = ?", (version_id,))
            db.execute(
                "UPDATE workflows SET current_version_id = ? WHERE slug = ?",
                (version_id, row["workflow"]),
            )
        self._versions.pop(version_id, None)
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM tasks WHERE version_id = ? ORDER BY rowid", (version_id,)
            ).fetchall()
        return [task_from_row(r) for r in rows]

    def fail_version(self, version_id: str, error: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE workflow_versions SET status = 'registration_failed', error = ? "
                "WHERE id = ?",
                (error, version_id),
            )
        self._versions.pop(version_id, None)

    def get_version(self, version_id: str) -> WorkflowVersion:
        cached = self._versions.get(version_id)
        if cached is not None:
            return cached
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM workflow_versions WHERE id = ?", (version_id,)
            ).fetchone()
        if row is None:
            raise TaskNotFound(f"unknown workflow version {version_id}")
        version = version_from_row(row)
        if version.status == "ready":
            self._versions[version_id] = version
        return version

    def get_task(self, workflow: str, name: str, version_id: str | None = None) -> Task:
        with self._read() as db:
            if version_id is None:
                row = db.execute(
                    "SELECT t.* FROM tasks t JOIN workflows w "
                    "ON t.version_id = w.current_version_id WHERE w.slug = ? AND t.name = ?",
                    (workflow, name),
                ).fetchone()
            else:
                row = db.execute(
                    "SELECT * FROM tasks WHERE version_id = ? AND name = ? AND workflow = ?",
                    (version_id, name, workflow),
                ).fetchone()
        if row is None:
            raise TaskNotFound(f"task not found: {workflow}/{name}")
        return task_from_row(row)

    def list_tasks(self, workflow: str | None = None) -> list[Task]:
        sql = "SELECT t.* FROM tasks t JOIN workflows w ON t.version_id = w.current_version_id"
        args: tuple[str, ...] = ()
        if workflow is not None:
            sql += " WHERE w.slug = ?"
            args = (workflow,)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY t.workflow, t.rowid", args).fetchall()
        return [task_from_row(r) for r in rows]

    # runs -------------------------------------------------------------------------------------

    def _insert_run(self, db: sqlite3.Connection, new: NewRun, now: float) -> None:
        db.execute(*run_insert(new, now, "?"))

    def enqueue(self, new: NewRun, *, max_pending: int | None = None) -> tuple[Run, bool]:
        now = time.time()
        with self._tx() as db:
            if new.idempotency_key is not None:
                row = db.execute(
                    "SELECT id FROM runs WHERE workflow = ? AND idempotency_key = ? "
                    "AND created_at > ? ORDER BY seq LIMIT 1",
                    (new.task.workflow, new.idempotency_key, now - IDEMPOTENCY_WINDOW_S),
                ).fetchone()
                if row is not None:
                    existing = row["id"]
                    new = None  # type: ignore[assignment]
            if new is not None:
                self._pending.check(max_pending, lambda: db.execute(_COUNT_PENDING).fetchone())
                sql, values = run_insert(new, now, "?")
                inserted = db.execute(sql + " RETURNING *", values).fetchone()
                self._pending.added()
        if new is None:
            return self.get_run(existing), False
        return run_from_row(inserted), True

    def create_child(
        self, parent_id: str, parent_attempt: int, call: ChildCall, new: NewRun
    ) -> tuple[Run, bool]:
        now = time.time()
        with self._tx() as db:
            if call.idempotency_key is not None:
                row = db.execute(
                    "SELECT child_id FROM calls WHERE parent_id = ? AND idempotency_key = ? "
                    "AND created_key IS ?",
                    (parent_id, call.idempotency_key, call.created_key),
                ).fetchone()
                if row is not None:
                    return self.get_run(row["child_id"]), False
            parent = db.execute("SELECT status FROM runs WHERE id = ?", (parent_id,)).fetchone()
            if parent is None:
                raise RunNotFound(f"task run {parent_id} not found")
            if parent["status"] != "running":
                raise InvalidTransition(
                    f"task run {parent_id} is {parent['status']}; it cannot start children"
                )
            index = call.call_index
            if index is None:
                (index,) = (
                    db.execute(
                        "SELECT count(*) FROM calls WHERE parent_id = ? AND parent_attempt = ?",
                        (parent_id, parent_attempt),
                    )
                    .fetchone()
                    .values()
                )
            digest = input_hash(call.input)
            child_id = (
                memoized_child(db, parent_id, parent_attempt, index, call.task_name, digest)
                if call.memoize and parent_attempt > 0
                else None
            )
            created = child_id is None
            if child_id is None:
                self._insert_run(db, new, now)
                child_id = new.id
            db.execute(
                "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        return self.get_run(child_id), created

    def get_run(self, run_id: str, *, attempts: bool = True) -> Run:
        with self._read() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(f"task run {run_id} not found")
            rows = (
                db.execute(
                    "SELECT * FROM attempts WHERE run_id = ? ORDER BY attempt", (run_id,)
                ).fetchall()
                if attempts
                else []
            )
        return run_from_row(row, tuple(attempt_from_row(a) for a in rows))

    def final_ids(self, run_ids: Sequence[str]) -> list[str]:
        if not run_ids:
            return []
        marks = ",".join("?" * len(run_ids))
        with self._read() as db:
            rows = db.execute(
                f"SELECT id FROM runs WHERE id IN ({marks}) AND status IN {FINAL_STATUSES}",
                tuple(run_ids),
            ).fetchall()
        return [r["id"] for r in rows]

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        if not run_ids:
            return []
        marks = ",".join("?" * len(run_ids))
        with self._read() as db:
            rows = db.execute(f"SELECT * FROM runs WHERE id IN ({marks})", tuple(run_ids))
            runs = {r["id"]: r for r in rows.fetchall()}
            arows = db.execute(
                f"SELECT * FROM attempts WHERE run_id IN ({marks}) ORDER BY attempt",
                tuple(run_ids),
            ).fetchall()
        by_run: dict[str, list[Any]] = {}
        for a in arows:
            by_run.setdefault(a["run_id"], []).append(attempt_from_row(a))
        return [run_from_row(runs[i], tuple(by_run.get(i, ()))) for i in run_ids if i in runs]

    def list_runs(
        self, flt: RunFilter, *, limit: int, cursor: int | None = None
    ) -> list[tuple[Run, int]]:
        where: list[str] = []
        args: list[object] = []
        if cursor is not None:
            where.append("seq < ?")
            args.append(cursor)
        for column, values in (
            ("workflow", flt.workflow),
            ("status", [str(s) for s in flt.status]),
            ("root_id", flt.root_id),
            ("parent_id", flt.parent_id),
        ):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        if flt.task_slug:
            parts = []
            for slug in flt.task_slug:
                workflow, _, name = slug.partition("/")
                parts.append("(workflow = ? AND task_name = ?)")
                args.extend([workflow, name.partition(":")[0]])
            where.append("(" + " OR ".join(parts) + ")")
        if flt.roots_only:
            where.append("parent_id IS NULL")
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
            ids = [r["id"] for r in rows]
        full = {r.id: r for r in self.get_runs(ids)}
        return [(full[r["id"]], r["seq"]) for r in rows if r["id"] in full]

    def children(self, run_id: str) -> list[Run]:
        with self._read() as db:
            ids = [
                r["id"]
                for r in db.execute(
                    "SELECT id FROM runs WHERE parent_id = ? ORDER BY seq", (run_id,)
                ).fetchall()
            ]
        return self.get_runs(ids)

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
        claimed: list[tuple[str, int]] = []
        with self._tx() as db:
            if queue_paused(db):
                return []
            (busy,) = (
                db.execute("SELECT count(*) FROM attempts WHERE status = 'running' AND waiting = 0")
                .fetchone()
                .values()
            )
            n = min(slots, limit - busy)
            if n <= 0:
                return []
            for r in claimable(db, ts, n, plans):
                db.execute(
                    "UPDATE runs SET status = 'running', attempt_count = attempt_count + 1, "
                    "started_at = COALESCE(started_at, ?), not_before = NULL WHERE id = ?",
                    (ts, r["id"]),
                )
                db.execute(
                    "INSERT INTO attempts (run_id, attempt, status, worker_id, "
                    "lease_expires_at, plan, started_at) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                    (r["id"], r["attempt_count"], worker_id, ts + lease_s, r["plan"], ts),
                )
                claimed.append((r["id"], r["attempt_count"]))
        if not claimed:
            return []
        runs = {r.id: r for r in self.get_runs([c[0] for c in claimed])}
        expires = now + timedelta(seconds=lease_s)
        return [
            Claim(
                run=runs[run_id],
                attempt=attempt,
                worker_id=worker_id,
                lease_expires_at=expires,
                version=self.get_version(runs[run_id].version_id),
            )
            for run_id, attempt in claimed
        ]

    def attempt_started(
        self, run_id: str, attempt: int, pid: int, timings: dict[str, float] | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                # json_patch merges: the attempt's /input may have recorded timings already
                "UPDATE attempts SET pid = ?, "
                "timings = CASE WHEN ? IS NULL THEN timings "
                "ELSE json_patch(COALESCE(timings, '{}'), ?) END "
                "WHERE run_id = ? AND attempt = ?",
                (pid, *([json.dumps(timings) if timings else None] * 2), run_id, attempt),
            )

    def set_waiting(self, run_id: str, attempt: int, waiting: bool) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET waiting = ? WHERE run_id = ? AND attempt = ? "
                "AND status = 'running'",
                (int(waiting), run_id, attempt),
            )

    def record_timings(self, run_id: str, attempt: int, timings: dict[str, float]) -> None:
        with self._tx() as db:
            row = db.execute(
                "SELECT timings FROM attempts WHERE run_id = ? AND attempt = ?", (run_id, attempt)
            ).fetchone()
            if row is None:
                return
            merged = {**json.loads(row["timings"] or "{}"), **timings}
            db.execute(
                "UPDATE attempts SET timings = ? WHERE run_id = ? AND attempt = ?",
                (json.dumps(merged), run_id, attempt),
            )

    def heartbeat(self, worker_id: str, *, lease_s: float, now: datetime) -> list[tuple[str, int]]:
        ts = now.timestamp()
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET lease_expires_at = ? WHERE worker_id = ? "
                "AND status = 'running'",
                (ts + lease_s, worker_id),
            )
            rows = db.execute(
                "SELECT run_id, attempt FROM attempts WHERE worker_id = ? AND status = 'running'",
                (worker_id,),
            ).fetchall()
        return [(r["run_id"], r["attempt"]) for r in rows]

    def _finish(
        self, db: sqlite3.Connection, run_id: str, attempt: int, outcome: Outcome, ts: float
    ) -> None:
        db.execute(_END_ATTEMPT, end_values(run_id, attempt, outcome, ts))
        if outcome.ok:
            db.execute(
                "UPDATE runs SET status = 'completed', completed_at = ?, output = ?, "
                "error = NULL, error_type = NULL, traceback = NULL WHERE id = ?",
                (ts, outcome.output, run_id),
            )
            return
        if escalate_plan(db, run_id, outcome, ts):
            return
        row = db.execute("SELECT retry, attempt_count FROM runs WHERE id = ?", (run_id,)).fetchone()
        from baton.core.retry import Retry

        policy = Retry.from_wire(json.loads(row["retry"]))
        delay = next_retry_delay_s(policy, row["attempt_count"], outcome.retryable)
        if delay is not None:
            db.execute(
                "UPDATE runs SET status = 'pending', not_before = ? WHERE id = ?",
                (ts + delay, run_id),
            )
        else:
            db.execute(
                "UPDATE runs SET status = 'failed', completed_at = ?, error = ?, "
                "error_type = ?, traceback = ? WHERE id = ?",
                (
                    ts,
                    outcome.error or "task failed",
                    outcome.error_type,
                    outcome.traceback,
                    run_id,
                ),
            )

    def finish_attempt(
        self, run_id: str, attempt: int, worker_id: str, outcome: Outcome, *, now: datetime
    ) -> Run | None:
        outcome = storable(outcome)
        with self._tx() as db:
            row = db.execute(
                "SELECT a.status, a.worker_id, r.status AS run_status FROM attempts a "
                "JOIN runs r ON r.id = a.run_id WHERE a.run_id = ? AND a.attempt = ?",
                (run_id, attempt),
            ).fetchone()
            if (
                row is None
                or row["status"] != "running"
                or row["worker_id"] != worker_id
                or row["run_status"] != "running"
            ):
                return None
            self._finish(db, run_id, attempt, outcome, now.timestamp())
        return self.get_run(run_id)

    def update_attempt_exit(
        self,
        run_id: str,
        attempt: int,
        *,
        exit_code: int | None,
        peak_rss_kb: int | None,
        cpu_s: float | None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET exit_code = ?, peak_rss_kb = ?, cpu_s = ? "
                "WHERE run_id = ? AND attempt = ?",
                (exit_code, peak_rss_kb, cpu_s, run_id, attempt),
            )

    def expire_leases(self, *, now: datetime) -> list[Run]:
        ts = now.timestamp()
        with self._tx() as db:
            rows = db.execute(
                "SELECT run_id, attempt FROM attempts WHERE status = 'running' "
                "AND lease_expires_at < ?",
                (ts,),
            ).fetchall()
            lost = Outcome(
                ok=False,
                error="the worker running this attempt stopped renewing its lease",
                error_type=ErrorType.LEASE_EXPIRED,
            )
            for r in rows:
                self._finish(db, r["run_id"], r["attempt"], lost, ts)
        return self.get_runs([r["run_id"] for r in rows])

    def cancel(self, root_id: str, *, now: datetime) -> list[Run]:
        ts = now.timestamp()
        with self._tx() as db:
            row = db.execute(
                "SELECT status, parent_id, root_id FROM runs WHERE id = ?", (root_id,)
            ).fetchone()
            if row is None:
                raise RunNotFound(f"task run {root_id} not found")
            if row["parent_id"] is not None:
                raise InvalidTransition(
                    f"task run {root_id} is a subtask; cancel its root {row['root_id']} instead"
                )
            if RunStatus(row["status"]).is_final:
                raise InvalidTransition(f"task run {root_id} already {row['status']}")
            ids = cancel_tree(db, root_id, ts)
        return self.get_runs(ids)

    def next_due(self, *, now: datetime) -> datetime | None:
        with self._read() as db:
            (due,) = (
                db.execute(
                    "SELECT min(not_before) FROM runs WHERE status = 'pending' AND not_before > ?",
                    (now.timestamp(),),
                )
                .fetchone()
                .values()
            )
        return from_ts(due)

    def queue_stats(self) -> QueueStats:
        with self._read() as db:
            by_status = {
                r["status"]: r["n"]
                for r in db.execute(
                    "SELECT status, count(*) AS n FROM runs GROUP BY status"
                ).fetchall()
            }
            (waiting,) = (
                db.execute("SELECT count(*) FROM attempts WHERE status = 'running' AND waiting = 1")
                .fetchone()
                .values()
            )
        running = by_status.get("running", 0)
        return QueueStats(
            pending=by_status.get("pending", 0),
            running=running,
            waiting=waiting,
            by_status=by_status,
        )

    # logs -------------------------------------------------------------------------------------

    def append_logs(self, run_id: str, attempt: int, lines: Sequence[tuple[str, str]]) -> None:
        if not lines:
            return
        ts = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO logs (run_id, attempt, stream, at, line) VALUES (?, ?, ?, ?, ?)",
                log_rows(run_id, attempt, ts, lines),
            )

    def get_logs(
        self, run_id: str, *, attempt: int | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogLine]:
        sql = "SELECT * FROM logs WHERE run_id = ? AND seq > ?"
        args: list[Any] = [run_id, after]
        if attempt is not None:
            sql += " AND attempt = ?"
            args.append(attempt)
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit)).fetchall()
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
        with self._tx() as db:
            db.execute(
                "INSERT INTO api_tokens VALUES (?, ?, ?, ?)", (tid, name, token_hash, time.time())
            )
        return tid

    def has_token(self, token_hash: str) -> bool:
        with self._read() as db:
            row = db.execute(
                "SELECT 1 FROM api_tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        return row is not None

    def count_tokens(self) -> int:
        with self._read() as db:
            (n,) = db.execute("SELECT count(*) FROM api_tokens").fetchone().values()
        return int(n)

    # bundles (remote workers: code distribution) ----------------------------------------------

    def put_bundle(self, digest: str, data: bytes) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO bundles (digest, size, data, created_at) "
                "VALUES (?, ?, ?, ?)",
                (digest, len(data), data, time.time()),
            )

    def get_bundle(self, digest: str) -> bytes | None:
        with self._read() as db:
            row = db.execute("SELECT data FROM bundles WHERE digest = ?", (digest,)).fetchone()
        return bytes(row["data"]) if row is not None else None

    # cross-process notifications ----------------------------------------------------------

    def watch(
        self, on_work: Callable[[], None], on_final: Callable[[str, RunStatus], None]
    ) -> Callable[[], None]:
        """Nothing to watch: one SQLite file has one server; the services' poll covers the rest."""
        return _no_op

    # dashboard (read models; the queries live in sqlite_dashboard.py) ------------------------

    def search_runs(
        self,
        query: RunQuery,
        *,
        limit: int,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> list[RunSummary]:
        with self._read() as db:
            return sqlite_dashboard.search_runs(
                db, query, limit=limit, before_seq=before_seq, after_seq=after_seq
            )

    def chain_runs(self, root_id: str, *, limit: int) -> list[ChainRun]:
        with self._read() as db:
            return sqlite_dashboard.chain_runs(db, root_id, limit=limit)

    def task_stats(self, *, since: datetime | None, sample: int = 2000) -> list[TaskStats]:
        with self._read() as db:
            return sqlite_dashboard.task_stats(db, since=since, sample=sample)


def _no_op() -> None:
    return None


__all__ = ["SQLiteStore"]
