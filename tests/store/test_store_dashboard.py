"""The dashboard's read models of the Store contract: run search, chain timeline, task stats."""

from __future__ import annotations

from datetime import timedelta

from store_kit import WORKER, Kit, failed, ok, utc

from baton.core.models import RunStatus
from baton.store.base import RunQuery


def _ids(kit: Kit, **kw: object) -> list[str]:
    return [r.id for r in kit.store.search_runs(RunQuery(**kw), limit=10)]  # type: ignore[arg-type]


def test_search_runs_pages_both_ways_by_seq(kit: Kit) -> None:
    ids = [kit.enqueue(value=[i]).id for i in range(7)]

    first = kit.store.search_runs(RunQuery(), limit=3)
    older = kit.store.search_runs(RunQuery(), limit=3, before_seq=first[-1].seq)
    newer = kit.store.search_runs(RunQuery(), limit=3, after_seq=older[0].seq)

    assert [r.id for r in first] == ids[:-4:-1]
    assert [r.id for r in older] == ids[-4:-7:-1]
    assert [r.id for r in newer] == [r.id for r in first]
    assert first[0].slug == "wf/square" and first[0].status == RunStatus.PENDING


def test_search_runs_filters_combine(kit: Kit) -> None:
    claim, child = kit.running_root_with_child()
    square = kit.enqueue("square")
    now = utc()

    assert _ids(kit, workflow="wf", task_name="square") == [square.id, child.id]
    assert _ids(kit, task_name="square", roots_only=True) == [square.id]
    assert _ids(kit, status=[RunStatus.RUNNING, RunStatus.FAILED]) == [claim.run.id]
    assert _ids(kit, workflow="other") == []
    assert _ids(kit, id_prefix=square.id) == [square.id]
    assert len(_ids(kit, id_prefix=square.id[:4])) == 3
    assert _ids(kit, id_prefix=square.id + "x") == []
    assert _ids(kit, created_after=now - timedelta(minutes=1), roots_only=True) == [
        square.id,
        claim.run.id,
    ]
    assert _ids(kit, created_after=now + timedelta(minutes=1)) == []
    assert _ids(kit, created_before=now - timedelta(minutes=1)) == []
    assert len(_ids(kit, created_before=now + timedelta(minutes=1))) == 3


def test_chain_runs_returns_the_tree_oldest_first_with_attempt_spans(kit: Kit) -> None:
    claim, child = kit.running_root_with_child()
    [child_claim] = kit.claim(5)
    kit.store.finish_attempt(child.id, 0, WORKER, ok(), now=utc())

    chain = kit.store.chain_runs(claim.run.id, limit=100)

    assert [c.run.id for c in chain] == [claim.run.id, child.id]
    assert child_claim.run.id == child.id
    root_span, child_span = chain[0].spans, chain[1].spans
    assert [(s.attempt, s.status, s.completed_at is None) for s in root_span] == [
        (0, "running", True)
    ]
    assert [(s.attempt, s.status, s.completed_at is not None) for s in child_span] == [
        (0, "completed", True)
    ]
    assert kit.store.chain_runs(claim.run.id, limit=1)[0].run.id == claim.run.id


def test_task_stats_counts_durations_and_compute(kit: Kit) -> None:
    done, lost = kit.enqueue(), kit.enqueue()
    kit.enqueue("total")
    for c in kit.claim(2):
        outcome = ok() if c.run.id == done.id else failed(retryable=False)
        kit.store.finish_attempt(c.run.id, c.attempt, WORKER, outcome, now=utc())
    kit.store.update_attempt_exit(done.id, 0, exit_code=0, peak_rss_kb=1, cpu_s=0.25)

    stats = {s.task_name: s for s in kit.store.task_stats(since=utc(-3600))}

    square = stats["square"]
    assert square.by_status == {"completed": 1, "failed": 1}
    assert (square.attempts, square.cpu_s, set(square.plan_s)) == (2, 0.25, {"standard"})
    assert square.p50_s is not None and square.p50_s >= 0 and square.failure_rate == 0.5
    assert stats["total"].by_status == {"pending": 1} and stats["total"].p50_s is None
    assert lost.id != done.id
    assert kit.store.task_stats(since=utc(3600)) == []
    assert {s.task_name for s in kit.store.task_stats(since=None)} == {"square", "total"}
