"""Real PostgreSQL databases for tests: a migrated template built once, a copy per test.

The server is ``BATON_TEST_POSTGRES_URL`` (default: the machine's own at 127.0.0.1:5432).
Database names carry the process id and random bytes, so several test sessions can share
one server; every database made here is dropped when its test (or the session) ends.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URL = os.environ.get(
    "BATON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def url_for(database: str, base: str = ADMIN_URL) -> str:
    """``base`` with its database replaced by ``database``."""
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}"))


def unavailable(reason: str) -> None:
    """Skip locally; in CI (``CI=true``) a missing Postgres is a failure, never a skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


class PgDatabases:
    """Creates test databases on the server at ``ADMIN_URL``."""

    def __init__(self) -> None:
        import psycopg

        self._psycopg = psycopg
        self.prefix = f"baton_test_{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.prefix}_tpl"
        self._made: list[str] = []
        self._admin("SELECT 1")

    def _admin(self, sql: str) -> None:
        with self._psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def build_template(self) -> None:
        from baton.store import open_store

        self._admin(f'CREATE DATABASE "{self.template}"')
        self._made.append(self.template)
        open_store(url_for(self.template)).close()

    def create(self, *, migrated: bool = True) -> str:
        """A new database's URL: a copy of the migrated template, or empty."""
        name = f"{self.prefix}_{secrets.token_hex(4)}"
        template = f' TEMPLATE "{self.template}"' if migrated else ""
        self._admin(f'CREATE DATABASE "{name}"{template}')
        self._made.append(name)
        return url_for(name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._made:
            self._made.remove(name)

    def drop_all(self) -> None:
        for name in list(self._made):
            self.drop(url_for(name))


def open_databases() -> PgDatabases:
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed: pip install -e '.[dev]'")
        raise
    try:
        databases = PgDatabases()
    except psycopg.OperationalError as exc:
        unavailable(f"cannot connect to {ADMIN_URL}: {exc}")
        raise
    databases.build_template()
    return databases
