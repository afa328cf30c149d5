"""Claiming from the queue: order, the global limit, waiting parents, not-before times."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from store_kit import LEASE_S, WORKER, Kit, failed, utc

from baton.core.models import AttemptStatus, RunStatus
from baton.core.retry import Retry


def test_claim_leases_pending_run_and_starts_attempt_zero(kit: Kit) -> None:
    run = kit.enqueue()
    now = utc()

    [claim] = kit.store.claim(WORKER, 1, limit=10, lease_s=LEASE_S, now=now)

    assert claim.run.id == run.id
    assert claim.attempt == 0
    assert claim.worker_id == WORKER
    assert claim.lease_expires_at == now + timedelta(seconds=LEASE_S)
    assert claim.version.id == run.version_id
    assert claim.run.status == RunStatus.RUNNING
    assert claim.run.attempt_count == 1
    [attempt] = kit.store.get_run(run.id).attempts
    assert (attempt.attempt, attempt.status, attempt.worker_id) == (
        0,
        AttemptStatus.RUNNING,
        WORKER,
    )


def test_claim_takes_oldest_pending_runs_first(kit: Kit) -> None:
    runs = [kit.enqueue(value=[i]) for i in range(5)]

    first = kit.claim(2)
    rest = kit.claim(10)

    assert [c.run.id for c in first] == [r.id for r in runs[:2]]
    assert [c.run.id for c in rest] == [r.id for r in runs[2:]]
    assert kit.claim(10) == []


def test_claim_returns_nothing_on_empty_queue(kit: Kit) -> None:
    assert kit.claim(5) == []


def test_claim_never_exceeds_limit_of_running_attempts(kit: Kit) -> None:
    for _ in range(5):
        kit.enqueue()

    assert len(kit.claim(5, limit=2)) == 2
    assert kit.claim(5, limit=2) == []
    assert len(kit.claim(5, limit=3)) == 1


def test_claim_limit_counts_attempts_of_every_worker(kit: Kit) -> None:
    for _ in range(3):
        kit.enqueue()
    kit.claim(1, worker="wrk-a", limit=2)

    claimed = kit.claim(5, worker="wrk-b", limit=2)

    assert len(claimed) == 1


def test_set_waiting_frees_capacity_and_clearing_it_takes_capacity_back(kit: Kit) -> None:
    for _ in range(3):
        kit.enqueue()
    parent = kit.claim_one(limit=1)
    assert kit.claim(1, limit=1) == []

    kit.store.set_waiting(parent.run.id, parent.attempt, True)
    assert len(kit.claim(1, limit=1)) == 1
    assert kit.store.queue_stats().waiting == 1

    kit.store.set_waiting(parent.run.id, parent.attempt, False)
    assert kit.claim(1, limit=2) == []


def test_claim_skips_run_whose_not_before_is_in_the_future(kit: Kit) -> None:
    kit.enqueue()

    assert kit.claim(1, at=-60) == []
    assert len(kit.claim(1)) == 1


def test_claim_skips_run_backing_off_but_takes_later_eligible_run(kit: Kit) -> None:
    backing_off = kit.enqueue(retry=Retry(max_retries=1, wait_duration_ms=60_000))
    claim = kit.claim_one()
    kit.store.finish_attempt(backing_off.id, claim.attempt, WORKER, failed(), now=utc())
    ready = kit.enqueue()

    assert [c.run.id for c in kit.claim(5)] == [ready.id]
    assert [c.run.id for c in kit.claim(5, at=61)] == [backing_off.id]


def test_claim_skips_running_runs(kit: Kit) -> None:
    kit.enqueue()
    kit.claim_one(worker="wrk-a")

    assert kit.claim(5, worker="wrk-b") == []


def test_next_due_reports_earliest_future_not_before(kit: Kit) -> None:
    run = kit.enqueue(retry=Retry(max_retries=1, wait_duration_ms=5_000))
    claim = kit.claim_one()
    now = utc()
    assert kit.store.next_due(now=now) is None

    kit.store.finish_attempt(run.id, claim.attempt, WORKER, failed(), now=now)

    due = kit.store.next_due(now=now)
    assert due is not None
    assert due.timestamp() == pytest.approx(now.timestamp() + 5, abs=0.01)


def test_heartbeat_renews_leases_of_its_worker_only(kit: Kit) -> None:
    run = kit.enqueue()
    claim = kit.claim_one(worker="wrk-a")

    assert kit.store.heartbeat("wrk-b", lease_s=LEASE_S, now=utc(20)) == []
    owned = kit.store.heartbeat("wrk-a", lease_s=LEASE_S, now=utc(20))

    assert owned == [(run.id, claim.attempt)]
    assert kit.store.expire_leases(now=utc(LEASE_S + 5)) == []
    assert [r.id for r in kit.store.expire_leases(now=utc(20 + LEASE_S + 5))] == [run.id]


def test_queue_stats_counts_runs_by_status(kit: Kit) -> None:
    for _ in range(3):
        kit.enqueue()
    kit.claim_one()

    stats = kit.store.queue_stats()

    assert (stats.pending, stats.running, stats.waiting) == (2, 1, 0)
    assert stats.by_status == {"pending": 2, "running": 1}


def _enqueue_on(kit: Kit, plan: str) -> str:
    run, created = kit.store.enqueue(replace(kit.new(), plan=plan))
    assert created
    return run.id


def test_claim_with_plans_takes_only_runs_on_those_plans(kit: Kit) -> None:
    starter = _enqueue_on(kit, "starter")
    pro = _enqueue_on(kit, "pro")
    standard = _enqueue_on(kit, "standard")

    def claim(plans: list[str] | None) -> list[str]:
        now = utc()
        return [
            c.run.id
            for c in kit.store.claim(WORKER, 10, limit=10, lease_s=LEASE_S, now=now, plans=plans)
        ]

    assert claim([]) == []
    assert claim(["starter", "standard"]) == [starter, standard]
    assert claim(["starter", "standard"]) == []
    assert claim(None) == [pro]
