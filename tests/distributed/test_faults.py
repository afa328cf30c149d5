"""Fault tests: 2 servers, 3 workers, 300 runs in flight on PostgreSQL; kill -9 a worker, a
server and a run process (then, on a private cluster, restart PostgreSQL itself) and check
that nothing is lost, nothing is recorded twice and no chained call runs twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster import FIXTURES, Cluster
from faults import check_invariants, kill_a_run_process, submit, wait_progress

# Each wait inside is bounded; on a loaded 2-core machine the whole test takes up to ~2 minutes.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]

RUNS = 300


def _cluster(tmp_path: Path, url: str) -> tuple[Cluster, list]:
    cluster = Cluster(tmp_path, url, lease_s=3.0)
    s1 = cluster.server("--app", str(FIXTURES / "fault_flows.py"), "--name", "faults", name="s1")
    s2 = cluster.server(name="s2")
    cluster.worker(s1, s2, slots=6, name="w1")
    cluster.worker(s2, s1, slots=6, name="w2")
    cluster.worker(s1, s2, slots=6, name="w3")
    return cluster, [s1, s2]


def test_kill_worker_server_and_run_process_loses_nothing(tmp_path: Path, pg_url: str) -> None:
    cluster, servers = _cluster(tmp_path, pg_url)
    try:
        roots = submit(cluster, servers, RUNS)
        ids = list(roots)
        wait_progress(pg_url, ids, RUNS // 5, timeout_s=120)
        next(p for p in cluster.procs if p.name == "w1").kill9()
        wait_progress(pg_url, ids, RUNS * 2 // 5, timeout_s=120)
        servers[0].kill9()
        wait_progress(pg_url, ids, RUNS * 3 // 5, timeout_s=120)
        assert kill_a_run_process(pg_url) or count_all_final(pg_url, ids)
        wait_progress(pg_url, ids, RUNS, timeout_s=150)
        check_invariants(pg_url, roots, cluster.logs)
    finally:
        cluster.close()


def count_all_final(url: str, ids: list[str]) -> bool:
    from faults import count_final

    return count_final(url, ids) == len(ids)


def test_postgres_restart_mid_flight_loses_nothing(tmp_path: Path) -> None:
    from private_pg import PrivatePostgres

    pg = PrivatePostgres()
    pg.start()
    cluster: Cluster | None = None
    try:
        cluster, servers = _cluster(tmp_path, pg.url)
        roots = submit(cluster, servers, 120)
        ids = list(roots)
        wait_progress(pg.url, ids, 30, timeout_s=120)
        pg.restart()  # every server connection and the LISTEN sessions drop
        wait_progress(pg.url, ids, len(ids), timeout_s=150)
        check_invariants(pg.url, roots, cluster.logs)
        assert all(p.alive() for p in cluster.procs), "a process died with the database"
    finally:
        if cluster is not None:
            cluster.close()
        pg.stop()
