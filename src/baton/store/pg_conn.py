"""One PostgreSQL connection that reconnects by itself, and the migrations that run on it.

Every store call is one transaction run by :meth:`PgConnection.run`. A connection found dead
(the server restarted, an admin terminated the backend) is replaced; the transaction is run
again once on the new connection when nothing of it can have been committed, that is, when it
failed before ``COMMIT`` was sent. Driver errors leave as ``StoreUnavailable``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from baton.errors import BatonError, InvalidInput, StoreUnavailable
from baton.store.migrate import migration_scripts
from baton.store.rows import with_savepoints

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
Cursor = Any  # psycopg.Cursor[dict[str, Any]]; psycopg is an optional dependency
Fetch = Literal["one", "all", "none"]

CONNECT_TIMEOUT_S = 5
#: ``pg_advisory_xact_lock`` keys (one namespace per database): a fixed pair of words, so
#: Baton's locks are easy to spot in ``pg_locks`` and never collide with each other.
MIGRATION_LOCK = 0x6261746F6E_0001  # "baton" + 1
CLAIM_LOCK = 0x6261746F6E_0002


def import_psycopg() -> Any:
    """The ``psycopg`` module, or a ``StoreUnavailable`` that says how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise StoreUnavailable(
            "the PostgreSQL backend needs psycopg: pip install 'baton-workflows[postgres]'"
        ) from exc
    return psycopg


def describe(url: str) -> str:
    """``host:port/dbname`` of ``url`` for messages (never the password)."""
    psycopg = import_psycopg()
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "the configured server"
    host = info.get("host") or "localhost"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user') or ''}"


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[dict[str, Any]]:
    """A new connection with dict rows; ``StoreUnavailable`` if the server cannot be reached."""
    driver = import_psycopg()
    from psycopg.rows import dict_row

    try:
        conn = driver.connect(
            url,
            autocommit=autocommit,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="baton",
        )
    except driver.Error as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL at {describe(url)}: {exc}") from exc
    return cast("psycopg.Connection[dict[str, Any]]", conn)


def _as_baton_error(exc: Exception) -> BatonError:
    """A driver error as Baton's: a text value PostgreSQL cannot hold (it has no NUL in text)
    is the caller's bad input, not an unavailable store."""
    if isinstance(exc, import_psycopg().DataError) and "NUL" in str(exc):
        return InvalidInput("text values cannot contain NUL (0x00) characters")
    return StoreUnavailable(f"PostgreSQL error: {exc}".strip())


class _ItemFailed(Exception):
    """An item of ``run_each`` raised ``error``: the transaction is to be rolled back."""

    def __init__(self, error: BatonError) -> None:
        super().__init__(str(error))
        self.error = error


