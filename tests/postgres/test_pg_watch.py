"""LISTEN/NOTIFY between stores on one database, and reconnecting after the server drops us."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from baton.core.ids import new_id
from baton.core.models import NewRun, Param, RunStatus, TaskDef
from baton.core.retry import Retry
from baton.errors import StoreUnavailable
from baton.store import Outcome, Store, open_store
from baton.store.pg_conn import connect

pytestmark = pytest.mark.postgres

WAIT_S = 10.0


class Seen:
    """What a ``watch`` reported, with events to wait on."""

    def __init__(self) -> None:
        self.work = threading.Event()
        self.finals: list[tuple[str, RunStatus]] = []
        self.final = threading.Event()

    def on_work(self) -> None:
        self.work.set()

    def on_final(self, run_id: str, status: RunStatus) -> None:
        self.finals.append((run_id, status))
        self.final.set()


@pytest.fixture
def two_stores(pg_url: str) -> Iterator[tuple[Store, Store]]:
    first, second = open_store(pg_url), open_store(pg_url)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def _enqueue(store: Store) -> str:
    version = store.add_version("wf", "app.py", "baton", "/tmp")
    defs = [TaskDef("square", parameters=(Param("a", has_default=False),))]
    [task] = store.register_tasks(version.id, defs)
    new = NewRun(new_id("trn"), task, [3], Retry(max_retries=0, wait_duration_ms=0), 60, "standard")
    run, _ = store.enqueue(new)
    return run.id


@contextlib.contextmanager
def _watching(store: Store, url: str) -> Iterator[Seen]:
    """``store.watch`` into a ``Seen``, once its listener is LISTENing; stopped after."""
    seen = Seen()
    stop = store.watch(seen.on_work, seen.on_final)
    try:
        _wait_listening(url, 1)
        yield seen
    finally:
        stop()


def _complete_a_run(store: Store) -> str:
    """Enqueue, claim and complete a run on ``store``; its id."""
    run_id = _enqueue(store)
    [claim] = store.claim("w", 1, limit=5, lease_s=30, now=_now())
    store.finish_attempt(run_id, claim.attempt, "w", Outcome(ok=True, output=""), now=_now())
    return run_id


def _terminate_backends(url: str) -> int:
    """``pg_terminate_backend`` every session on ``url``'s database but this one."""
    name = urlsplit(url).path.lstrip("/")
    with connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return sum(1 for r in rows if r["ok"])


def _wait_listening(url: str, count: int) -> None:
    """Until ``count`` sessions on ``url``'s database are LISTENing (bounded)."""
    name = urlsplit(url).path.lstrip("/")
    with connect(url, autocommit=True) as conn:
        for _ in range(200):
            row = conn.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = %s "
                "AND query LIKE 'LISTEN baton_final'",
                (name,),
            ).fetchone()
            if row and row["n"] >= count:
                return
            threading.Event().wait(0.05)
    raise AssertionError(f"no {count} listeners on {name}")


def test_enqueue_and_finish_on_one_store_notify_a_watcher_on_another(
    two_stores: tuple[Store, Store], pg_url: str
) -> None:
    writer, watcher = two_stores
    with _watching(watcher, pg_url) as seen:
        run_id = _enqueue(writer)
        assert seen.work.wait(WAIT_S)
        [claim] = writer.claim("w", 1, limit=5, lease_s=30, now=_now())
        writer.finish_attempt(run_id, claim.attempt, "w", Outcome(ok=True, output=""), now=_now())

        assert seen.final.wait(WAIT_S)
        assert seen.finals == [(run_id, RunStatus.COMPLETED)]


def test_a_watcher_is_not_told_of_its_own_stores_changes(
    two_stores: tuple[Store, Store], pg_url: str
) -> None:
    # The process that made a change has told its own waiters: re-reading it is wasted.
    own, other = two_stores
    with _watching(own, pg_url) as seen:
        _complete_a_run(own)
        theirs = _complete_a_run(other)

        # Notifications arrive in commit order: had ours come, they would have come first.
        assert seen.final.wait(WAIT_S)
        assert seen.finals == [(theirs, RunStatus.COMPLETED)]


def test_cancel_notifies_every_canceled_run_as_final(
    two_stores: tuple[Store, Store], pg_url: str
) -> None:
    writer, watcher = two_stores
    with _watching(watcher, pg_url) as seen:
        run_id = _enqueue(writer)
        writer.cancel(run_id, now=_now())

        assert seen.final.wait(WAIT_S)
        assert seen.finals == [(run_id, RunStatus.CANCELED)]


def test_store_reconnects_by_itself_after_its_session_is_terminated(
    two_stores: tuple[Store, Store], pg_url: str
) -> None:
    store, _ = two_stores
    store.add_token("t", "hash")

    assert _terminate_backends(pg_url) >= 2

    assert store.has_token("hash")  # the dead connection is replaced, the call retried
    assert store.count_tokens() == 1


def test_watch_reconnects_after_its_session_is_terminated(
    two_stores: tuple[Store, Store], pg_url: str
) -> None:
    writer, watcher = two_stores
    with _watching(watcher, pg_url) as seen:
        _terminate_backends(pg_url)
        assert seen.work.wait(WAIT_S)  # the listener reports a possible gap once reconnected
        _wait_listening(pg_url, 1)
        seen.work.clear()

        _enqueue(writer)

        assert seen.work.wait(WAIT_S)


def test_unreachable_server_raises_store_unavailable_naming_it() -> None:
    with pytest.raises(StoreUnavailable, match=r"cannot connect to PostgreSQL at 127\.0\.0\.1:1/"):
        open_store("postgresql://postgres@127.0.0.1:1/baton")


def test_missing_driver_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "psycopg", None)

    with pytest.raises(StoreUnavailable, match=r"pip install 'baton-workflows\[postgres\]'"):
        open_store("postgres://postgres@127.0.0.1/baton")


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)
