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
from baton.store.rows import attempt_from_row, end_attempt_sql, end_values, run_from_row

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


#: A run row with its attempts as a JSON array (one statement reads both, consistently).
RUNS_WITH_ATTEMPTS = (
    "SELECT r.*, (SELECT json_agg(a ORDER BY a.attempt) FROM attempts a "
    "WHERE a.run_id = r.id) AS attempts_json FROM runs r WHERE r.id = ANY(%s)"
)


def runs_from_rows(rows: Sequence[dict[str, Any]], run_ids: Sequence[str]) -> list[Run]:
    """Runs (in ``run_ids`` order, unknown ids left out) from ``RUNS_WITH_ATTEMPTS`` rows."""
    by_id = {r["id"]: r for r in rows}
    return [
        run_from_row(
            by_id[i], tuple(attempt_from_row(a) for a in by_id[i].get("attempts_json") or ())
        )
        for i in run_ids
        if i in by_id
    ]


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
    if attempts:
        cur.execute(RUNS_WITH_ATTEMPTS, (ids,))
        return runs_from_rows(cur.fetchall(), ids)
    cur.execute("SELECT * FROM runs WHERE id = ANY(%s)", (ids,))
    rows = {r["id"]: r for r in cur.fetchall()}
    return [run_from_row(rows[i]) for i in ids if i in rows]


def claim_rows(
    cur: Cursor,
    worker_id: str,
    slots: int,
    *,
    limit: int,
    lease_s: float,
    ts: float,
    plans: Sequence[str] | None = None,
) -> list[Run]:
    """Lease up to ``slots`` eligible runs; the claimed runs (with their attempts, the new
    one last) in claim order.

    The global limit and the concurrency keys' limits hold across processes because every
    claimer first takes one transaction-scoped advisory lock: the counts of computing
    attempts and running runs per key, and the claim that follows them, are serialised, and
    the lock is released only when the claim commits. (Other writers only end runs, which
    lowers the counts.) The count is read by a statement that starts after the lock is
    held, so it sees every claim committed before.
    """
    from baton.store.pg_conn import CLAIM_LOCK

    # One round trip (no parameters: the simple protocol takes all three statements).
    # Sorting and sequential scans are off for this transaction: the claim must walk
    # ``runs_claim`` in order and stop at its limit, and update the claimed runs through their
    # ids' index; with stale statistics (a burst of new runs into a young table) the planner
    # would rather read every pending run and sort them, and scan the whole table for the
    # ids, on every claim.
    cur.execute(
        "SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off; "
        f"SELECT pg_advisory_xact_lock({CLAIM_LOCK})"
    )
    rows, busy = claimable(cur, ts, slots, limit, plans)
    n = min(slots, limit - busy)
    ids = _within_key_limits(cur, rows, n)
    if not ids:
        return []
    cur.execute(
        "WITH r AS (UPDATE runs SET status = 'running', attempt_count = attempt_count + 1, "
        "started_at = COALESCE(started_at, %s), not_before = NULL WHERE id = ANY(%s) "
        "RETURNING *), "
        "a AS (INSERT INTO attempts (run_id, attempt, status, worker_id, lease_expires_at, "
        "plan, started_at) SELECT id, attempt_count - 1, 'running', %s, %s, plan, %s FROM r "
        "RETURNING *) "
        "SELECT r.*, row_to_json(a) AS attempt_json FROM r JOIN a ON a.run_id = r.id",
        (ts, ids, worker_id, ts + lease_s, ts),
    )
    by_id = {r["id"]: r for r in cur.fetchall()}
    retried = [i for i in ids if by_id[i]["attempt_count"] > 1]
    earlier: dict[str, list[Attempt]] = {}
    if retried:
        cur.execute("SELECT * FROM attempts WHERE run_id = ANY(%s) ORDER BY attempt", (retried,))
        for a in cur.fetchall():
            if a["attempt"] < by_id[a["run_id"]]["attempt_count"] - 1:
                earlier.setdefault(a["run_id"], []).append(attempt_from_row(a))
    return [
        run_from_row(by_id[i], (*earlier.get(i, ()), attempt_from_row(by_id[i]["attempt_json"])))
        for i in ids
    ]


