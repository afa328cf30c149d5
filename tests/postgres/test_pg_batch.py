"""``PostgresStore.batch``: a database error rolls back one item only; a lost connection
runs the whole batch again on a new one."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from baton.core.ids import new_id
from baton.core.models import NewRun, Param, RunStatus, TaskDef
from baton.core.retry import Retry
from baton.errors import StoreUnavailable
from baton.store import Outcome, Store
from baton.store.pg_conn import connect

pytestmark = pytest.mark.postgres

WORKER = "wrk-batch"


def _running(store: Store, count: int) -> list[str]:
    version = store.add_version("wf", "app.py", "baton", "/tmp")
    defs = [TaskDef("square", parameters=(Param("a", has_default=False),))]
    [task] = store.register_tasks(version.id, defs)
    retry = Retry(max_retries=0, wait_duration_ms=0)
    ids = []
    for _ in range(count):
        run, _ = store.enqueue(NewRun(new_id("trn"), task, [3], retry, 60, "standard"))
        ids.append(run.id)
    store.claim(WORKER, count, limit=100, lease_s=60, now=datetime.now(UTC))
    return ids


def _finish(store: Store, run_id: str) -> object:
    return store.finish_attempt(
        run_id, 0, WORKER, Outcome(ok=True, output=""), now=datetime.now(UTC)
    )


def test_an_item_failing_in_the_database_is_rolled_back_alone(pg_store: Store) -> None:
    first, second, third = _running(pg_store, 3)

    def bad_timings() -> object:
        pg_store.append_logs(second, 0, [("stdout", "gone with the savepoint")])
        # NaN is no JSON: the server refuses the cast and aborts the (sub)transaction
        pg_store.attempt_started(second, 0, 7, {"forked_at": math.nan})
        return "unreachable"

    done = pg_store.batch(
        [lambda: _finish(pg_store, first), bad_timings, lambda: _finish(pg_store, third)]
    )

    assert isinstance(done[1], StoreUnavailable)
    assert pg_store.get_logs(second) == []
    assert pg_store.get_run(second).status == RunStatus.RUNNING
    assert pg_store.get_run(first).status == RunStatus.COMPLETED
    assert pg_store.get_run(third).status == RunStatus.COMPLETED


def test_a_batch_whose_connection_dies_runs_again_on_a_new_one(
    pg_store: Store, pg_url: str
) -> None:
    first, second = _running(pg_store, 2)
    calls = []

    def log_then_die() -> object:
        pg_store.append_logs(first, 0, [("stdout", "once")])
        calls.append(1)
        if len(calls) == 1:  # the server drops this session mid-transaction
            name = urlsplit(pg_url).path.lstrip("/")
            with connect(pg_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
        return "logged"

    done = pg_store.batch([log_then_die, lambda: _finish(pg_store, second)])

    assert done[0] == "logged"
    assert len(calls) == 2
    assert [line.line for line in pg_store.get_logs(first)] == ["once"]
    assert pg_store.get_run(second).status == RunStatus.COMPLETED
