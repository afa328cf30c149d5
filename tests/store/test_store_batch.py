"""``Store.batch``: several store calls in one transaction, each item all-or-nothing."""

from __future__ import annotations

import pytest
from store_kit import WORKER, Kit, ok, utc

from baton.core.models import RunStatus
from baton.errors import BatonError, InvalidTransition


def test_batch_commits_every_item_and_answers_in_order(kit: Kit) -> None:
    first, second = kit.enqueue(), kit.enqueue()
    kit.claim(2)

    def finish_first() -> object:
        return kit.store.finish_attempt(first.id, 0, WORKER, ok(), now=utc())

    def start_second() -> object:
        kit.store.attempt_started(second.id, 0, 4242, {"forked_at": 1.5})
        kit.store.append_logs(second.id, 0, [("stdout", "hello")])
        return "started"

    done = kit.store.batch([finish_first, start_second])

    assert len(done) == 2
    assert getattr(done[0], "status", None) == RunStatus.COMPLETED
    assert done[1] == "started"
    assert kit.store.get_run(first.id).status == RunStatus.COMPLETED
    [attempt] = kit.store.get_run(second.id).attempts
    assert attempt.pid == 4242
    assert attempt.timings == {"forked_at": 1.5}
    assert [line.line for line in kit.store.get_logs(second.id)] == ["hello"]


def test_an_item_that_raises_leaves_no_write_and_the_others_stand(kit: Kit) -> None:
    first, second, third = kit.enqueue(), kit.enqueue(), kit.enqueue()
    kit.claim(3)

    def broken() -> object:
        kit.store.append_logs(second.id, 0, [("stdout", "half-written")])
        kit.store.attempt_started(second.id, 0, 99)
        raise InvalidTransition("this report is refused")

    done = kit.store.batch(
        [
            lambda: kit.store.finish_attempt(first.id, 0, WORKER, ok(), now=utc()),
            broken,
            lambda: kit.store.finish_attempt(third.id, 0, WORKER, ok(), now=utc()),
        ]
    )

    assert isinstance(done[1], InvalidTransition)
    assert kit.store.get_logs(second.id) == []
    assert kit.store.get_run(second.id).attempts[0].pid is None
    assert kit.store.get_run(second.id).status == RunStatus.RUNNING
    assert kit.store.get_run(first.id).status == RunStatus.COMPLETED
    assert kit.store.get_run(third.id).status == RunStatus.COMPLETED


def test_a_lone_item_that_raises_leaves_no_write(kit: Kit) -> None:
    run = kit.enqueue()
    kit.claim_one()

    def broken() -> object:
        kit.store.append_logs(run.id, 0, [("stdout", "half-written")])
        raise InvalidTransition("refused")

    [done] = kit.store.batch([broken])

    assert isinstance(done, InvalidTransition)
    assert kit.store.get_logs(run.id) == []


def test_a_late_finish_in_a_batch_is_dropped_alone(kit: Kit) -> None:
    mine, theirs = kit.enqueue(), kit.enqueue()
    kit.claim_one()
    kit.claim_one(worker="wrk-other")

    done = kit.store.batch(
        [
            lambda: kit.store.finish_attempt(theirs.id, 0, WORKER, ok(), now=utc()),
            lambda: kit.store.finish_attempt(mine.id, 0, WORKER, ok(), now=utc()),
        ]
    )

    assert done[0] is None
    assert getattr(done[1], "status", None) == RunStatus.COMPLETED
    assert kit.store.get_run(theirs.id).status == RunStatus.RUNNING


def test_any_other_exception_rolls_the_whole_batch_back(kit: Kit) -> None:
    run = kit.enqueue()
    kit.claim_one()

    def crash() -> object:
        raise RuntimeError("a bug, not a refusal")

    with pytest.raises(RuntimeError):
        kit.store.batch(
            [lambda: kit.store.finish_attempt(run.id, 0, WORKER, ok(), now=utc()), crash]
        )

    assert kit.store.get_run(run.id).status == RunStatus.RUNNING
    after = kit.store.finish_attempt(run.id, 0, WORKER, ok(), now=utc())
    assert after is not None
    assert after.status == RunStatus.COMPLETED


def test_an_empty_batch_does_nothing(kit: Kit) -> None:
    done: list[object | BatonError] = kit.store.batch([])
    assert done == []


def test_the_store_works_as_usual_after_a_batch_with_a_refused_item(kit: Kit) -> None:
    run = kit.enqueue()

    def refuse() -> object:
        raise InvalidTransition("refused")

    kit.store.batch([refuse, refuse])
    claim = kit.claim_one()
    assert claim.run.id == run.id
