"""Durable chains: memoized children across a parent's kill, checkpoints, deep fan-out under a
small concurrency limit, and a bigger plan after an out-of-memory kill."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from e2e_support import StartEngine, final_run, poll

from baton.core.models import RunStatus
from baton.server import Engine


async def _kill_parent_after_children(engine: Engine, root_id: str, n: int) -> int:
    """Wait until the parent has started ``n`` children, then ``kill -9`` its process."""
    await poll(
        lambda: len(engine.store.children(root_id)) == n,
        timeout_s=60,
        what=f"{n} children",
    )
    pid = await poll(
        lambda: engine.store.get_run(root_id).attempts[0].pid,
        timeout_s=30,
        what="the parent's pid",
    )
    os.kill(pid, signal.SIGKILL)
    return pid


async def test_parent_killed_after_50_children_is_retried_without_a_51st_child(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    # 25 children wait for the gate, which opens only once the parent's second attempt has
    # started: the limit leaves that attempt a slot however many children are running when
    # the first one is killed.
    engine = await start_engine("durable_flows", concurrency=30)
    gate = tmp_path / "gate"

    root = engine.services.start_run("durable_flows/fan_parent", [50, str(gate)])
    await _kill_parent_after_children(engine, root.id, 50)
    await poll(
        lambda: engine.store.get_run(root.id).attempt_count >= 2,
        timeout_s=30,
        what="the parent's second attempt",
    )
    gate.write_text("open")
    done = await final_run(engine, root.id, timeout_s=90)

    assert done.status == RunStatus.COMPLETED, done.error
    assert done.results == [sum(2 * i for i in range(50))]
    assert [a.status for a in done.attempts] == ["failed", "completed"]
    assert done.attempts[0].error_type == "ProcessExited"
    children = engine.store.children(root.id)
    assert len(children) == 50
    assert {c.status for c in children} == {RunStatus.COMPLETED}
    assert {c.parent_attempt for c in children} == {0}


async def test_parent_with_memoize_off_starts_fresh_children_on_retry(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("durable_flows")
    gate = tmp_path / "gate"

    root = engine.services.start_run("durable_flows/fan_parent_fresh", [4, str(gate)])
    await _kill_parent_after_children(engine, root.id, 4)
    await poll(
        lambda: len(engine.store.children(root.id)) == 8,
        timeout_s=30,
        what="the retried parent's fresh children",
    )
    gate.write_text("open")
    done = await final_run(engine, root.id, timeout_s=60)

    assert done.status == RunStatus.COMPLETED, done.error
    assert done.results == [12]
    children = engine.store.children(root.id)
    assert sorted(c.parent_attempt for c in children) == [0, 0, 0, 0, 1, 1, 1, 1]


async def test_context_loop_killed_halfway_resumes_from_its_checkpoint(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("durable_flows")
    log = tmp_path / "items.log"

    run = engine.services.start_run("durable_flows/checkpointed_loop", [20, str(log)])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.COMPLETED, done.error
    assert len(done.attempts) == 2
    assert log.read_text().split() == [str(i) for i in range(20)]
    assert engine.store.get_checkpoints(run.id) == {"next": 20}


async def test_plain_loop_killed_halfway_resumes_through_module_helpers(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("durable_flows")
    log = tmp_path / "items.log"

    run = engine.services.start_run("durable_flows/checkpointed_loop_plain", [10, str(log)])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.COMPLETED, done.error
    assert len(done.attempts) == 2
    assert log.read_text().split() == [str(i) for i in range(10)]


async def test_three_level_chain_of_100_leaves_completes_with_concurrency_two(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("durable_flows", concurrency=2)

    root = engine.services.start_run("durable_flows/tree", [10])
    done = await final_run(engine, root.id, timeout_s=110)

    assert done.status == RunStatus.COMPLETED, done.error
    assert done.results == [sum(range(100))]
    branches = engine.store.children(root.id)
    assert len(branches) == 10
    leaves = [leaf for b in branches for leaf in engine.store.children(b.id)]
    assert len(leaves) == 100
    assert {leaf.status for leaf in leaves} == {RunStatus.COMPLETED}


async def test_task_over_its_starter_memory_succeeds_on_standard_after_escalation(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("durable_flows")

    run = engine.services.start_run("durable_flows/needs_a_gigabyte", [])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.COMPLETED, done.error
    assert done.results == [1024**3]
    assert [a.plan for a in done.attempts] == ["starter", "standard"]
    assert done.attempts[0].error_type == "OutOfMemory"
    assert done.plan == "standard"


async def test_task_without_escalation_fails_out_of_memory_on_its_plan(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("durable_flows")

    run = engine.services.start_run("durable_flows/needs_a_gigabyte_no_escalation", [])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.FAILED
    assert done.error_type == "OutOfMemory"
    assert [a.plan for a in done.attempts] == ["starter"]
