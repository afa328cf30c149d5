"""A fresh engine per test: real SQLite in ``tmp_path``, real attempt processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e_support import StartEngine

from baton.server import Engine, Target
from baton.services import EngineConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
async def start_engine(tmp_path: Path) -> AsyncIterator[StartEngine]:
    """``await start_engine("chain_flows", concurrency=4)``: an engine running that workflow.

    The workflow is registered under its module name, so tasks are ``chain_flows/<task>``.
    """
    engines: list[Engine] = []

    async def start(flows: str, *, concurrency: int = 20, scheduler: bool = True) -> Engine:
        engine = Engine(
            f"sqlite:///{tmp_path / 'baton.db'}",
            config=EngineConfig(concurrency=concurrency),
            scheduler=scheduler,
        )
        engines.append(engine)
        await engine.start()
        await engine.register(Target.app(str(FIXTURES / f"{flows}.py")), flows)
        return engine

    yield start
    for engine in engines:
        await engine.stop()
