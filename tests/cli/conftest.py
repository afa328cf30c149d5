"""One ``baton dev examples/squares.py`` server for the whole CLI module, and a runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from baton.cli.main import cli


@pytest.fixture(scope="module")
def server_url(
    tmp_path_factory: pytest.TempPathFactory,
    dev_server_factory: Callable[[Path], AbstractContextManager[str]],
) -> Iterator[str]:
    with dev_server_factory(tmp_path_factory.mktemp("cli") / "x.db") as url:
        yield url


@pytest.fixture
def baton() -> Callable[..., Result]:
    """Runs ``baton ARGS...`` in-process, without the caller's Baton environment."""
    runner = CliRunner(env={"BATON_URL": None, "BATON_API_KEY": None, "BATON_DATABASE_URL": None})

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke
