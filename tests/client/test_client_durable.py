"""``BatonAsync(...).durable`` against the real engine's ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from baton.client import BatonAsync
from baton.errors import ClientError
from baton.server import Engine


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[BatonAsync]:
    transport = httpx.ASGITransport(app=engine.asgi(require_token=False))
    async with BatonAsync(base_url="http://test", transport=transport) as client:
        yield client


async def test_schedules_round_trip_through_the_async_client(client: BatonAsync) -> None:
    made = await client.durable.create_schedule(
        "squares/calculate_square", "0 0 1 1 *", [5], timezone="Asia/Tokyo", overlap="cancel"
    )
    paused = await client.durable.pause_schedule(made.id)
    listed = await client.durable.list_schedules()
    got = await client.durable.get_schedule(made.id)
    await client.durable.delete_schedule(made.id)

    assert (made.task_slug, made.cron, made.timezone, made.overlap) == (
        "squares/calculate_square",
        "0 0 1 1 *",
        "Asia/Tokyo",
        "cancel",
    )
    assert made.input == [5]
    assert paused.paused
    assert [s.id for s in listed] == [made.id]
    assert got.ticks == ()
    assert await client.durable.list_schedules() == []


async def test_bad_schedule_raises_client_error_with_the_reason(client: BatonAsync) -> None:
    with pytest.raises(ClientError, match="unknown timezone") as caught:
        await client.durable.create_schedule("squares/calculate_square", "* * * * *", timezone="X")
    assert caught.value.status == 400


async def test_pause_and_resume_the_queue_through_the_async_client(client: BatonAsync) -> None:
    assert await client.durable.pause("queue") is True
    assert await client.durable.pause("queue") is False
    pauses = await client.durable.list_pauses()
    assert await client.durable.resume("queue") is True

    assert [(p.scope, p.target) for p in pauses] == [("queue", "")]
    assert await client.durable.list_pauses() == []


async def test_duplicate_idempotency_key_returns_the_first_run_id(client: BatonAsync) -> None:
    first = await client.workflows.start_task("squares/calculate_square", [2], idempotency_key="k")
    again = await client.workflows.start_task("squares/calculate_square", [3], idempotency_key="k")

    assert again.id == first.id
    assert await client.durable.get_checkpoints(first.id) == {}
