"""The durable-chain and schedule scenarios again, on PostgreSQL: memoized children across a
parent's kill, checkpoints, plan escalation, concurrency limits, schedules fired by two servers,
overlap policies and pauses.

The tests are the SQLite ones, imported; this module's fixtures give them a fresh PostgreSQL
database instead of a SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e_support import StartEngine
from test_e2e_durable import (
    test_context_loop_killed_halfway_resumes_from_its_checkpoint,
    test_parent_killed_after_50_children_is_retried_without_a_51st_child,
    test_parent_with_memoize_off_starts_fresh_children_on_retry,
    test_plain_loop_killed_halfway_resumes_through_module_helpers,
    test_task_over_its_starter_memory_succeeds_on_standard_after_escalation,
    test_task_without_escalation_fails_out_of_memory_on_its_plan,
    test_three_level_chain_of_100_leaves_completes_with_concurrency_two,
)
from test_e2e_schedules import (
    test_duplicate_idempotency_key_returns_the_first_run,
    test_every_second_schedule_on_two_servers_fires_each_tick_once,
    test_overlap_policy_decides_what_a_tick_does_while_a_run_is_active,
    test_paused_queue_starts_nothing_until_resumed,
    test_schedule_catches_up_ticks_inside_its_window_only,
    test_task_schedule_in_code_is_registered_with_its_workflow,
)

from baton.server import Engine, Target
from baton.services import EngineConfig

pytestmark = pytest.mark.postgres

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


__all__ = [
    "test_context_loop_killed_halfway_resumes_from_its_checkpoint",
    "test_duplicate_idempotency_key_returns_the_first_run",
    "test_every_second_schedule_on_two_servers_fires_each_tick_once",
    "test_overlap_policy_decides_what_a_tick_does_while_a_run_is_active",
    "test_parent_killed_after_50_children_is_retried_without_a_51st_child",
    "test_parent_with_memoize_off_starts_fresh_children_on_retry",
    "test_paused_queue_starts_nothing_until_resumed",
    "test_plain_loop_killed_halfway_resumes_through_module_helpers",
    "test_schedule_catches_up_ticks_inside_its_window_only",
    "test_task_over_its_starter_memory_succeeds_on_standard_after_escalation",
    "test_task_schedule_in_code_is_registered_with_its_workflow",
    "test_task_without_escalation_fails_out_of_memory_on_its_plan",
    "test_three_level_chain_of_100_leaves_completes_with_concurrency_two",
]


@pytest.fixture
async def start_engine(pg_url: str) -> AsyncIterator[StartEngine]:
    """The e2e conftest's fixture, on this test's own PostgreSQL database."""
    engines: list[Engine] = []

    async def start(flows: str, *, concurrency: int = 20, scheduler: bool = True) -> Engine:
        engine = Engine(pg_url, config=EngineConfig(concurrency=concurrency), scheduler=scheduler)
        engines.append(engine)
        await engine.start()
        await engine.register(Target.app(str(FIXTURES / f"{flows}.py")), flows)
        return engine

    yield start
    for engine in engines:
        await engine.stop()


@pytest.fixture
async def second_server(pg_url: str) -> AsyncIterator[Engine]:
    """Another engine (no worker, no scheduler) on the same database as ``start_engine``'s."""
    engine = Engine(pg_url, worker=False, scheduler=False)
    yield engine
    await engine.stop()
