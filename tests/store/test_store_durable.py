"""Durable operations of the Store contract: memoized children, pauses, priorities,
concurrency keys, plan escalation, checkpoints and schedule ticks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from store_kit import WORKER, Kit, failed, ok, utc

from baton.core.durable import CHECKPOINT_MAX_KEYS, Schedule, ScheduleSpec
from baton.core.models import Claim, ErrorType, RunStatus
from baton.errors import InvalidInput, InvalidTransition, ScheduleNotFound
from baton.store import ChildCall, Outcome

OOM = Outcome(ok=False, error="out of memory", error_type=ErrorType.OUT_OF_MEMORY)


def _child(kit: Kit, parent: Claim, index: int, value: int, *, memoize: bool = True) -> str:
    call = ChildCall("square", [value], None, None, index, memoize)
    new = kit.new("square", [value], parent=parent.run, parent_attempt=parent.attempt)
    run, _ = kit.store.create_child(parent.run.id, parent.attempt, call, new)
    return run.id


def _retried_parent(kit: Kit, first: Claim) -> Claim:
    kit.store.finish_attempt(first.run.id, first.attempt, WORKER, failed(), now=utc())
    claims = kit.claim(10)
    [again] = [c for c in claims if c.run.id == first.run.id]
    return again


def _parent(kit: Kit) -> Claim:
    from baton.core.retry import Retry

    kit.enqueue("total", [1, 2], retry=Retry(max_retries=3, wait_duration_ms=0))
    return kit.claim_one()


def test_retried_parent_gets_the_child_its_first_attempt_made(kit: Kit) -> None:
    first = _parent(kit)
    made = [_child(kit, first, i, i) for i in range(3)]

    again = _retried_parent(kit, first)
    remade = [_child(kit, again, i, i) for i in range(3)]

    assert remade == made
    assert len(kit.store.children(first.run.id)) == 3


def test_retried_parent_gets_a_fresh_child_for_a_different_input_or_order(kit: Kit) -> None:
    first = _parent(kit)
    a = _child(kit, first, 0, 1)
    b = _child(kit, first, 1, 2)

    again = _retried_parent(kit, first)

    assert _child(kit, again, 0, 2) not in (a, b)  # same order, other input
    assert _child(kit, again, 1, 2) == b


def test_retried_parent_gets_a_fresh_child_when_the_recorded_one_failed(kit: Kit) -> None:
    first = _parent(kit)
    old = _child(kit, first, 0, 1)
    [child_claim] = [c for c in kit.claim(10) if c.run.id == old]
    kit.store.finish_attempt(old, 0, WORKER, failed(retryable=False), now=utc())

    again = _retried_parent(kit, first)

    assert _child(kit, again, 0, 1) != old
    assert child_claim.run.id == old


def test_memoize_off_always_makes_a_fresh_child(kit: Kit) -> None:
    first = _parent(kit)
    old = _child(kit, first, 0, 1)

    again = _retried_parent(kit, first)

    assert _child(kit, again, 0, 1, memoize=False) != old


def test_claim_skips_paused_queue_task_and_tree(kit: Kit) -> None:
    square = kit.enqueue("square")
    total = kit.enqueue("total", [1, 2])

    assert kit.store.add_pause("queue", "")
    assert not kit.store.add_pause("queue", "")
    assert kit.claim(10) == []
    assert kit.store.remove_pause("queue", "")
    kit.store.add_pause("task", "wf/square")
    kit.store.add_pause("tree", total.id)
    assert kit.claim(10) == []
    kit.store.remove_pause("tree", total.id)

    assert [c.run.id for c in kit.claim(10)] == [total.id]
    kit.store.remove_pause("task", "wf/square")
    assert [c.run.id for c in kit.claim(10)] == [square.id]
    assert not kit.store.remove_pause("task", "wf/square")


def test_claim_takes_higher_priority_first(kit: Kit) -> None:
    low = kit.enqueue()
    high, _ = kit.store.enqueue(replace(kit.new(), priority=10))

    assert [c.run.id for c in kit.claim(2)] == [high.id, low.id]


def test_claim_honours_a_concurrency_key_in_one_batch_and_across_claims(kit: Kit) -> None:
    def keyed(key: str) -> str:
        new = replace(kit.new(), concurrency_key=key, concurrency_limit=1)
        return kit.store.enqueue(new)[0].id

    a1, a2, b1 = keyed("wf/square#a"), keyed("wf/square#a"), keyed("wf/square#b")

    first = [c.run.id for c in kit.claim(10)]
    assert first == [a1, b1]
    assert kit.claim(10) == []
    kit.store.finish_attempt(a1, 0, WORKER, ok(), now=utc())
    assert [c.run.id for c in kit.claim(10)] == [a2]


def test_out_of_memory_with_escalation_retries_on_the_next_plan(kit: Kit) -> None:
    new = replace(kit.new(), plan="starter", escalate_plans=True)
    run, _ = kit.store.enqueue(new)
    kit.claim_one()

    after = kit.store.finish_attempt(run.id, 0, WORKER, OOM, now=utc())

    assert after is not None
    assert (after.status, after.plan) == (RunStatus.PENDING, "standard")
    again = kit.claim_one()
    assert again.run.plan == "standard"
    assert [a.plan for a in kit.store.get_run(run.id).attempts] == ["starter", "standard"]


def test_out_of_memory_without_escalation_fails_on_its_plan(kit: Kit) -> None:
    run, _ = kit.store.enqueue(replace(kit.new(), plan="starter"))
    kit.claim_one()

    after = kit.store.finish_attempt(run.id, 0, WORKER, OOM, now=utc())

    assert after is not None
    assert (after.status, after.plan) == (RunStatus.FAILED, "starter")


def test_checkpoints_are_kept_per_run_and_only_the_running_attempt_writes(kit: Kit) -> None:
    run = kit.enqueue()
    kit.claim_one()

    kit.store.put_checkpoint(run.id, 0, "next", 3)
    kit.store.put_checkpoint(run.id, 0, "next", {"i": 4})
    kit.store.put_checkpoint(run.id, 0, "seen", [1, 2])

    assert kit.store.get_checkpoints(run.id) == {"next": {"i": 4}, "seen": [1, 2]}
    with pytest.raises(InvalidTransition):
        kit.store.put_checkpoint(run.id, 1, "next", 5)


def test_checkpoint_keys_are_limited_per_run(kit: Kit) -> None:
    run = kit.enqueue()
    kit.claim_one()
    for i in range(CHECKPOINT_MAX_KEYS):
        kit.store.put_checkpoint(run.id, 0, f"k{i}", i)

    with pytest.raises(InvalidInput, match="reuse a key"):
        kit.store.put_checkpoint(run.id, 0, "one-more", 1)
    kit.store.put_checkpoint(run.id, 0, "k0", "overwrite is fine")


def _schedule(kit: Kit, overlap: str = "skip") -> Schedule:
    return kit.store.add_schedule(
        Schedule(
            id="sch-1",
            workflow="wf",
            task_name="square",
            spec=ScheduleSpec("* * * * *", input=[3], overlap=overlap),
            source="api",
            paused=False,
            created_at=utc(),
        )
    )


def test_a_tick_fires_once_and_records_its_run(kit: Kit) -> None:
    schedule = _schedule(kit, "queue")
    tick = utc().replace(second=0, microsecond=0) + timedelta(minutes=1)

    first = kit.store.fire_tick(
        schedule.id, tick, replace(kit.new(), schedule_id="sch-1"), now=utc()
    )
    second = kit.store.fire_tick(
        schedule.id, tick, replace(kit.new(), schedule_id="sch-1"), now=utc()
    )

    assert (first.fired, first.outcome) == (True, "started")
    assert not second.fired
    assert kit.store.schedule_ticks(schedule.id) == [(tick, "started", first.run_id)]
    assert kit.store.get_schedule(schedule.id).last_tick_at == tick


def test_schedules_pause_list_and_delete(kit: Kit) -> None:
    schedule = _schedule(kit)

    assert kit.store.set_schedule_paused(schedule.id, True).paused
    assert [s.id for s in kit.store.list_schedules()] == [schedule.id]
    kit.store.delete_schedule(schedule.id)
    with pytest.raises(ScheduleNotFound):
        kit.store.get_schedule(schedule.id)
    with pytest.raises(ScheduleNotFound):
        kit.store.delete_schedule(schedule.id)


def test_code_schedules_follow_the_registered_version_and_keep_their_pause(kit: Kit) -> None:
    spec = ScheduleSpec("0 3 * * *", timezone="Europe/Paris")
    kit.store.sync_code_schedules("wf", {"square": spec}, now=utc())
    [made] = kit.store.list_schedules()
    kit.store.set_schedule_paused(made.id, True)

    kit.store.sync_code_schedules("wf", {"square": replace(spec, cron="0 4 * * *")}, now=utc())
    [kept] = kit.store.list_schedules()
    kit.store.sync_code_schedules("wf", {}, now=utc())

    assert (made.id, made.source, made.spec.timezone) == ("code:wf:square", "code", "Europe/Paris")
    assert (kept.paused, kept.spec.cron) == (True, "0 4 * * *")
    assert kit.store.list_schedules() == []


def test_retried_parent_gets_a_still_running_child_and_records_the_call(kit: Kit) -> None:
    first = _parent(kit)
    old = _child(kit, first, 0, 1)
    again = _retried_parent(kit, first)

    call = ChildCall("square", [1], None, None, 0, True)
    new = kit.new("square", [1], parent=again.run, parent_attempt=again.attempt)
    run, created = kit.store.create_child(again.run.id, again.attempt, call, new)

    assert (run.id, created, run.status) == (old, False, RunStatus.RUNNING)
    assert _child(kit, again, 1, 1) != old  # the next call of this attempt gets a new one


def test_enqueue_keeps_the_durable_options(kit: Kit) -> None:
    new = replace(kit.new(), priority=-5, concurrency_key="wf/square#1", concurrency_limit=3)

    run, _ = kit.store.enqueue(new)

    assert (run.priority, run.concurrency_key) == (-5, "wf/square#1")
    assert kit.store.get_run(run.id).priority == -5


def test_claim_orders_by_priority_then_age_and_still_honours_the_global_limit(kit: Kit) -> None:
    old_low = kit.enqueue()
    high = [kit.store.enqueue(replace(kit.new(), priority=5))[0].id for _ in range(2)]

    assert [c.run.id for c in kit.claim(10, limit=2)] == high
    assert kit.claim(10, limit=2) == []
    assert [c.run.id for c in kit.claim(10, limit=3)] == [old_low.id]


def test_out_of_memory_on_the_largest_plan_fails(kit: Kit) -> None:
    from baton.core.plans import PLANS

    top = list(PLANS)[-1]
    run, _ = kit.store.enqueue(replace(kit.new(), plan=top, escalate_plans=True))
    kit.claim_one()

    after = kit.store.finish_attempt(run.id, 0, WORKER, OOM, now=utc())

    assert after is not None and (after.status, after.plan) == (RunStatus.FAILED, top)


def test_pauses_are_listed_and_a_checkpoint_of_a_finished_attempt_is_refused(kit: Kit) -> None:
    kit.store.add_pause("task", "wf/square")
    kit.store.add_pause("queue", "")
    run = kit.enqueue("total")
    kit.store.remove_pause("queue", "")
    kit.claim_one()
    kit.store.finish_attempt(run.id, 0, WORKER, ok(), now=utc())

    assert [(p.scope, p.target) for p in kit.store.list_pauses()] == [("task", "wf/square")]
    with pytest.raises(InvalidTransition, match="not running"):
        kit.store.put_checkpoint(run.id, 0, "k", 1)
    assert kit.store.get_checkpoints(run.id) == {}
