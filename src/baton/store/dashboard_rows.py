"""The dashboard's read models from rows, shared by ``sqlite_dashboard`` and ``pg_dashboard``.

Each backend owns its SQL; the row mapping, the id-prefix bound, the percentiles and the
assembly of ``TaskStats`` from the per-task aggregates are the same for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from baton.core.models import RunStatus
from baton.store.base import RunSummary, TaskStats
from baton.store.rows import Row, from_ts

SUMMARY_COLUMNS = (
    "seq, id, workflow, task_name, status, parent_id, root_id, attempt_count, created_at, "
    "started_at, completed_at, error_type"
)


def summary_from_row(row: Row) -> RunSummary:
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


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build_task_stats(
    count_rows: Iterable[Row],
    compute_rows: Iterable[Row],
    durations: Callable[[str, str], list[float]],
) -> list[TaskStats]:
    """``TaskStats`` per task from the window's aggregates.

    ``count_rows``: ``workflow, task_name, status, n``; ``compute_rows``: ``workflow,
    task_name, plan, n, cpu, wall`` (finished attempts); ``durations(workflow, task)``: the
    latest completed runs' durations in seconds.
    """
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in count_rows:
        counts.setdefault((r["workflow"], r["task_name"]), {})[r["status"]] = int(r["n"])
    compute: dict[tuple[str, str], tuple[int, float, dict[str, float]]] = {}
    for r in compute_rows:
        n, cpu, plans = compute.get((r["workflow"], r["task_name"]), (0, 0.0, {}))
        plan = r["plan"] or "standard"
        plans[plan] = plans.get(plan, 0.0) + (r["wall"] or 0)
        compute[(r["workflow"], r["task_name"])] = (n + int(r["n"]), cpu + (r["cpu"] or 0.0), plans)
    out = []
    for (workflow, name), by_status in sorted(counts.items()):
        spans = durations(workflow, name)
        n, cpu, plans = compute.get((workflow, name), (0, 0.0, {}))
        out.append(
            TaskStats(
                workflow=workflow,
                task_name=name,
                by_status=by_status,
                p50_s=percentile(spans, 0.5),
                p95_s=percentile(spans, 0.95),
                attempts=n,
                cpu_s=cpu,
                plan_s=plans,
            )
        )
    return out
