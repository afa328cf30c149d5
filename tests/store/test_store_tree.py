"""Run trees: chained calls create children; cancel works on a root and cascades."""

from __future__ import annotations

import pytest
from store_kit import WORKER, Kit, ok, utc

from baton.core.models import AttemptStatus, ErrorType, RunStatus
from baton.errors import InvalidTransition, RunNotFound


def test_create_child_links_child_to_parent_and_root(kit: Kit) -> None:
    parent, _ = kit.running_root_with_child()
    child, created = kit.child(parent)

    assert created
    assert child.status == RunStatus.PENDING
    assert child.parent_id == parent.run.id
    assert child.root_id == parent.run.id
    assert child.parent_attempt == parent.attempt
    assert [c.id for c in kit.store.children(parent.run.id)][-1] == child.id


def test_create_child_dedupes_on_idempotency_key_and_created_key(kit: Kit) -> None:
    parent, _ = kit.running_root_with_child()

    first, created = kit.child(parent, key="k", created_key="2025-01-01T00:00:00Z")
    again, created_again = kit.child(parent, key="k", created_key="2025-01-01T00:00:00Z")
    other, created_other = kit.child(parent, key="k", created_key="2025-01-01T00:00:01Z")

    assert (created, created_again, created_other) == (True, False, True)
    assert again.id == first.id
    assert other.id != first.id


def test_create_child_without_idempotency_key_always_creates(kit: Kit) -> None:
    parent, existing = kit.running_root_with_child()

    child, created = kit.child(parent)

    assert created
    assert child.id != existing.id


def test_create_child_of_pending_parent_raises_invalid_transition(kit: Kit) -> None:
    kit.enqueue("total")
    parent = kit.claim_one()
    pending_child, _ = kit.child(parent)
    not_running = parent.__class__(
        run=pending_child,
        attempt=0,
        worker_id=WORKER,
        lease_expires_at=parent.lease_expires_at,
        version=parent.version,
    )

    with pytest.raises(InvalidTransition):
        kit.child(not_running)


def test_create_child_of_finished_parent_raises_invalid_transition(kit: Kit) -> None:
    kit.enqueue("total")
    parent = kit.claim_one()
    kit.store.finish_attempt(parent.run.id, parent.attempt, WORKER, ok(), now=utc())

    with pytest.raises(InvalidTransition):
        kit.child(parent)


def test_cancel_child_raises_invalid_transition_naming_its_root(kit: Kit) -> None:
    root, child = kit.running_root_with_child()

    with pytest.raises(InvalidTransition, match="cancel its root") as info:
        kit.store.cancel(child.id, now=utc())

    assert root.run.id in str(info.value)
    assert kit.store.get_run(child.id).status == RunStatus.PENDING


def test_cancel_root_cascades_to_every_unfinished_descendant(kit: Kit) -> None:
    root, child = kit.running_root_with_child()
    done_child, _ = kit.child(root)
    claims = {c.run.id: c for c in kit.claim(5)}
    child_claim = claims[child.id]
    kit.store.finish_attempt(done_child.id, claims[done_child.id].attempt, WORKER, ok(), now=utc())
    grandchild, _ = kit.child(child_claim)
    pending_child, _ = kit.child(root)

    canceled = kit.store.cancel(root.run.id, now=utc())

    assert {r.id for r in canceled} == {root.run.id, child.id, grandchild.id, pending_child.id}
    for run_id in (root.run.id, child.id, grandchild.id, pending_child.id):
        run = kit.store.get_run(run_id)
        assert run.status == RunStatus.CANCELED
        assert run.error_type == ErrorType.CANCELED
        assert run.error
        assert all(a.status != AttemptStatus.RUNNING for a in run.attempts)
    assert kit.store.get_run(root.run.id).attempts[0].status == AttemptStatus.CANCELED
    assert kit.store.get_run(done_child.id).status == RunStatus.COMPLETED


def test_cancel_drops_later_reports_and_frees_capacity(kit: Kit) -> None:
    root, _ = kit.running_root_with_child()
    kit.enqueue()
    assert kit.claim(5, limit=1) == []

    kit.store.cancel(root.run.id, now=utc())

    assert kit.store.finish_attempt(root.run.id, root.attempt, WORKER, ok(), now=utc()) is None
    assert kit.store.get_run(root.run.id).status == RunStatus.CANCELED
    assert len(kit.claim(5, limit=1)) == 1


def test_cancel_pending_root_cancels_it(kit: Kit) -> None:
    run = kit.enqueue()

    [canceled] = kit.store.cancel(run.id, now=utc())

    assert canceled.status == RunStatus.CANCELED
    assert kit.claim(5) == []


def test_cancel_finished_root_raises_invalid_transition(kit: Kit) -> None:
    run = kit.enqueue()
    claim = kit.claim_one()
    kit.store.finish_attempt(run.id, claim.attempt, WORKER, ok(), now=utc())

    with pytest.raises(InvalidTransition):
        kit.store.cancel(run.id, now=utc())
    assert kit.store.get_run(run.id).status == RunStatus.COMPLETED


def test_cancel_twice_raises_invalid_transition(kit: Kit) -> None:
    run = kit.enqueue()
    kit.store.cancel(run.id, now=utc())

    with pytest.raises(InvalidTransition):
        kit.store.cancel(run.id, now=utc())


def test_cancel_unknown_run_raises_run_not_found(kit: Kit) -> None:
    with pytest.raises(RunNotFound):
        kit.store.cancel("trn-00000000000000000000", now=utc())


def test_canceled_tree_refuses_new_children(kit: Kit) -> None:
    root, _ = kit.running_root_with_child()
    kit.store.cancel(root.run.id, now=utc())

    with pytest.raises(InvalidTransition):
        kit.child(root)
