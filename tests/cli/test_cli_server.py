"""Commands that own a store: ``token create``, ``serve`` and ``dev`` refusals."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from baton.api.app import hash_token
from baton.store import open_store

Baton = Callable[..., Result]


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def test_token_create_prints_bat_token_and_stores_only_its_hash(baton: Baton, db_url: str) -> None:
    result = baton("token", "create", "--name", "ci", "--db", db_url)

    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("bat_")
    assert len(secret) > 20
    store = open_store(db_url)
    try:
        assert store.has_token(hash_token(secret))
        assert not store.has_token(secret)
        assert store.count_tokens() == 1
    finally:
        store.close()


def test_token_create_makes_a_different_token_each_time(baton: Baton, db_url: str) -> None:
    first = baton("token", "create", "--db", db_url).stdout.strip()
    second = baton("token", "create", "--db", db_url).stdout.strip()

    assert first != second


def test_serve_without_any_token_refuses_to_start(baton: Baton, db_url: str) -> None:
    result = baton("serve", "--db", db_url, "--port", _free_port())

    assert result.exit_code != 0
    assert "baton token create" in result.output


def test_dev_on_public_address_without_token_refuses_to_start(
    baton: Baton, db_url: str, tmp_path: Path
) -> None:
    app = Path(__file__).resolve().parents[2] / "examples" / "squares.py"

    result = baton("dev", str(app), "--host", "0.0.0.0", "--port", _free_port(), "--db", db_url)

    assert result.exit_code != 0
    assert "baton token create" in result.output


def test_dev_without_code_is_a_usage_error(baton: Baton, db_url: str) -> None:
    result = baton("dev", "--db", db_url)

    assert result.exit_code == 2
    assert "baton dev examples/squares.py" in result.output


def test_token_create_with_unsupported_db_url_exits_1(baton: Baton) -> None:
    result = baton("token", "create", "--db", "mysql://x/y")

    assert result.exit_code == 1
    assert "unsupported database URL" in result.output
