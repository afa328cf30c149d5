"""``Batcher``: coalesces what many callers send into few requests, one request at a time.

A worker reports on each of its attempts (process started, logs, outcome). Sending each
report as its own request costs the server one request and several transactions per report;
``HttpLink`` sends them through a ``Batcher`` instead: an item submitted while no request is
in flight leaves at once (no added latency at low load), and items submitted while one is in
flight leave together in the next one, which the server stores in one transaction. The
server's run starts go through one too (``Services.submit_run``): one commit for the runs that
arrive together.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """Sends items through ``send`` in batches of at most ``max_items`` items and
    ``max_bytes`` bytes as ``size`` measures them (an item larger than that goes alone), with
    at most ``max_in_flight`` batches under way.

    ``send`` answers one result per item, in order. Each ``submit`` answers its own item's
    result; if ``send`` raises, every caller of that batch sees the exception.
    """

    def __init__(
        self,
        send: Callable[[Sequence[T]], Awaitable[Sequence[Any]]],
        *,
        max_items: int,
        max_bytes: int | None = None,
        size: Callable[[T], int] = len,  # type: ignore[assignment]
        max_in_flight: int = 1,
    ) -> None:
        if max_items < 1 or max_in_flight < 1:
            raise ValueError("max_items and max_in_flight must be at least 1")
        self._send = send
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size = size
        self.max_in_flight = max_in_flight
        self._queue: deque[tuple[T, asyncio.Future[Any]]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def submit(self, item: T) -> Any:
        """Send ``item`` (with whatever else is waiting) and answer its result."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._start()
        return await future

    def _start(self) -> None:
        while self._queue and len(self._tasks) < self.max_in_flight and not self._closed:
            batch = self._take()
            if not batch:
                return
            task = asyncio.create_task(self._run(batch), name="batch")
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._done, batch))

    def _take(self) -> list[tuple[T, asyncio.Future[Any]]]:
        batch: list[tuple[T, asyncio.Future[Any]]] = []
        size = 0
        while self._queue and len(batch) < self.max_items:
            item, future = self._queue[0]
            if future.done():  # its caller was canceled before it left
                self._queue.popleft()
                continue
            if self.max_bytes is not None:
                n = self._size(item)
                if batch and size + n > self.max_bytes:
                    break
                size += n
            self._queue.popleft()
            batch.append((item, future))
        return batch

    async def _run(self, batch: list[tuple[T, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} results for {len(batch)} items")
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _done(self, batch: list[tuple[T, asyncio.Future[Any]]], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        for _, future in batch:  # canceled (possibly before it ran): so are its callers
            future.cancel()
        self._start()

    async def aclose(self) -> None:
        """Cancel the batches under way and the items waiting (their callers see
        ``CancelledError``)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._queue:
            self._queue.popleft()[1].cancel()
