"""Schedule ticks of the Store contract: overlap policies, paused schedules, missing tasks,
and the tick history."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from store_kit import Kit, utc

from baton.core.durable import Schedule, ScheduleSpec, TickResult
from baton.core.models import RunStatus


def _schedule(kit: Kit, overlap: str, *, paused: bool = False) -> Schedule:
    return kit.store.add_schedule(
        Schedule(
            id=f"sch-{overlap}",
            workflow="wf",
            task_name="square",
            spec=ScheduleSpec("* * * * *", input=[3], overlap=overlap),
            source="api",
            paused=paused,
            created_at=utc(),
        )
    )


def _tick(minutes: int) -> datetime:
    return utc().replace(second=0, microsecond=0) + timedelta(minutes=minutes)


def _fire(kit: Kit, schedule: Schedule, minutes: int) -> TickResult:
    new = replace(kit.new(), schedule_id=schedule.id)
    return kit.store.fire_tick(schedule.id, _tick(minutes), new, now=utc())


def test_skip_overlap_starts_nothing_while_the_last_run_is_active(kit: Kit) -> None:
    schedule = _schedule(kit, "skip")

    first, second = _fire(kit, schedule, 1), _fire(kit, schedule, 2)

    assert (first.outcome, second.outcome, second.run_id) == ("started", "skipped", None)
    assert kit.store.get_run(first.run_id or "").schedule_id == schedule.id
    assert [t[1] for t in kit.store.schedule_ticks(schedule.id)] == ["skipped", "started"]
    assert kit.store.get_schedule(schedule.id).last_tick_at == _tick(2)


def test_cancel_overlap_cancels_the_active_tree_and_starts_a_new_run(kit: Kit) -> None:
    schedule = _schedule(kit, "cancel")
    first = _fire(kit, schedule, 1)

    second = _fire(kit, schedule, 2)

    assert second.outcome == "started" and second.canceled_ids == (first.run_id,)
    assert kit.store.get_run(first.run_id or "").status == RunStatus.CANCELED
    assert kit.store.get_run(second.run_id or "").status == RunStatus.PENDING


def test_queue_overlap_starts_a_run_per_tick(kit: Kit) -> None:
    schedule = _schedule(kit, "queue")

    results = [_fire(kit, schedule, m) for m in (1, 2, 3)]

    assert [r.outcome for r in results] == ["started"] * 3
    assert len({r.run_id for r in results}) == 3
    assert [t[0] for t in kit.store.schedule_ticks(schedule.id, limit=2)] == [_tick(3), _tick(2)]


def test_a_paused_schedule_or_a_missing_task_records_the_tick_without_a_run(kit: Kit) -> None:
    paused = _schedule(kit, "skip", paused=True)
    schedule = _schedule(kit, "queue")

    assert _fire(kit, paused, 1).outcome == "paused"
    missing = kit.store.fire_tick(schedule.id, _tick(1), None, now=utc())

    assert (missing.fired, missing.outcome, missing.run_id) == (True, "missing_task", None)
    assert kit.store.schedule_ticks(paused.id) == [(_tick(1), "paused", None)]
    assert kit.store.queue_stats().pending == 0


def test_deleting_a_schedule_forgets_its_ticks(kit: Kit) -> None:
    schedule = _schedule(kit, "queue")
    _fire(kit, schedule, 1)

    kit.store.delete_schedule(schedule.id)
    again = _schedule(kit, "queue")

    assert kit.store.schedule_ticks(again.id) == []
    assert _fire(kit, again, 1).fired
