"""Schedules across two servers, pausing the queue, idempotency keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from e2e_support import StartEngine, final_run, poll

from baton.core.durable import ScheduleSpec
from baton.core.models import RunStatus
from baton.scheduler.cron import CronScheduler
from baton.server import Engine
from baton.store import RunFilter


class FakeClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
async def second_server(tmp_path: Path) -> AsyncIterator[Engine]:
    """Another engine (no worker) on the same SQLite file as ``start_engine``'s."""
    engine = Engine(f"sqlite:///{tmp_path / 'baton.db'}", worker=False, scheduler=False)
    yield engine
    await engine.stop()


def _schedule_runs(engine: Engine, schedule_id: str) -> list[str]:
    rows = engine.store.list_runs(RunFilter(roots_only=True), limit=100)
    return [run.id for run, _ in rows if run.schedule_id == schedule_id]


async def test_every_second_schedule_on_two_servers_fires_each_tick_once(
    start_engine: StartEngine, second_server: Engine
) -> None:
    first = await start_engine("durable_flows", scheduler=False)  # the test drives the clock
    schedule = first.services.create_schedule(
        "durable_flows/tick", ScheduleSpec("* * * * * *", input=["s"], overlap="queue")
    )
    clock = FakeClock(schedule.created_at.replace(microsecond=0) + timedelta(seconds=1))
    servers = [
        CronScheduler(first.services, clock=clock),
        CronScheduler(second_server.services, clock=clock),
    ]

    fired = []
    for _ in range(5):
        for server in servers:
            fired += server.run_due()
        clock.advance(1)

    assert len(fired) == 5
    runs = _schedule_runs(first, schedule.id)
    assert len(runs) == 5
    ticks = first.store.schedule_ticks(schedule.id)
    assert len(ticks) == 5
    assert sorted(run_id for _, _, run_id in ticks if run_id) == sorted(runs)
    for run_id in runs:
        assert (await final_run(first, run_id)).results == ["s"]


@pytest.mark.slow
async def test_two_live_scheduler_loops_never_fire_a_tick_twice(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    first = await start_engine("durable_flows")
    second = Engine(f"sqlite:///{tmp_path / 'baton.db'}", worker=False)
    await second.start()
    try:
        schedule = first.services.create_schedule(
            "durable_flows/tick", ScheduleSpec("* * * * * *", overlap="queue")
        )
        await poll(
            lambda: len(first.store.schedule_ticks(schedule.id)) >= 5,
            timeout_s=30,
            what="5 ticks",
        )
        first.services.pause_schedule(schedule.id)
    finally:
        await second.stop()
    ticks = first.store.schedule_ticks(schedule.id, limit=100)
    runs = _schedule_runs(first, schedule.id)
    assert len({at for at, _, _ in ticks}) == len(ticks)
    assert len(runs) == len(ticks) >= 5


async def test_schedule_catches_up_ticks_inside_its_window_only(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("durable_flows", scheduler=False)
    schedule = engine.services.create_schedule(
        "durable_flows/tick", ScheduleSpec("* * * * *", overlap="queue", catchup_s=300)
    )
    clock = FakeClock(schedule.created_at + timedelta(hours=1))  # an hour of downtime
    fired = CronScheduler(engine.services, clock=clock).run_due()

    assert len(fired) == 5
    assert {r.outcome for r in fired} == {"started"}


@pytest.mark.parametrize(
    ("overlap", "runs", "outcomes"),
    [
        ("skip", 1, ["skipped", "skipped", "started"]),
        ("queue", 3, ["started", "started", "started"]),
        ("cancel", 3, ["started", "started", "started"]),
    ],
)
async def test_overlap_policy_decides_what_a_tick_does_while_a_run_is_active(
    second_server: Engine,
    start_engine: StartEngine,
    overlap: str,
    runs: int,
    outcomes: list[str],
) -> None:
    await start_engine("durable_flows", scheduler=False)  # registers the workflow
    engine = second_server  # no worker: every run stays pending, so ticks overlap
    schedule = engine.services.create_schedule(
        "durable_flows/tick", ScheduleSpec("* * * * *", overlap=overlap)
    )
    engine.services.pause("task", "durable_flows/tick")  # keep the other engine's worker off
    clock = FakeClock(schedule.created_at)
    scheduler = CronScheduler(engine.services, clock=clock)
    for _ in range(3):
        clock.advance(60)
        scheduler.run_due()

    ticks = engine.store.schedule_ticks(schedule.id)
    assert [outcome for _, outcome, _ in ticks] == outcomes
    started = _schedule_runs(engine, schedule.id)
    assert len(started) == runs
    statuses = sorted(str(r.status) for r in engine.store.get_runs(started))
    if overlap == "cancel":
        assert statuses == ["canceled", "canceled", "pending"]


async def test_paused_queue_starts_nothing_until_resumed(start_engine: StartEngine) -> None:
    engine = await start_engine("durable_flows")
    engine.services.pause("queue")

    run = engine.services.start_run("durable_flows/leaf", [7])

    assert engine.services.claim("probe-worker", 5) == []
    assert engine.store.get_run(run.id).status == RunStatus.PENDING
    engine.services.resume("queue")
    done = await final_run(engine, run.id)
    assert done.results == [7]


async def test_paused_state_survives_a_restart(start_engine: StartEngine, tmp_path: Path) -> None:
    engine = await start_engine("durable_flows")
    engine.services.pause("task", "durable_flows/leaf")
    await engine.stop()

    again = Engine(f"sqlite:///{tmp_path / 'baton.db'}", worker=False, scheduler=False)
    try:
        pauses = [(p.scope, p.target) for p in again.services.list_pauses()]
        run = again.services.start_run("durable_flows/leaf", [1])
        other = again.services.start_run("durable_flows/tick", ["x"])
        claimed = [c.run.id for c in again.services.claim("probe-worker", 5)]
    finally:
        await again.stop()
    assert pauses == [("task", "durable_flows/leaf")]
    assert claimed == [other.id]
    assert run.id not in claimed


async def test_duplicate_idempotency_key_returns_the_first_run(start_engine: StartEngine) -> None:
    engine = await start_engine("durable_flows")

    first = engine.services.start_run("durable_flows/leaf", [1], idempotency_key="order-42")
    again = engine.services.start_run("durable_flows/leaf", [2], idempotency_key="order-42")
    other = engine.services.start_run("durable_flows/leaf", [3], idempotency_key="order-43")

    assert again.id == first.id
    assert other.id != first.id


async def test_task_schedule_in_code_is_registered_with_its_workflow(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("durable_flows", scheduler=False)

    [schedule] = engine.services.list_schedules()

    assert (schedule.id, schedule.source, schedule.slug) == (
        "code:durable_flows:nightly",
        "code",
        "durable_flows/nightly",
    )
    assert (schedule.spec.cron, schedule.spec.timezone, schedule.spec.input) == (
        "0 3 * * *",
        "Europe/Paris",
        ["nightly"],
    )
