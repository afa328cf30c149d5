"""``Batcher``: one batch in flight; what arrives meanwhile leaves together in the next."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from baton.batcher import Batcher


class Server:
    """Answers each item with its upper-case form; holds a batch until ``release``d."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, items: Sequence[bytes]) -> list[bytes]:
        self.batches.append(list(items))
        await self.gate.wait()
        return [i.upper() for i in items]


async def test_each_caller_gets_its_own_result_and_waiting_items_travel_together() -> None:
    server = Server()
    batcher = Batcher(server.send, max_items=10, max_bytes=1000)

    answers = await asyncio.gather(*(batcher.submit(b"item%d" % i) for i in range(4)))

    assert answers == [b"ITEM0", b"ITEM1", b"ITEM2", b"ITEM3"]
    assert server.batches == [[b"item0"], [b"item1", b"item2", b"item3"]]


async def test_a_caller_canceled_before_its_item_leaves_is_left_out() -> None:
    server = Server()
    server.gate.clear()
    batcher = Batcher(server.send, max_items=10, max_bytes=1000)
    first = asyncio.create_task(batcher.submit(b"a"))
    gone = asyncio.create_task(batcher.submit(b"b"))
    kept = asyncio.create_task(batcher.submit(b"c"))
    await asyncio.sleep(0)
    gone.cancel()
    server.gate.set()

    assert (await first, await kept) == (b"A", b"C")
    assert server.batches == [[b"a"], [b"c"]]
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_a_failed_send_fails_every_caller_of_that_batch_only() -> None:
    calls = []

    async def send(items: Sequence[bytes]) -> list[bytes]:
        calls.append(list(items))
        if len(calls) == 2:
            raise ConnectionError("down")
        await asyncio.sleep(0)
        return list(items)

    batcher = Batcher(send, max_items=10, max_bytes=1000)
    answers = await asyncio.gather(
        *(batcher.submit(b"%d" % i) for i in range(3)), return_exceptions=True
    )

    assert answers[0] == b"0"
    assert all(isinstance(a, ConnectionError) for a in answers[1:])
    assert await batcher.submit(b"after") == b"after"


async def test_a_wrong_number_of_results_is_an_error_for_every_caller() -> None:
    async def send(items: Sequence[bytes]) -> list[bytes]:
        return []

    batcher = Batcher(send, max_items=10, max_bytes=1000)
    with pytest.raises(ValueError, match="0 results for 1 items"):
        await batcher.submit(b"x")


async def test_aclose_cancels_what_is_under_way_and_waiting() -> None:
    server = Server()
    server.gate.clear()
    batcher = Batcher(server.send, max_items=10, max_bytes=1000)
    callers = [asyncio.create_task(batcher.submit(b"%d" % i)) for i in range(2)]
    await asyncio.sleep(0)

    await batcher.aclose()

    for caller in callers:
        with pytest.raises(asyncio.CancelledError):
            await caller