def claimable(
    cur: Cursor, ts: float, slots: int, limit: int, plans: Sequence[str] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Pending runs to claim now (row-locked), and how many attempts compute now.

    Highest priority first, then oldest; none while the queue is paused; none of a paused
    task or tree; none whose concurrency key is at its limit; with ``plans``, only runs on
    one of them. At most ``min(slots, limit - computing)`` runs plus a few spares for keys
    that fill up within this batch. Runs another transaction holds (a cancel) are skipped,
    not waited for. Called under the claim lock.
    """
    plan_list = None if plans is None else list(plans)
    cur.execute(
        "WITH busy AS (SELECT count(*) AS n FROM attempts "
        "WHERE status = 'running' AND waiting = 0) "
        "SELECT r.id, r.concurrency_key, r.concurrency_limit, (SELECT n FROM busy) AS busy "
        "FROM runs r "
        "WHERE r.status = 'pending' AND r.not_before <= %s "
        "AND NOT EXISTS (SELECT 1 FROM pauses WHERE scope = 'queue') "
        "AND (%s::text[] IS NULL OR r.plan = ANY(%s::text[])) "
        "AND NOT EXISTS (SELECT 1 FROM pauses p WHERE "
        "(p.scope = 'task' AND p.target = r.workflow || '/' || r.task_name) "
        "OR (p.scope = 'tree' AND p.target = r.root_id)) "
        "AND (r.concurrency_key IS NULL OR (SELECT count(*) FROM runs c "
        "WHERE c.concurrency_key = r.concurrency_key AND c.status = 'running') "
        "< r.concurrency_limit) "
        "ORDER BY r.priority DESC, r.seq "
        "LIMIT CASE WHEN LEAST(%s, %s - (SELECT n FROM busy)) > 0 "
        "THEN LEAST(%s, %s - (SELECT n FROM busy)) + 8 ELSE 0 END "  # spares: see above
        "FOR UPDATE OF r SKIP LOCKED",
        (ts, plan_list, plan_list, slots, limit, slots, limit),
    )
    rows: list[dict[str, Any]] = cur.fetchall()
    return rows, (rows[0]["busy"] if rows else limit)


def _within_key_limits(cur: Cursor, rows: Sequence[dict[str, Any]], n: int) -> list[str]:
    """The first ``n`` of ``rows`` whose concurrency keys stay within their limits."""
    if n <= 0:
        return []
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


_END_ATTEMPT = end_attempt_sql("(COALESCE(timings, '{}')::jsonb || ?::jsonb)::text").replace(
    "?", "%s"
)


_COMPLETE_RUN = (
    "UPDATE runs SET status = 'completed', completed_at = %s, output = %s, "
    "error = NULL, error_type = NULL, traceback = NULL WHERE id = %s"
)


def finish(cur: Cursor, run_id: str, attempt: int, outcome: Outcome, ts: float) -> str:
    """Record an attempt's end and decide its run (whose row the caller has locked).

    Returns the run's new status.
    """
    cur.execute(_END_ATTEMPT, end_values(run_id, attempt, outcome, ts))
    if outcome.ok:
        cur.execute(_COMPLETE_RUN, (ts, outcome.output, run_id))
        return RunStatus.COMPLETED
    return _after_failure(cur, run_id, outcome, ts)


def _after_failure(cur: Cursor, run_id: str, outcome: Outcome, ts: float) -> str:
    """Retry (on a bigger plan after running out of memory, or by the retry policy) or fail
    the run whose attempt just failed; its new status."""
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


#: ``finish_owned`` of a success in one statement: the run's row lock, the attempt's
#: conditional update (owner and state re-checked under its row lock), the run's update with
#: its notifications, and the run's attempts, in lock order (the CTEs run in data order).
_FINISH_OK = (
    # The run is looked up (and locked) by its id alone, then its status checked: with
    # ``status`` in the lookup, stale statistics can make the planner walk ``runs_status``
    # through every running run instead of the unique index.
    "WITH r AS (SELECT id, status FROM runs WHERE id = %s FOR UPDATE), "
    "a AS ("
    + _END_ATTEMPT.replace(
        "WHERE run_id = %s", "WHERE run_id = (SELECT id FROM r WHERE status = 'running')"
    )
    + " AND status = 'running' AND worker_id = %s RETURNING *), "
    "u AS ("
    + _COMPLETE_RUN.replace("WHERE id = %s", "WHERE id = (SELECT run_id FROM a)")
    + f" RETURNING *, pg_notify('{FINAL_CHANNEL}', id || ' completed') AS f, "
    f"pg_notify('{WORK_CHANNEL}', '') AS w) "
    "SELECT u.*, (SELECT json_agg(x ORDER BY x.attempt) FROM (SELECT * FROM attempts "
    "WHERE run_id = u.id AND attempt < %s UNION ALL SELECT * FROM a) x) AS attempts_json "
    "FROM u"
)


def finish_owned(
    cur: Cursor, run_id: str, attempt: int, worker_id: str, outcome: Outcome, ts: float
) -> Run | None:
    """``finish`` if the attempt is still ``worker_id``'s and running, and tell the other
    processes (``NOTIFY``); the run as it is now, or ``None`` (nothing changed).

    A success is one statement (``_FINISH_OK``); a failure takes a few more round trips (its
    retry policy is read and applied here).
    """
    if outcome.ok:
        values = end_values(run_id, attempt, outcome, ts)
        cur.execute(
            _FINISH_OK,
            (run_id, *values[:-2], attempt, worker_id, ts, outcome.output, attempt),
        )
        row = cur.fetchone()
        return None if row is None else runs_from_rows([row], [run_id])[0]
    cur.execute("SELECT status FROM runs WHERE id = %s FOR UPDATE", (run_id,))
    run = cur.fetchone()
    if run is None or run["status"] != "running":
        return None
    cur.execute(  # the update re-checks the owner under the attempt's row lock
        _END_ATTEMPT + " AND status = 'running' AND worker_id = %s RETURNING *",
        (*end_values(run_id, attempt, outcome, ts), worker_id),
    )
    if cur.fetchone() is None:
        return None
    status = _after_failure(cur, run_id, outcome, ts)
    notify(cur, work=True, final=[(run_id, status)] if RunStatus(status).is_final else [])
    return load_runs(cur, [run_id])[0]


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
