"""A handful of the engine scenarios again, on PostgreSQL: chain, fan-out, retry, cancel.

The tests are the SQLite ones, imported; this module's ``start_engine`` gives them a fresh
PostgreSQL database instead of a SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e_support import StartEngine
from test_e2e_cancel import test_cancel_root_kills_all_20_sleeping_children_promptly
from test_e2e_chaining import (
    test_parent_gathering_200_children_completes_with_concurrency_four,
    test_sum_squares_returns_25_through_two_child_runs,
    test_three_level_chain_completes_with_concurrency_one,
)
from test_e2e_retries import (
    test_exhausted_retries_fail_with_the_last_error_and_its_traceback,
    test_task_failing_twice_completes_on_its_third_attempt,
)

from baton.server import Engine, Target
from baton.services import EngineConfig

pytestmark = pytest.mark.postgres

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

__all__ = [
    "test_cancel_root_kills_all_20_sleeping_children_promptly",
    "test_exhausted_retries_fail_with_the_last_error_and_its_traceback",
    "test_parent_gathering_200_children_completes_with_concurrency_four",
    "test_sum_squares_returns_25_through_two_child_runs",
    "test_task_failing_twice_completes_on_its_third_attempt",
    "test_three_level_chain_completes_with_concurrency_one",
]


@pytest.fixture
async def start_engine(pg_url: str) -> AsyncIterator[StartEngine]:
    """The e2e conftest's fixture, on this test's own PostgreSQL database."""
    engines: list[Engine] = []

    async def start(flows: str, *, concurrency: int = 20) -> Engine:
        engine = Engine(pg_url, config=EngineConfig(concurrency=concurrency))
        engines.append(engine)
        await engine.start()
        await engine.register(Target.app(str(FIXTURES / f"{flows}.py")), flows)
        return engine

    yield start
    for engine in engines:
        await engine.stop()
