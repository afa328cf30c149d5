"""One schema on both backends: the same tables and columns, and upgrades equal fresh installs."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from baton.store import open_store
from baton.store.migrate import migration_scripts
from baton.store.pg_conn import PgConnection, connect, migrate
from pg_support import PgDatabases

pytestmark = pytest.mark.postgres

Schema = dict[str, list[tuple[object, ...]]]


def sqlite_schema(path: Path) -> Schema:
    """``table -> [(column, type, notnull, default, pk), ...]`` plus ``index -> [(sql,)]``."""
    db = sqlite3.connect(path)
    try:
        out: Schema = {}
        for (table,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ):
            out[table] = [tuple(c[1:]) for c in db.execute(f"PRAGMA table_info({table})")]
        for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ):
            out[f"index {name}"] = [(sql,)]
        return out
    finally:
        db.close()


def pg_schema(url: str) -> Schema:
    with connect(url) as conn:
        out: Schema = {}
        for c in conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "ORDER BY table_name, ordinal_position"
        ).fetchall():
            out.setdefault(c["table_name"], []).append(tuple(list(c.values())[1:]))
        for i in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall():
            out[f"index {i['indexname']}"] = [(i["indexdef"],)]
        return out


def columns(schema: Schema) -> dict[str, list[object]]:
    return {t: [c[0] for c in cols] for t, cols in schema.items() if not t.startswith("index ")}


def test_both_backends_have_the_same_tables_and_columns_in_the_same_order(
    tmp_path: Path, pg_url: str
) -> None:
    open_store(f"sqlite:///{tmp_path / 'baton.db'}").close()

    assert columns(sqlite_schema(tmp_path / "baton.db")) == columns(pg_schema(pg_url))


def test_both_backends_have_the_same_migration_files() -> None:
    names = [name for _, name, _ in migration_scripts("sqlite")]

    assert names == [name for _, name, _ in migration_scripts("postgres")]


def _sqlite_upto(path: Path, upto: int) -> None:
    """An old SQLite database: only the migrations up to ``upto``, recorded as SQLiteStore does."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        for version, name, sql in migration_scripts("sqlite"):
            if version <= upto:
                db.executescript(sql)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, time.time())
                )
    finally:
        db.close()


VERSIONS = [v for v, _, _ in migration_scripts("postgres")]


@pytest.mark.parametrize("upto", [0, *VERSIONS])
def test_sqlite_upgraded_from_any_version_equals_a_fresh_install(tmp_path: Path, upto: int) -> None:
    _sqlite_upto(tmp_path / "old.db", upto)
    open_store(f"sqlite:///{tmp_path / 'old.db'}").close()
    open_store(f"sqlite:///{tmp_path / 'new.db'}").close()

    assert sqlite_schema(tmp_path / "old.db") == sqlite_schema(tmp_path / "new.db")


@pytest.mark.parametrize("upto", [0, *VERSIONS])
def test_postgres_upgraded_from_any_version_equals_a_fresh_install(
    pg_databases: PgDatabases, upto: int
) -> None:
    old, new = pg_databases.create(migrated=False), pg_databases.create(migrated=False)
    try:
        db = PgConnection(old)
        migrate(db, upto=upto)
        db.close()
        open_store(old).close()
        open_store(new).close()

        assert pg_schema(old) == pg_schema(new)
    finally:
        pg_databases.drop(old)
        pg_databases.drop(new)


def test_four_stores_migrating_one_new_database_at_once_all_succeed(
    pg_databases: PgDatabases,
) -> None:
    import threading

    url = pg_databases.create(migrated=False)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_once() -> None:
        try:
            barrier.wait(timeout=10)
            open_store(url).close()
        except BaseException as exc:
            errors.append(exc)

    run_all([open_once] * 4)
    try:
        assert errors == []
        with connect(url) as conn:
            rows = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        assert [r["version"] for r in rows] == VERSIONS
    finally:
        pg_databases.drop(url)


def run_all(functions: list[Callable[[], None]]) -> None:
    import threading

    threads = [threading.Thread(target=f) for f in functions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
