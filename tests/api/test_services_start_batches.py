"""``Services.submit_run``: on PostgreSQL, run starts that arrive together share one store
transaction; on both backends each caller gets its own run or its own error."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from baton.core.models import Run, RunStatus
from baton.errors import BatonError, InvalidInput, QueueFull, TaskNotFound
from baton.services import EngineConfig, Services
from baton.store import RunFilter, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from store_kit import register


def _counting_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every ``store.batch`` call from now on."""
    sizes: list[int] = []
    batch = store.batch

    def counted(items: Sequence[Callable[[], Any]]) -> list[Any]:
        sizes.append(len(items))
        return batch(items)

    monkeypatch.setattr(store, "batch", counted)
    return sizes


async def _submit_all(services: Services, starts: list[tuple[str, Any]]) -> list[Any]:
    return await asyncio.gather(
        *(services.submit_run(slug, value) for slug, value in starts), return_exceptions=True
    )


async def test_starts_that_arrive_together_share_transactions_and_get_their_own_answers(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(store, "wf", ["square"])
    services = Services(store)
    sizes = _counting_batches(store, monkeypatch)
    starts: list[tuple[str, Any]] = [("wf/square", [i]) for i in range(30)]
    starts[7] = ("wf/nope", [1])
    starts[19] = ("wf/square", {"b": 1})

    answers = await _submit_all(services, starts)

    assert isinstance(answers[7], TaskNotFound)
    assert isinstance(answers[19], InvalidInput)
    runs = [a for i, a in enumerate(answers) if i not in (7, 19)]
    assert all(isinstance(r, Run) and r.status == RunStatus.PENDING for r in runs)
    assert [r.input for r in runs] == [[i] for i in range(30) if i not in (7, 19)]
    assert {r.id for r in store.get_runs([r.id for r in runs])} == {r.id for r in runs}
    if store.offload_io:  # PostgreSQL, where a commit is a disk flush: starts share them
        assert len(sizes) <= 3 and sum(sizes) == 28
    else:  # SQLite commits cheaply: each start is its own transaction
        assert sizes == []
    services.close()


async def test_a_start_over_the_queue_limit_fails_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(store, "wf", ["square"])
    services = Services(store, EngineConfig(max_pending=5))

    answers = await _submit_all(services, [("wf/square", [i]) for i in range(8)])

    created = [a for a in answers if isinstance(a, Run)]
    refused = [a for a in answers if isinstance(a, BatonError)]
    assert len(created) == 5
    assert len(refused) == 3 and all(isinstance(e, QueueFull) for e in refused)
    assert len(store.get_runs([r.id for r in created])) == 5
    services.close()


async def test_a_start_with_an_idempotency_key_returns_the_first_run(store: Store) -> None:
    register(store, "wf", ["square"])
    services = Services(store)

    first = await services.submit_run("wf/square", [1], idempotency_key="k")
    again = await services.submit_run("wf/square", [1], idempotency_key="k")

    assert again.id == first.id
    services.close()


async def test_an_idempotency_key_with_a_nul_is_refused_as_bad_input(store: Store) -> None:
    register(store, "wf", ["square"])
    services = Services(store)

    with pytest.raises(InvalidInput, match="NUL"):
        await services.submit_run("wf/square", [1], idempotency_key="a\x00b")

    assert store.list_runs(RunFilter(), limit=10) == []
    services.close()
