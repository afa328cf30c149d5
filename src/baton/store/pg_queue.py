"""The queue's state changes on PostgreSQL, as functions of an open transaction's cursor.

Lock order, to stay free of deadlocks: a transaction that locks both locks ``runs`` rows
before ``attempts`` rows, and several rows of one table in key order. Claims and the lease
reaper use ``SKIP LOCKED`` and never wait for a row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from baton.core.durable import next_plan
from baton.core.models import Attempt, ErrorType, Run, RunStatus
from baton.core.retry import Retry, next_retry_delay_s
from baton.store.base import Outcome
from baton.store.pg_conn import Cursor
from baton.store.rows import attempt_from_row, run_from_row

WORK_CHANNEL = "baton_work"
FINAL_CHANNEL = "baton_final"


def notify_work(cur: Cursor) -> None:
    """Tell every listening process that a run may have become claimable (sent on commit)."""
    cur.execute(f"NOTIFY {WORK_CHANNEL}")


def notify_final(cur: Cursor, runs: Sequence[tuple[str, str]]) -> None:
    """Tell every listening process that these ``(run_id, status)`` reached a final state."""
    if runs:
        cur.execute(
            "SELECT pg_notify(%s, x) FROM unnest(%s::text[]) AS x",
            (FINAL_CHANNEL, [f"{rid} {status}" for rid, status in runs]),
        )


def notify(cur: Cursor, *, final: Sequence[tuple[str, str]] = (), work: bool = False) -> None:
    """``notify_final`` and ``notify_work`` in one statement (one round trip)."""
    notes = [(FINAL_CHANNEL, f"{rid} {status}") for rid, status in final]
    if work:
        notes.append((WORK_CHANNEL, ""))
    if notes:
        cur.execute(
            "SELECT pg_notify(c, x) FROM unnest(%s::text[], %s::text[]) AS t(c, x)",
            ([c for c, _ in notes], [x for _, x in notes]),
        )


def load_runs(cur: Cursor, run_ids: Sequence[str], *, attempts: bool = True) -> list[Run]:
    """The runs in ``run_ids`` order (unknown ids left out), with their attempts."""
    if not run_ids:
        return []
    ids = list(run_ids)
    cur.execute("SELECT * FROM runs WHERE id = ANY(%s)", (ids,))
    rows = {r["id"]: r for r in cur.fetchall()}
    by_run: dict[str, list[Attempt]] = {}
    if attempts:
        cur.execute("SELECT * FROM attempts WHERE run_id = ANY(%s) ORDER BY attempt", (ids,))
        for a in cur.fetchall():
            by_run.setdefault(a["run_id"], []).append(attempt_from_row(a))
    return [run_from_row(rows[i], tuple(by_run.get(i, ()))) for i in ids if i in rows]


def claim_rows(
    cur: Cursor,
    worker_id: str,
    slots: int,
    *,
    limit: int,
    lease_s: float,
    ts: float,
    plans: Sequence[str] | None = None,
) -> list[tuple[str, int]]:
    """Lease up to ``slots`` eligible runs; ``(run_id, attempt)`` in claim order.

    The global limit and the concurrency keys' limits hold across processes because every
    claimer first takes one transaction-scoped advisory lock: the counts of computing
    attempts and running runs per key, and the claim that follows them, are serialised, and
    the lock is released only when the claim commits. (Other writers only end runs, which
    lowers the counts.)
    """
    from baton.store.pg_conn import CLAIM_LOCK

    cur.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
    cur.execute(
        "SELECT (SELECT count(*) FROM attempts WHERE status = 'running' AND waiting = 0) AS n, "
        "EXISTS (SELECT 1 FROM pauses WHERE scope = 'queue') AS paused"
    )
    busy = cur.fetchone()
    n = min(slots, limit - busy["n"])
    if n <= 0 or busy["paused"]:
        return []
    ids = claimable(cur, ts, n, plans)
    if not ids:
        return []
    cur.execute(
        "UPDATE runs SET status = 'running', attempt_count = attempt_count + 1, "
        "started_at = COALESCE(started_at, %s), not_before = NULL WHERE id = ANY(%s) "
        "RETURNING id, attempt_count - 1 AS attempt, plan",
        (ts, ids),
    )
    by_id = {r["id"]: r for r in cur.fetchall()}
    rows = [by_id[i] for i in ids]
    cur.executemany(
        "INSERT INTO attempts (run_id, attempt, status, worker_id, lease_expires_at, plan, "
        "started_at) VALUES (%s, %s, 'running', %s, %s, %s, %s)",
        [(r["id"], r["attempt"], worker_id, ts + lease_s, r["plan"], ts) for r in rows],
    )
    return [(r["id"], r["attempt"]) for r in rows]


def claimable(cur: Cursor, ts: float, n: int, plans: Sequence[str] | None = None) -> list[str]:
    """Up to ``n`` pending runs to claim now (row-locked): highest priority first, then
    oldest; none of a paused task or tree; none whose concurrency key is at its limit; with
    ``plans``, only runs on one of them.

    Runs another transaction holds (a cancel) are skipped, not waited for. Called under the
    claim lock.
    """
    plan_list = None if plans is None else list(plans)
    cur.execute(
        "SELECT r.id, r.concurrency_key, r.concurrency_limit FROM runs r "
        "WHERE r.status = 'pending' AND r.not_before <= %s "
        "AND (%s::text[] IS NULL OR r.plan = ANY(%s::text[])) "
        "AND NOT EXISTS (SELECT 1 FROM pauses p WHERE "
        "(p.scope = 'task' AND p.target = r.workflow || '/' || r.task_name) "
        "OR (p.scope = 'tree' AND p.target = r.root_id)) "
        "AND (r.concurrency_key IS NULL OR (SELECT count(*) FROM runs c "
        "WHERE c.concurrency_key = r.concurrency_key AND c.status = 'running') "
        "< r.concurrency_limit) "
        "ORDER BY r.priority DESC, r.seq LIMIT %s FOR UPDATE OF r SKIP LOCKED",
        (ts, plan_list, plan_list, n + 8),  # spare rows for keys that fill up in this batch
    )
    rows = cur.fetchall()
    keys = sorted({r["concurrency_key"] for r in rows if r["concurrency_key"] is not None})
    running: dict[str, int] = {}
    if keys:
        cur.execute(
            "SELECT concurrency_key AS k, count(*) AS n FROM runs "
            "WHERE concurrency_key = ANY(%s) AND status = 'running' GROUP BY concurrency_key",
            (keys,),
        )
        running = {r["k"]: r["n"] for r in cur.fetchall()}
    out: list[str] = []
    for r in rows:
        if len(out) >= n:
            break
        key = r["concurrency_key"]
        if key is not None:
            if running.get(key, 0) >= r["concurrency_limit"]:
                continue  # filled by a claim earlier in this same batch
            running[key] = running.get(key, 0) + 1
        out.append(r["id"])
    return out


def escalate_plan(cur: Cursor, run_id: str, outcome: Outcome, ts: float) -> bool:
    """Retry an out-of-memory attempt at once on the next plan up, if the task asks for it
    (on top of the retry policy: each step up grants one more attempt)."""
    if outcome.ok or outcome.error_type != ErrorType.OUT_OF_MEMORY:
        return False
    cur.execute("SELECT plan, escalate_plans FROM runs WHERE id = %s", (run_id,))
    row = cur.fetchone()
    if row is None or not row["escalate_plans"]:
        return False
    bigger = next_plan(row["plan"])
    if bigger is None:
        return False
    cur.execute(
        "UPDATE runs SET status = 'pending', not_before = %s, plan = %s WHERE id = %s",
        (ts, bigger, run_id),
    )
    return True


def finish(cur: Cursor, run_id: str, attempt: int, outcome: Outcome, ts: float) -> str:
    """Record an attempt's end and decide its run (whose row the caller has locked).

    Returns the run's new status.
    """
    status = "completed" if outcome.ok else "failed"
    cur.execute(
        "UPDATE attempts SET status = %s, completed_at = %s, output = %s, error = %s, "
        "error_type = %s, traceback = %s, exit_code = COALESCE(%s, exit_code), "
        "peak_rss_kb = COALESCE(%s, peak_rss_kb), cpu_s = COALESCE(%s, cpu_s), "
        "waiting = 0 WHERE run_id = %s AND attempt = %s",
        (
            status,
            ts,
            outcome.output,
            outcome.error,
            outcome.error_type,
            outcome.traceback,
            outcome.exit_code,
            outcome.peak_rss_kb,
            outcome.cpu_s,
            run_id,
            attempt,
        ),
    )
    if outcome.ok:
        cur.execute(
            "UPDATE runs SET status = 'completed', completed_at = %s, output = %s, "
            "error = NULL, error_type = NULL, traceback = NULL WHERE id = %s",
            (ts, outcome.output, run_id),
        )
        return RunStatus.COMPLETED
    if escalate_plan(cur, run_id, outcome, ts):
        return RunStatus.PENDING
    cur.execute("SELECT retry, attempt_count FROM runs WHERE id = %s", (run_id,))
    row = cur.fetchone()
    policy = Retry.from_wire(json.loads(row["retry"]))
    delay = next_retry_delay_s(policy, row["attempt_count"], outcome.retryable)
    if delay is not None:
        cur.execute(
            "UPDATE runs SET status = 'pending', not_before = %s WHERE id = %s",
            (ts + delay, run_id),
        )
        return RunStatus.PENDING
    cur.execute(
        "UPDATE runs SET status = 'failed', completed_at = %s, error = %s, error_type = %s, "
        "traceback = %s WHERE id = %s",
        (ts, outcome.error or "task failed", outcome.error_type, outcome.traceback, run_id),
    )
    return RunStatus.FAILED


def finish_if_owned(
    cur: Cursor, run_id: str, attempt: int, worker_id: str, outcome: Outcome, ts: float
) -> str | None:
    """``finish`` if the attempt is still ``worker_id``'s and running; else ``None``."""
    cur.execute("SELECT status FROM runs WHERE id = %s FOR UPDATE", (run_id,))
    run = cur.fetchone()
    if run is None or run["status"] != "running":
        return None
    cur.execute(
        "SELECT status, worker_id FROM attempts WHERE run_id = %s AND attempt = %s FOR UPDATE",
        (run_id, attempt),
    )
    row = cur.fetchone()
    if row is None or row["status"] != "running" or row["worker_id"] != worker_id:
        return None
    return finish(cur, run_id, attempt, outcome, ts)


