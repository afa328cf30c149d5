"""Enqueueing root runs: what is stored, idempotency keys and the pending limit."""

from __future__ import annotations

import pytest
from store_kit import Kit, register

from baton.core.models import RunStatus
from baton.core.retry import Retry
from baton.errors import QueueFull, RunNotFound


def test_enqueue_stores_pending_root_run_as_given(kit: Kit) -> None:
    retry = Retry(max_retries=2, wait_duration_ms=500, backoff_scaling=3.0)
    new = kit.new("total", {"a": 1, "b": [2, "x"]}, retry=retry)

    run, created = kit.store.enqueue(new)

    assert created
    assert run.id == new.id
    assert run.status == RunStatus.PENDING
    assert run.input == {"a": 1, "b": [2, "x"]}
    assert run.parent_id is None
    assert run.root_id == run.id
    assert run.retry == retry
    assert (run.timeout_s, run.plan, run.attempt_count, run.attempts) == (60, "standard", 0, ())
    assert run.task_id == kit.tasks["total"].id
    assert run.slug == "wf/total"
    assert kit.store.get_run(run.id) == run


def test_enqueue_with_seen_idempotency_key_returns_first_run(kit: Kit) -> None:
    first, created = kit.store.enqueue(kit.new(value=[1], key="order-7"))
    again, created_again = kit.store.enqueue(kit.new(value=[2], key="order-7"))

    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert again.input == [1]
    assert kit.store.queue_stats().pending == 1


def test_enqueue_with_different_idempotency_keys_creates_two_runs(kit: Kit) -> None:
    a, _ = kit.store.enqueue(kit.new(key="k1"))
    b, _ = kit.store.enqueue(kit.new(key="k2"))

    assert a.id != b.id


def test_enqueue_past_max_pending_raises_queue_full(kit: Kit) -> None:
    kit.store.enqueue(kit.new(), max_pending=2)
    kit.store.enqueue(kit.new(), max_pending=2)

    with pytest.raises(QueueFull):
        kit.store.enqueue(kit.new(), max_pending=2)
    assert kit.store.queue_stats().pending == 2


def test_enqueue_with_known_idempotency_key_succeeds_even_when_queue_is_full(kit: Kit) -> None:
    first, _ = kit.store.enqueue(kit.new(key="k"), max_pending=1)

    again, created = kit.store.enqueue(kit.new(key="k"), max_pending=1)

    assert (again.id, created) == (first.id, False)


def test_max_pending_counts_only_pending_runs(kit: Kit) -> None:
    kit.enqueue()
    kit.claim_one()

    run, created = kit.store.enqueue(kit.new(), max_pending=1)

    assert created
    assert run.status == RunStatus.PENDING


def test_get_run_raises_run_not_found_for_unknown_id(kit: Kit) -> None:
    with pytest.raises(RunNotFound):
        kit.store.get_run("trn-00000000000000000000")


def test_get_runs_skips_unknown_ids_and_keeps_requested_order(kit: Kit) -> None:
    a = kit.enqueue()
    b = kit.enqueue()

    runs = kit.store.get_runs([b.id, "trn-00000000000000000000", a.id])

    assert [r.id for r in runs] == [b.id, a.id]
    assert kit.store.get_runs([]) == []


def test_idempotency_keys_are_scoped_to_a_workflow(kit: Kit) -> None:
    other = register(kit.store, "other", ["square"])
    first, _ = kit.store.enqueue(kit.new(key="same"))

    again, created = kit.store.enqueue(Kit(kit.store, other).new(key="same"))

    assert created
    assert again.id != first.id
    assert again.workflow == "other"
