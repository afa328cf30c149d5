"""``--db postgresql://…`` and ``BATON_DATABASE_URL``; two ``baton serve`` on one database."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from baton.api.app import hash_token
from baton.cli.main import cli
from baton.store import open_store

pytestmark = pytest.mark.postgres

Baton = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0


def _token_in(url: str, secret: str) -> bool:
    store = open_store(url)
    try:
        return store.has_token(hash_token(secret))
    finally:
        store.close()


def test_token_create_with_db_postgresql_url_stores_the_token_there(
    baton: Baton, pg_url: str
) -> None:
    result = baton("token", "create", "--db", pg_url)

    assert result.exit_code == 0, result.output
    assert _token_in(pg_url, result.stdout.strip())


def test_baton_database_url_selects_postgres(pg_url: str) -> None:
    runner = CliRunner(env={"BATON_DATABASE_URL": pg_url})

    result = runner.invoke(cli, ["token", "create"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert _token_in(pg_url, result.stdout.strip())


def test_unreachable_postgres_exits_1_naming_the_server(baton: Baton) -> None:
    result = baton("token", "create", "--db", "postgresql://postgres@127.0.0.1:1/baton")

    assert result.exit_code == 1
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/baton" in result.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def _serve(url: str, port: int, log: Path) -> Iterator[str]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "baton"),
                "serve",
                "--app",
                str(ROOT / "examples" / "squares.py"),
                "--name",
                "squares",
                "--port",
                str(port),
                "--db",
                url,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(int(DEADLINE_S / 0.1)):
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"baton serve did not start:\n{log.read_text()}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_run_started_on_one_baton_serve_is_reported_by_the_others_sse(
    baton: Baton, pg_url: str, tmp_path: Path
) -> None:
    secret = baton("token", "create", "--db", pg_url).stdout.strip()
    headers = {"Authorization": f"Bearer {secret}"}
    with (
        _serve(pg_url, free_port(), tmp_path / "a.log") as a,
        _serve(pg_url, free_port(), tmp_path / "b.log") as b,
    ):
        started = httpx.post(
            f"{a}/v1/task-runs",
            json={"task": "squares/sum_squares", "input": [3, 4]},
            headers=headers,
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]

        events = httpx.get(
            f"{b}/v1/task-runs/events",
            params={"taskRunIds": run_id},
            headers=headers,
            timeout=DEADLINE_S,
        )

    assert events.status_code == 200
    assert f'"id":"{run_id}"' in events.text
    assert '"status":"completed"' in events.text
