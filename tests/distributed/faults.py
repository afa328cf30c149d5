"""The fault-test workload and its checks: 300 roots (chained, fanned out, plain) on a cluster,
faults injected while they run, then every invariant checked in the database."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable

import httpx
from cluster import Cluster, Proc, start_run

from baton.core.models import Run
from baton.store import RunFilter, open_store

TASKS = ("chain", "fan", "work")


def expected(task: str, i: int) -> int:
    if task == "chain":
        return i + (i + 1)
    if task == "fan":
        return sum(i * 10 + k for k in range(3))
    return i


def submit(cluster: Cluster, servers: list[Proc], n: int) -> dict[str, tuple[str, int]]:
    """Start ``n`` roots round-robin over ``servers``; ``{run_id: (task, i)}``."""
    runs: dict[str, tuple[str, int]] = {}
    clients = [httpx.Client(base_url=s.url, headers=cluster.headers, timeout=30) for s in servers]
    try:
        for k, client in zip(range(n), itertools.cycle(clients)):
            task, i = TASKS[k % 3], k
            runs[start_run(client, f"faults/{task}", [i])] = (task, i)
    finally:
        for client in clients:
            client.close()
    return runs


def count_final(db_url: str, ids: list[str]) -> int:
    store = open_store(db_url)
    try:
        return sum(1 for r in store.get_runs(ids) if r.status.is_final)
    finally:
        store.close()


def wait_progress(db_url: str, ids: list[str], done: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while count_final(db_url, ids) < done:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {done} of {len(ids)} runs final after {timeout_s} s")
        time.sleep(0.2)


def kill_a_run_process(db_url: str) -> bool:
    """``kill -9`` one live attempt process (they run on this machine); True if one was."""
    store = open_store(db_url)
    try:
        for run, _ in store.list_runs(RunFilter(status=["running"]), limit=50):
            for attempt in store.get_run(run.id).attempts:
                if attempt.status == "running" and attempt.pid:
                    try:
                        os.kill(attempt.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        continue
                    return True
    finally:
        store.close()
    return False


def check_invariants(
    db_url: str, roots: dict[str, tuple[str, int]], logs: Callable[[], str]
) -> None:
    """Every root final and completed with the right result, each completed run with exactly
    one completed attempt, no chained call started twice, and the counts adding up."""
    store = open_store(db_url)
    try:
        runs = store.get_runs(list(roots))
        statuses = Counter(str(r.status) for r in runs)
        assert sum(statuses.values()) == len(roots)
        not_done = [(r.id, r.status, r.error) for r in runs if r.status != "completed"]
        assert not not_done, f"{statuses}: {not_done[:5]}\n{logs()}"
        for run in runs:
            task, i = roots[run.id]
            assert run.results == [expected(task, i)], (run.id, run.results)
        children_total = 0
        for run in runs:
            kids = store.children(run.id)
            # One child per chained call, whatever the parent's attempts: a retried parent gets
            # the child an earlier attempt started for the same call (memoized children).
            calls = Counter((k.task_name, json.dumps(k.input)) for k in kids)
            assert all(n == 1 for n in calls.values()), f"child started twice: {run.id} {calls}"
            full = store.get_run(run.id)
            (done,) = [a.attempt for a in full.attempts if a.status == "completed"]
            used = store.get_runs(_call_children(db_url, run.id, done))
            want = {"chain": 2, "fan": 3, "work": 0}[roots[run.id][0]]
            assert len(used) == want, (run.id, len(used))
            children_total += len(used)
            for one in [run, *used]:
                _assert_one_result(store.get_run(one.id))
        if len(roots) == 300:
            assert children_total == 100 * 2 + 100 * 3
        stats = store.queue_stats()
        assert stats.pending == 0 and stats.running == 0, stats
    finally:
        store.close()


def _call_children(db_url: str, parent_id: str, attempt: int) -> list[str]:
    """The child each chained call of the parent's attempt got (the store's call records)."""
    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT child_id FROM calls WHERE parent_id = %s AND parent_attempt = %s "
            "ORDER BY call_index",
            (parent_id, attempt),
        ).fetchall()
    return [row[0] for row in rows]


def _assert_one_result(run: Run) -> None:
    assert run.status == "completed", (run.id, run.status, run.error)
    completed = [a for a in run.attempts if a.status == "completed"]
    assert len(completed) == 1, (run.id, [(a.attempt, a.status) for a in run.attempts])
    assert run.output == completed[0].output
