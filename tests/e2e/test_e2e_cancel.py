"""Canceling a root stops its whole tree: every run canceled, every process killed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from e2e_support import StartEngine, poll, process_gone

from baton.core.models import RunStatus
from baton.store import RunFilter

CHILDREN = 20


async def test_cancel_root_kills_all_20_sleeping_children_promptly(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("fanout_flows")
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()

    root = engine.services.start_run("fanout_flows/fans_out", [str(pid_dir), CHILDREN])

    def all_children_sleeping() -> bool:
        children = engine.store.children(root.id)
        return (
            len(children) == CHILDREN
            and all(c.status == RunStatus.RUNNING for c in children)
            and all(c.attempts and c.attempts[-1].pid for c in children)
            and len(list(pid_dir.glob("*.pid"))) == CHILDREN
        )

    await poll(all_children_sleeping, timeout_s=60, what=f"{CHILDREN} children to be running")
    child_pids = [int(p.read_text()) for p in pid_dir.glob("*.pid")]
    root_pid = engine.services.get_run(root.id).attempts[0].pid
    assert root_pid is not None
    recorded = {c.attempts[-1].pid for c in engine.store.children(root.id)}
    assert recorded == set(child_pids)

    loop = asyncio.get_running_loop()
    canceled_at = loop.time()
    canceled = engine.services.cancel_run(root.id)

    def tree_stopped() -> bool:
        tree = [run for run, _ in engine.store.list_runs(RunFilter(root_id=[root.id]), limit=100)]
        return (
            len(tree) == CHILDREN + 1
            and all(run.status == RunStatus.CANCELED for run in tree)
            and all(process_gone(pid) for pid in [root_pid, *child_pids])
        )

    await poll(tree_stopped, timeout_s=5, what="the canceled tree's processes to exit")
    took = loop.time() - canceled_at
    print(f"cancel: {CHILDREN + 1} runs canceled and their processes gone in {took:.3f} s")
    assert {run.id for run in canceled} == {root.id} | {
        c.id for c in engine.store.children(root.id)
    }


async def test_canceled_runs_record_canceled_attempts(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("fanout_flows")
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    root = engine.services.start_run("fanout_flows/fans_out", [str(pid_dir), 2])
    await poll(
        lambda: len(list(pid_dir.glob("*.pid"))) == 2, timeout_s=30, what="2 children to start"
    )

    engine.services.cancel_run(root.id)

    for run in [engine.services.get_run(root.id), *engine.store.children(root.id)]:
        assert run.status == RunStatus.CANCELED
        assert run.error_type == "Canceled"
        assert [a.status for a in run.attempts] == ["canceled"]


async def test_cancel_right_after_claim_stops_the_attempt_process(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("fanout_flows")
    loop = asyncio.get_running_loop()
    run = engine.services.start_run("fanout_flows/naps", [str(tmp_path), 0])

    # Cancel in the gap between the claim and the attempt process starting.
    deadline = loop.time() + 30
    while engine.store.get_run(run.id, attempts=False).status != RunStatus.RUNNING:
        assert loop.time() < deadline, "the run was never claimed"
        await asyncio.sleep(0)
    engine.services.cancel_run(run.id)

    deadline = loop.time() + 5
    while True:
        (attempt,) = engine.services.get_run(run.id).attempts
        if attempt.pid is not None and process_gone(attempt.pid):
            break  # the engine started the process and killed it
        if loop.time() >= deadline:
            # Acceptable only if the engine never started a process for the canceled run.
            assert attempt.pid is None, f"process {attempt.pid} of a canceled run is alive"
            assert not (tmp_path / "0.pid").exists(), "a canceled run's task code ran"
            break
        await asyncio.sleep(0.02)
    assert engine.services.get_run(run.id).status == RunStatus.CANCELED
