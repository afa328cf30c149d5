"""Durable options: schedule specs, cron ticks, concurrency groups, plan escalation, and the
task options on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from baton import Workflows
from baton.core.durable import ScheduleSpec, concurrency_group, cron_ticks, next_plan
from baton.core.models import TaskDef
from baton.sdk.checkpoint import encode


def test_schedule_spec_rejects_bad_cron_timezone_and_overlap() -> None:
    with pytest.raises(ValueError, match="invalid cron expression"):
        ScheduleSpec("every five minutes")
    with pytest.raises(ValueError, match="unknown timezone"):
        ScheduleSpec("* * * * *", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="overlap must be one of skip, queue, cancel"):
        ScheduleSpec("* * * * *", overlap="pile-up")
    with pytest.raises(ValueError, match="catchup_s"):
        ScheduleSpec("* * * * *", catchup_s=-1)


def test_cron_ticks_follow_the_schedule_timezone() -> None:
    spec = ScheduleSpec("0 3 * * *", timezone="Europe/Paris")
    after = datetime(2026, 7, 1, tzinfo=UTC)

    ticks = cron_ticks(spec, after, datetime(2026, 7, 3, tzinfo=UTC))

    assert [t.astimezone(UTC).hour for t in ticks] == [1, 1]  # 03:00 CEST is 01:00 UTC


def test_cron_ticks_support_seconds_and_keep_the_latest_when_many() -> None:
    spec = ScheduleSpec("* * * * * *")
    after = datetime(2026, 1, 1, tzinfo=UTC)

    ticks = cron_ticks(spec, after, datetime(2026, 1, 1, 1, tzinfo=UTC))

    assert len(ticks) == 100
    assert ticks[-1] == datetime(2026, 1, 1, 1, tzinfo=UTC)


def test_concurrency_group_keys_runs_by_an_input_field() -> None:
    app = Workflows()

    @app.task(concurrency_key="customer_id")
    def charge(customer_id: str, cents: int) -> int:
        return cents

    [task] = app.task_defs()

    assert concurrency_group("wf", task, ["c-1", 5]) == ('wf/charge#"c-1"', 1)
    assert concurrency_group("wf", task, {"customer_id": "c-1", "cents": 5}) == (
        'wf/charge#"c-1"',
        1,
    )
    assert concurrency_group("wf", TaskDef("plain"), [1]) == (None, None)


def test_next_plan_climbs_one_step_and_stops_at_the_top() -> None:
    assert next_plan("starter") == "standard"
    assert next_plan("pro_ultra") is None


def test_durable_task_options_round_trip_on_the_wire() -> None:
    app = Workflows()

    @app.task(
        memoize=False,
        priority=7,
        concurrency=3,
        concurrency_key="k",
        escalate_plans=True,
        plan="starter",
        schedule={"cron": "*/5 * * * *", "timezone": "Europe/Paris", "input": ["x"]},
    )
    def job(k: str) -> str:
        return k

    [task] = app.task_defs()
    options = TaskDef.from_wire(task.to_wire()).options

    assert options == task.options
    assert (options.memoize, options.priority, options.concurrency) == (False, 7, 3)
    assert options.schedule == {
        "cron": "*/5 * * * *",
        "timezone": "Europe/Paris",
        "input": ["x"],
        "overlap": "skip",
        "catchup_s": 60.0,
    }


def test_default_options_add_nothing_to_the_wire() -> None:
    app = Workflows()

    @app.task
    def job() -> None:
        return None

    assert app.task_defs()[0].to_wire()["options"] == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"priority": 5000}, "priority must be from -1000 to 1000"),
        ({"concurrency": 0}, "concurrency must be a positive int"),
        ({"schedule": "nope"}, "invalid cron expression"),
        ({"schedule": {"cron": "* * * * *", "every": 1}}, "unknown schedule option"),
    ],
)
def test_bad_durable_options_fail_at_decoration(kwargs: dict[str, object], message: str) -> None:
    app = Workflows()
    with pytest.raises(ValueError, match=message):
        app.task(**kwargs)  # type: ignore[call-overload]


def test_checkpoint_values_over_one_mebibyte_are_refused_with_advice() -> None:
    with pytest.raises(ValueError, match="limit is 1 MiB per key: store a reference"):
        encode("big", "x" * (1024 * 1024 + 1))
    with pytest.raises(ValueError, match="non-empty string"):
        encode("", 1)
    assert encode("ok", (1, 2)) == [1, 2]


async def test_local_context_keeps_checkpoints_in_memory() -> None:
    from baton import TaskContext

    ctx = TaskContext()
    await ctx.checkpoint("next", {"i": 3})

    assert ctx.restore("next") == {"i": 3}
    assert ctx.restore("missing", 0) == 0


async def test_module_helpers_outside_a_run_store_nothing() -> None:
    from baton import checkpoint, restore

    await checkpoint("next", 3)

    assert restore("next", "default") == "default"
