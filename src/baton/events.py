"""In-process run events: who is waiting for which run to end.

A multi-server deployment feeds the same hub from the database (LISTEN/NOTIFY); callers do
not change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from baton.core.models import Run

#: Run changes a feed subscriber may fall behind by before it is told to resync.
FEED_BUFFER = 1000


class RunEvents:
    """Wakes the waiters of a run when it reaches a final state."""

    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[Run]]] = {}
        self._feeds: set[RunFeed] = set()
        self._listeners: list[Callable[[Run], None]] = []

    def publish(self, run: Run, *, local: bool = True) -> None:
        """Tell waiters, feeds and listeners that ``run`` changed.

        ``local=False``: the change was made by another process (several servers on one
        database) and is only relayed; listeners (metrics, traces) are not told, so each change
        is counted and exported once, by the process that made it.
        """
        for feed in list(self._feeds):
            feed.put(run)
        if local:
            for listener in self._listeners:
                listener(run)
        if run.status.is_final:
            for fut in self._waiters.pop(run.id, ()):
                if not fut.done():
                    fut.set_result(run)

    def final_future(self, run_id: str) -> asyncio.Future[Run]:
        """A future that resolves when ``run_id`` reaches a final state (after this call)."""
        fut: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(run_id, []).append(fut)
        return fut

    def forget(self, run_id: str, fut: asyncio.Future[Run]) -> None:
        waiters = self._waiters.get(run_id)
        if waiters and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._waiters[run_id]

    # which runs someone waits for (the cross-process watch and its poll read these)

    def is_watched(self, run_id: str) -> bool:
        return run_id in self._waiters

    def watched(self) -> list[str]:
        return list(self._waiters)

    # the global run-change feed (dashboard, /v1/task-runs/stream, metrics) --------------------

    def subscribe(self, buffer: int = FEED_BUFFER) -> RunFeed:
        """Every run change from now on, in order; ``unsubscribe`` when done."""
        feed = RunFeed(buffer)
        self._feeds.add(feed)
        return feed

    def unsubscribe(self, feed: RunFeed) -> None:
        self._feeds.discard(feed)

    def listen(self, listener: Callable[[Run], None]) -> None:
        """Call ``listener(run)`` synchronously on every run change (it must not block)."""
        self._listeners.append(listener)


class RunFeed:
    """One subscriber's queue of run changes. A slow reader is not allowed to hold memory:
    past ``buffer`` changes the queue is dropped and ``lagged`` set, so it can reload."""

    def __init__(self, buffer: int) -> None:
        self._queue: asyncio.Queue[Run] = asyncio.Queue(buffer)
        self.lagged = False

    def put(self, run: Run) -> None:
        try:
            self._queue.put_nowait(run)
        except asyncio.QueueFull:
            self.lagged = True
            while not self._queue.empty():
                self._queue.get_nowait()

    async def get(self, timeout_s: float) -> Run | None:
        """The next change, or ``None`` after ``timeout_s`` without one."""
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self._queue.get(), timeout_s)
        return None

    def take_lagged(self) -> bool:
        lagged, self.lagged = self.lagged, False
        return lagged