def expire(cur: Cursor, lost: Outcome, ts: float) -> list[tuple[str, str]]:
    """Fail every running attempt whose lease ended before ``ts``; ``(run_id, status)``."""
    cur.execute(
        "SELECT r.id FROM runs r JOIN attempts a ON a.run_id = r.id "
        "WHERE a.status = 'running' AND a.lease_expires_at < %s AND r.status = 'running' "
        "ORDER BY r.seq FOR UPDATE OF r SKIP LOCKED",
        (ts,),
    )
    ids = [r["id"] for r in cur.fetchall()]
    if not ids:
        return []
    cur.execute(  # re-checked under the row locks: renewed or finished since the scan
        "SELECT run_id, attempt FROM attempts WHERE run_id = ANY(%s) AND status = 'running' "
        "AND lease_expires_at < %s ORDER BY run_id, attempt FOR UPDATE",
        (ids, ts),
    )
    rows = {r["run_id"]: r["attempt"] for r in cur.fetchall()}
    return [(rid, finish(cur, rid, rows[rid], lost, ts)) for rid in ids if rid in rows]


def cancel_tree(cur: Cursor, root_id: str, ts: float, error_type: str) -> list[str]:
    """Cancel the unfinished runs of ``root_id``'s tree (root row already locked)."""
    cur.execute(
        "SELECT id FROM runs WHERE root_id = %s AND status IN ('pending', 'running') "
        "ORDER BY seq FOR UPDATE",
        (root_id,),
    )
    ids = [r["id"] for r in cur.fetchall()]
    cur.execute(
        "SELECT 1 FROM attempts WHERE status = 'running' AND run_id = ANY(%s) "
        "ORDER BY run_id, attempt FOR UPDATE",
        (ids,),
    )
    cur.execute(
        "UPDATE attempts SET status = 'canceled', completed_at = %s, "
        "error = 'task run canceled', error_type = %s, waiting = 0 "
        "WHERE status = 'running' AND run_id = ANY(%s)",
        (ts, error_type, ids),
    )
    cur.execute(
        "UPDATE runs SET status = 'canceled', completed_at = %s, "
        "error = 'task run canceled', error_type = %s WHERE id = ANY(%s)",
        (ts, error_type, ids),
    )
    return ids


def renew(cur: Cursor, worker_id: str, expires: float) -> list[tuple[str, int]]:
    """Renew ``worker_id``'s leases (rows locked in key order); the attempts it owns."""
    cur.execute(
        "SELECT run_id, attempt FROM attempts WHERE worker_id = %s AND status = 'running' "
        "ORDER BY run_id, attempt FOR UPDATE",
        (worker_id,),
    )
    owned: list[dict[str, Any]] = cur.fetchall()
    if owned:
        cur.execute(
            "UPDATE attempts SET lease_expires_at = %s WHERE worker_id = %s AND status = 'running'",
            (expires, worker_id),
        )
    return [(r["run_id"], r["attempt"]) for r in owned]
