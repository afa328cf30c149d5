"""Chained runs: results flow back to the parent, the tree is recorded, nothing deadlocks."""

from __future__ import annotations

from e2e_support import StartEngine, final_run

from baton.core.models import RunStatus
from baton.store import RunFilter


async def test_sum_squares_returns_25_through_two_child_runs(start_engine: StartEngine) -> None:
    engine = await start_engine("chain_flows")

    root = engine.services.start_run("chain_flows/sum_squares", [3, 4])
    done = await final_run(engine, root.id)

    assert done.status == RunStatus.COMPLETED
    assert done.results == [25]
    children = engine.store.children(root.id)
    assert sorted(c.results[0] for c in children) == [9, 16]
    assert all(c.task_name == "calculate_square" for c in children)
    assert all(c.status == RunStatus.COMPLETED for c in children)


async def test_chained_runs_record_parent_and_root_ids(start_engine: StartEngine) -> None:
    engine = await start_engine("chain_flows")

    root = engine.services.start_run("chain_flows/sum_squares", [3, 4])
    await final_run(engine, root.id)

    tree = [run for run, _ in engine.store.list_runs(RunFilter(root_id=[root.id]), limit=10)]
    assert len(tree) == 3
    by_id = {run.id: run for run in tree}
    assert by_id[root.id].parent_id is None
    assert by_id[root.id].root_id == root.id
    children = [run for run in tree if run.id != root.id]
    assert {c.parent_id for c in children} == {root.id}
    assert {c.root_id for c in children} == {root.id}
    assert {c.parent_attempt for c in children} == {0}


async def test_each_chained_run_has_its_own_process(start_engine: StartEngine) -> None:
    engine = await start_engine("chain_flows")

    root = engine.services.start_run("chain_flows/sum_squares", [3, 4])
    done = await final_run(engine, root.id)

    runs = [done, *engine.store.children(root.id)]
    pids = [run.attempts[0].pid for run in runs]
    assert all(len(run.attempts) == 1 for run in runs)
    assert None not in pids
    assert len(set(pids)) == 3, f"runs shared a process: {pids}"


async def test_three_level_chain_completes_with_concurrency_one(start_engine: StartEngine) -> None:
    engine = await start_engine("chain_flows", concurrency=1)

    root = engine.services.start_run("chain_flows/root", [4])
    done = await final_run(engine, root.id)

    assert done.status == RunStatus.COMPLETED
    assert done.results == [51]  # leaf((4 + 1) * 10)
    (mid,) = engine.store.children(root.id)
    (leaf,) = engine.store.children(mid.id)
    assert (mid.task_name, leaf.task_name) == ("mid", "leaf")
    assert leaf.root_id == root.id


async def test_parent_gathering_200_children_completes_with_concurrency_four(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("chain_flows", concurrency=4)

    root = engine.services.start_run("chain_flows/fan_sum", [200])
    done = await final_run(engine, root.id, timeout_s=90)

    assert done.status == RunStatus.COMPLETED, done.error
    assert done.results == [sum(range(200))]
    children = engine.store.children(root.id)
    assert len(children) == 200
    assert {c.status for c in children} == {RunStatus.COMPLETED}
