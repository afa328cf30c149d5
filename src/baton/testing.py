"""Helpers for testing your workflows against a real engine (SQLite in a temp dir).

Example::

    from baton.testing import engine

    async def test_sum_squares():
        async with engine("examples/squares.py", slug="squares") as eng:
            run = await eng.run("squares/sum_squares", [3, 4])
            assert run.results == [25]
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

from baton.core.models import JSON, Run
from baton.server import Engine, Target
from baton.services import EngineConfig


@dataclass
class TestEngine:
    """A running engine with one workflow registered."""

    __test__ = False  # not a pytest test class

    engine: Engine

    async def run(self, slug: str, value: JSON = None, *, timeout_s: float = 60.0) -> Run:
        """Start a run and wait until it ends (or ``timeout_s`` passes)."""
        services = self.engine.services
        started = services.start_run(slug, value)
        await services.wait_final(started.id, timeout_s)
        return services.get_run(started.id)


@contextlib.asynccontextmanager
async def engine(
    app: str, *, slug: str | None = None, concurrency: int = 20
) -> AsyncIterator[TestEngine]:
    """Start an engine on a throwaway SQLite file with ``app`` (``file.py[:attr]``) registered."""
    with tempfile.TemporaryDirectory(prefix="baton-test-") as tmp:
        eng = Engine(f"sqlite:///{tmp}/baton.db", config=EngineConfig(concurrency=concurrency))
        async with eng:
            await eng.register(Target.app(app), slug)
            yield TestEngine(eng)
