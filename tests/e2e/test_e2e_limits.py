"""Limits: a task past its timeout or its plan's memory is killed and fails with the cause."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_support import StartEngine, final_run, process_gone

from baton.core.models import RunStatus


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_task_past_its_timeout_fails_and_its_process_is_killed(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("limits_flows")
    pid_file = tmp_path / "sleeper.pid"

    run = engine.services.start_run("limits_flows/oversleeps", [str(pid_file)])
    done = await final_run(engine, run.id, timeout_s=75)

    assert done.status == RunStatus.FAILED
    assert done.error_type == "Timeout"
    assert "timed out after 30 s" in (done.error or "")
    assert len(done.attempts) == 1
    assert done.attempts[0].completed_at is not None
    elapsed = (done.attempts[0].completed_at - done.attempts[0].started_at).total_seconds()
    print(f"timed out after {elapsed:.1f} s")
    assert elapsed >= 30
    pid = int(pid_file.read_text())
    assert done.attempts[0].pid == pid
    assert process_gone(pid)


async def test_task_allocating_past_its_plan_fails_out_of_memory(start_engine: StartEngine) -> None:
    engine = await start_engine("limits_flows")

    run = engine.services.start_run("limits_flows/allocates_a_gigabyte", [])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.FAILED
    assert done.error_type == "OutOfMemory"
    assert len(done.attempts) == 1


async def test_task_resident_past_its_plan_is_killed_out_of_memory(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("limits_flows")

    run = engine.services.start_run("limits_flows/fills_a_gigabyte_of_shared_memory", [])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.FAILED
    assert done.error_type == "OutOfMemory"
    assert "starter" in (done.error or "")
    assert len(done.attempts) == 1
    assert done.attempts[0].pid is not None
    assert process_gone(done.attempts[0].pid)


def _cpu_cgroups_writable() -> bool:
    from baton.executor.cgroups import CpuLimits

    limits = CpuLimits.detect("baton-probe")
    if limits is None:
        return False
    limits.close()
    return True


@pytest.mark.skipif(
    not _cpu_cgroups_writable(), reason="no writable cgroup hierarchy with the cpu controller"
)
async def test_plan_cpus_become_the_attempt_cgroup_quota(start_engine: StartEngine) -> None:
    # starter is 0.5 CPU: a quota of half the period. pro (2 CPUs) has the whole machine
    # here (2 cores), so it runs without a limit.
    engine = await start_engine("limits_flows")

    starter = engine.services.start_run("limits_flows/starter_cpu_quota", [])
    pro = engine.services.start_run("limits_flows/pro_cpu_quota", [])

    done = await final_run(engine, starter.id)
    assert done.status == RunStatus.COMPLETED, done.error
    assert done.results == [[50_000, 100_000]]
    other = await final_run(engine, pro.id)
    assert other.status == RunStatus.COMPLETED, other.error
    if (os.cpu_count() or 1) <= 2:
        assert other.results == [[]]
