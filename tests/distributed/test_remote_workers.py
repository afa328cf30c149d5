"""Remote workers over HTTP against a SQLite-backed ``baton serve --no-worker``."""

from __future__ import annotations

import httpx
import pytest
from cluster import FIXTURES, Cluster, start_run, wait_until

from baton.core.models import decode_output
from baton.store import open_store

pytestmark = pytest.mark.slow


def _final(client: httpx.Client, run_id: str) -> dict[str, object]:
    body: dict[str, object] = client.get(f"/v1/task-runs/{run_id}").json()
    return body if body["status"] in ("completed", "failed", "canceled") else {}


def test_two_remote_workers_run_chained_and_fanned_out_runs(sqlite_cluster: Cluster) -> None:
    server = sqlite_cluster.server(
        "--app", str(FIXTURES / "chain_flows.py"), "--name", "chain_flows"
    )
    sqlite_cluster.worker(server, slots=4)
    sqlite_cluster.worker(server, slots=4)
    with httpx.Client(base_url=server.url, headers=sqlite_cluster.headers, timeout=30) as client:
        runs = {
            start_run(client, "chain_flows/root", [2]): 31,
            start_run(client, "chain_flows/sum_squares", [3, 4]): 25,
            start_run(client, "chain_flows/fan_sum", [20]): 190,
        }
        runs.update(
            {start_run(client, "chain_flows/calculate_square", [i]): i * i for i in range(20)}
        )
        for run_id, expected in runs.items():
            body = wait_until(lambda rid=run_id: _final(client, rid), timeout_s=90, what=run_id)
            assert body["status"] == "completed", (body, sqlite_cluster.logs())
            assert body["results"] == [expected]
    store = open_store(sqlite_cluster.db_url)
    try:
        run = store.get_run(next(iter(runs)))
        assert decode_output(run.output) == [31]
        workers = {a.worker_id for rid in runs for a in store.get_run(rid).attempts}
    finally:
        store.close()
    assert len(workers) == 2, "both workers should have run attempts"


def test_worker_with_a_wrong_token_exits_with_a_clear_error(sqlite_cluster: Cluster) -> None:
    server = sqlite_cluster.server()
    sqlite_cluster.token = "bat_wrong"
    proc = sqlite_cluster.worker(server)
    proc.popen.wait(timeout=30)
    assert proc.popen.returncode == 1
    assert "refused the worker's API token" in proc.output()


def test_workers_with_disjoint_plans_claim_only_their_plans(sqlite_cluster: Cluster) -> None:
    server = sqlite_cluster.server("--app", str(FIXTURES / "plan_flows.py"), "--name", "plan_flows")
    small_worker = sqlite_cluster.worker(server, slots=4, name="small", plans="starter")
    big_worker = sqlite_cluster.worker(server, slots=4, name="big", plans="pro,pro_plus")
    with httpx.Client(base_url=server.url, headers=sqlite_cluster.headers, timeout=30) as client:
        runs = {start_run(client, "plan_flows/small", [i]): i * 100 + 1 for i in range(4)}
        runs.update({start_run(client, "plan_flows/big", [i]): i * 100 for i in range(4)})
        for run_id, expected in runs.items():
            body = wait_until(lambda rid=run_id: _final(client, rid), timeout_s=90, what=run_id)
            assert body["status"] == "completed", (body, sqlite_cluster.logs())
            assert body["results"] == [expected]
    store = open_store(sqlite_cluster.db_url)
    try:
        by_plan: dict[str, set[str]] = {}
        for root_id in runs:
            for run in [store.get_run(root_id), *store.children(root_id)]:
                workers = {a.worker_id for a in run.attempts}
                by_plan.setdefault(run.plan, set()).update(workers)
    finally:
        store.close()
    assert set(by_plan) == {"starter", "pro"}
    assert len(by_plan["starter"]) == 1
    assert len(by_plan["pro"]) == 1
    assert by_plan["starter"].isdisjoint(by_plan["pro"]), by_plan
    assert "plans starter" in small_worker.output()
    assert "plans pro,pro_plus" in big_worker.output()


def test_worker_with_an_unknown_plan_exits_with_a_clear_error(sqlite_cluster: Cluster) -> None:
    server = sqlite_cluster.server()
    proc = sqlite_cluster.worker(server, plans="starter,huge")
    proc.popen.wait(timeout=30)
    assert proc.popen.returncode == 2
    assert "unknown plan 'huge'" in proc.output()
