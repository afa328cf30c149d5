"""Durable state. ``open_store(url)`` picks the backend by URL scheme."""

from __future__ import annotations

from pathlib import Path

from baton.errors import StoreUnavailable
from baton.store.base import ChildCall, LogLine, Outcome, QueueStats, RunFilter, Store

__all__ = ["ChildCall", "LogLine", "Outcome", "QueueStats", "RunFilter", "Store", "open_store"]

DEFAULT_URL = "sqlite:///.baton/baton.db"


def open_store(url: str = DEFAULT_URL) -> Store:
    """Open (and migrate) the store at ``url``.

    ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` select SQLite;
    ``postgresql://…`` selects PostgreSQL.
    """
    if url.startswith("sqlite:///"):
        from baton.store.sqlite import SQLiteStore

        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from baton.store.pg_conn import import_psycopg

        import_psycopg()  # StoreUnavailable naming the extra to install
        from baton.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreUnavailable(
        f"unsupported database URL {url!r}: use sqlite:///path/to/baton.db or postgresql://..."
    )
