"""Fixtures shared by every test folder: a database URL, a real store, a running engine.

Storage is never mocked: each test gets a fresh SQLite file in its own ``tmp_path``, and the
``store`` fixture runs each test on SQLite and on its own PostgreSQL database (``pg_support``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from baton.server import Engine, Target
from baton.store import Store, open_store
from pg_support import PgDatabases, open_databases

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BATON_BIN = Path(sys.executable).parent / "baton"
DEADLINE_S = 20.0


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite URL for a database file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'baton.db'}"


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    """The PostgreSQL test server (skipped locally if unreachable, a failure in CI)."""
    databases = open_databases()
    try:
        yield databases
    finally:
        databases.drop_all()


@pytest.fixture
def pg_url(pg_databases: PgDatabases) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database of this test's own; dropped after."""
    url = pg_databases.create()
    try:
        yield url
    finally:
        pg_databases.drop(url)


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    ids=lambda backend: f"store={backend}",
)
def store_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """A fresh database's URL on each backend: ``db_url`` or a new PostgreSQL database."""
    if request.param == "sqlite":
        return db_url
    url: str = request.getfixturevalue("pg_url")
    return url


@contextlib.contextmanager
def _opened(url: str) -> Iterator[Store]:
    opened = open_store(url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, migrated store on a fresh database (``store_url``); closed after the test."""
    with _opened(store_url) as opened:
        yield opened


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    """An open, migrated ``PostgresStore`` on a fresh database of this test's own."""
    with _opened(pg_url) as opened:
        yield opened


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[Engine]:
    """A started engine with ``examples/squares.py`` registered as workflow ``squares``."""
    started = Engine(db_url)
    await started.start()
    try:
        await started.register(Target.app(str(EXAMPLES / "squares.py")), "squares")
        yield started
    finally:
        await started.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def _dev_server(db_path: Path, app: Path = EXAMPLES / "squares.py") -> Iterator[str]:
    """``baton dev <app>`` as a subprocess on a free loopback port; yields its root URL."""
    port = free_port()
    log_path = db_path.with_suffix(".log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(BATON_BIN),
                "dev",
                str(app),
                "--port",
                str(port),
                "--db",
                f"sqlite:///{db_path}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc, log_path)
            yield url
        finally:
            proc.kill()
            proc.wait(timeout=10)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"baton dev exited with {proc.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    pytest.fail(f"baton dev did not answer /healthz within {DEADLINE_S}s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def dev_server_factory() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """Starts ``baton dev`` subprocesses: ``with dev_server_factory(db_path) as url: ...``.

    A stateless factory, so module-scoped fixtures (the CLI suite) can share one server.
    """
    return _dev_server