class PgConnection:
    """A small pool of connections: one transaction per connection at a time, from any thread.

    ``run`` borrows an idle connection (opening one, up to ``size``, when none is idle) and
    waits when all are busy. A ``run`` nested in another on the same thread uses the outer
    one's connection. The pool lets the engine run store calls on worker threads
    (``Services.offload``) without one slow round trip holding up every other caller.
    """

    def __init__(self, url: str, *, size: int = 4) -> None:
        if size < 1:
            raise ValueError("a connection pool needs at least one connection")
        self.url = url
        self.size = size
        self._psycopg = import_psycopg()
        self._cond = threading.Condition()
        self._idle: list[psycopg.Connection[dict[str, Any]] | None] = []
        self._opened = 0  # connections handed out or idle (a None slot counts: reopened lazily)
        self._held = threading.local()
        self._closed = False
        #: The server process ids of this pool's sessions: a ``NOTIFY`` from one of them was
        #: sent by this process (``pg_listen`` skips those).
        self.backend_pids: frozenset[int] = frozenset()
        self._pids: dict[int, int] = {}  # id(connection) -> its server process id
        conn = self._open()  # fail fast with a clear error when the server is unreachable
        with self._cond:
            self._idle.append(conn)
            self._opened = 1

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for conn in idle:
            self._discard(conn)

    def _borrow(self) -> psycopg.Connection[dict[str, Any]] | None:
        """An idle connection (``None``: a slot whose connection must be opened)."""
        with self._cond:
            while True:
                if self._closed:
                    raise StoreUnavailable("the store is closed")
                if self._idle:
                    return self._idle.pop()
                if self._opened < self.size:
                    self._opened += 1
                    return None
                self._cond.wait()

    def _give_back(self, conn: psycopg.Connection[dict[str, Any]] | None) -> None:
        with self._cond:
            if self._closed:
                self._discard(conn)
                self._opened -= 1
            else:
                self._idle.append(conn)
            self._cond.notify()

    def _usable(
        self, conn: psycopg.Connection[dict[str, Any]] | None
    ) -> psycopg.Connection[dict[str, Any]]:
        if conn is None or conn.closed or conn.broken:
            self._discard(conn)
            conn = self._open()
        return conn

    def _open(self) -> psycopg.Connection[dict[str, Any]]:
        conn = connect(self.url)
        with self._cond:
            self._pids[id(conn)] = conn.info.backend_pid
            self.backend_pids = frozenset(self._pids.values())
        return conn

    def _discard(self, conn: psycopg.Connection[dict[str, Any]] | None) -> None:
        if conn is not None:
            with self._cond:
                self._pids.pop(id(conn), None)
                self.backend_pids = frozenset(self._pids.values())
            with contextlib.suppress(self._psycopg.Error):
                conn.close()

    def run(self, body: Callable[[Cursor], T]) -> T:
        """Run ``body(cursor)`` in one transaction and commit it; retried once on a new
        connection if the old one was found dead before anything was committed.

        Called from inside another ``run`` body on the same thread, it runs ``body`` in the
        outer transaction instead (see ``_joined``).
        """
        held = getattr(self._held, "conn", None)
        if held is not None:  # nested: the outer call's connection and transaction
            return self._joined(held, body)
        conn = self._borrow()
        try:
            for attempt in range(2):
                conn = self._usable(conn)
                committing = False
                self._held.conn = conn
                try:
                    with conn.cursor() as cur:
                        result = body(cur)
                    committing = True
                    conn.commit()
                    return result
                except self._psycopg.Error as exc:
                    lost = conn.closed or conn.broken
                    conn = self._rollback(conn)
                    if lost:
                        self._discard(conn)
                        conn = None
                        if attempt == 0 and not committing:
                            continue
                    raise _as_baton_error(exc) from exc
                except BaseException:
                    conn = self._rollback(conn)
                    raise
                finally:
                    self._held.conn = None
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._give_back(conn)

    def statement(self, sql: str, args: Sequence[object], fetch: Fetch = "none") -> Any:
        """One statement in its own transaction (autocommit): one round trip instead of three
        (``BEGIN``, the statement, ``COMMIT``). Sent again once on a new connection when the
        connection turns out dead, so it must be safe to repeat. Inside ``run`` it joins the
        running transaction. ``fetch``: ``"one"`` row (or ``None``), ``"all"`` rows, or
        ``"none"``."""
        held = getattr(self._held, "conn", None)
        if held is not None:
            return self._joined(held, lambda cur: _fetched(cur, sql, args, fetch))
        conn = self._borrow()
        try:
            for attempt in range(2):
                conn = self._usable(conn)
                try:
                    conn.autocommit = True
                    with conn.cursor() as cur:
                        return _fetched(cur, sql, args, fetch)
                except self._psycopg.Error as exc:
                    if conn.closed or conn.broken:
                        self._discard(conn)
                        conn = None
                        if attempt == 0:
                            continue
                    raise _as_baton_error(exc) from exc
                finally:
                    if conn is not None and not (conn.closed or conn.broken):
                        conn.autocommit = False
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._give_back(conn)

    def _joined(self, conn: psycopg.Connection[dict[str, Any]], body: Callable[[Cursor], T]) -> T:
        """``body`` inside the running transaction. A driver error on a live connection leaves
        as ``StoreUnavailable`` (the caller rolls back to its savepoint); one that lost the
        connection leaves as is, so that the outer ``run`` reconnects and runs again."""
        try:
            with conn.cursor() as cur:
                return body(cur)
        except self._psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise
            raise _as_baton_error(exc) from exc

    def run_each(self, items: Sequence[Callable[[], T]]) -> list[T | BatonError]:
        """Run ``items`` (functions calling ``run``) in one transaction: an item that raises a
        ``BatonError`` is rolled back to leave no writes behind and its error takes its place
        in the answer; the other items' writes are committed together.

        Savepoints cost a round trip each, so the items run without them first; only when
        one raises is the transaction rolled back and run again with a savepoint per item.
        Any other exception rolls the whole transaction back. The items may thus run more
        than once, so they must have no effects outside the database.
        """
        if not items:
            return []
        if getattr(self._held, "conn", None) is not None:  # inside a transaction already
            return self.run(self._each(items))
        try:
            return self.run(self._all(items))
        except _ItemFailed as failed:
            if len(items) == 1:
                return [failed.error]
        return self.run(self._each(items))

    @staticmethod
    def _all(items: Sequence[Callable[[], T]]) -> Callable[[Cursor], list[T | BatonError]]:
        def body(cur: Cursor) -> list[T | BatonError]:
            out: list[T | BatonError] = []
            for item in items:
                try:
                    out.append(item())
                except BatonError as exc:
                    raise _ItemFailed(exc) from exc
            return out

        return body

    @staticmethod
    def _each(items: Sequence[Callable[[], T]]) -> Callable[[Cursor], list[T | BatonError]]:
        def body(cur: Cursor) -> list[T | BatonError]:
            return with_savepoints(cur.execute, items)

        return body

    def _rollback(
        self, conn: psycopg.Connection[dict[str, Any]]
    ) -> psycopg.Connection[dict[str, Any]] | None:
        """Roll back; the connection if it is still usable, else ``None``."""
        if conn.closed or conn.broken:
            return conn
        try:
            conn.rollback()
        except self._psycopg.Error:
            self._discard(conn)
            return None
        return conn


def _fetched(cur: Cursor, sql: str, args: Sequence[object], fetch: Fetch) -> Any:
    cur.execute(sql, args)
    if fetch == "one":
        return cur.fetchone()
    if fetch == "all":
        return cur.fetchall()
    return None


def migrate(db: PgConnection, *, upto: int | None = None) -> None:
    """Apply each ``migrations/postgres`` script not yet applied, in order, in one transaction.

    A transaction-scoped advisory lock makes a second process starting at the same moment
    wait, then find the scripts applied. ``upto`` stops after that version (tests use it to
    build an old schema).
    """

    def body(cur: Cursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at double precision NOT NULL)"
        )
        cur.execute("SELECT version FROM schema_migrations")
        done = {r["version"] for r in cur.fetchall()}
        for version, name, sql in migration_scripts("postgres"):
            if version in done or (upto is not None and version > upto):
                continue
            cur.execute(sql)
            cur.execute(
                "INSERT INTO schema_migrations VALUES (%s, %s, %s)", (version, name, time.time())
            )

    db.run(body)
