"""The Store's dashboard queries on a real SQLite file."""

from __future__ import annotations

from datetime import timedelta

from baton.core.models import RunStatus, utcnow
from baton.server import Engine
from baton.store.base import RunQuery


async def test_search_runs_pages_both_ways_by_seq(engine: Engine) -> None:
    ids = [engine.services.start_run("squares/calculate_square", [i]).id for i in range(7)]
    store = engine.store

    first = store.search_runs(RunQuery(), limit=3)
    older = store.search_runs(RunQuery(), limit=3, before_seq=first[-1].seq)
    newer = store.search_runs(RunQuery(), limit=3, after_seq=older[0].seq)

    assert [r.id for r in first] == ids[:-4:-1]
    assert [r.id for r in older] == ids[-4:-7:-1]
    assert [r.id for r in newer] == [r.id for r in first]


async def test_search_runs_filters_combine(engine: Engine) -> None:
    run = engine.services.start_run("squares/calculate_square", [1])
    store = engine.store
    now = utcnow()

    def ids(**kw: object) -> list[str]:
        return [r.id for r in store.search_runs(RunQuery(**kw), limit=10)]  # type: ignore[arg-type]

    assert ids(workflow="squares", task_name="calculate_square") == [run.id]
    assert ids(status=[RunStatus.FAILED]) == []
    assert ids(id_prefix=run.id[:12]) == [run.id]
    assert ids(created_after=now - timedelta(minutes=1)) == [run.id]
    assert ids(created_after=now + timedelta(minutes=1)) == []
    assert ids(created_before=now - timedelta(minutes=1)) == []
    assert ids(created_before=now + timedelta(minutes=1), roots_only=True) == [run.id]


async def test_chain_runs_returns_the_tree_with_attempt_spans(engine: Engine) -> None:
    root = engine.services.start_run("squares/sum_squares", [1, 2])
    await engine.services.wait_final(root.id, 30)

    chain = engine.store.chain_runs(root.id, limit=100)

    assert chain[0].run.id == root.id and len(chain) == 3
    assert {c.run.parent_id for c in chain[1:]} == {root.id}
    assert all(len(c.spans) == 1 and c.spans[0].completed_at for c in chain)


async def test_task_stats_counts_durations_and_compute(engine: Engine) -> None:
    root = engine.services.start_run("squares/sum_squares", [1, 2])
    await engine.services.wait_final(root.id, 30)

    stats = {s.task_name: s for s in engine.store.task_stats(since=utcnow() - timedelta(hours=1))}
    future = engine.store.task_stats(since=utcnow() + timedelta(hours=1))

    square = stats["calculate_square"]
    assert square.by_status == {"completed": 2} and square.attempts == 2
    assert square.p50_s is not None and square.p95_s is not None and square.failure_rate == 0
    assert set(square.plan_s) == {"standard"}
    assert future == []
