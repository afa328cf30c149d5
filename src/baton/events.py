"""In-process run events: who is waiting for which run, and who watches every change.

A multi-server deployment feeds the same hub from the database (LISTEN/NOTIFY); callers do
not change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from baton.core.models import Run


class RunEvents:
    """Publishes run changes to waiters (one run) and watchers (every run)."""

    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[Run]]] = {}
        self._watchers: set[asyncio.Queue[Run]] = set()
        self._listeners: list[Callable[[Run], None]] = []

    def publish(self, run: Run) -> None:
        if run.status.is_final:
            for fut in self._waiters.pop(run.id, ()):
                if not fut.done():
                    fut.set_result(run)
        for queue in self._watchers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(run)
        for listener in self._listeners:
            listener(run)

    def on_change(self, listener: Callable[[Run], None]) -> None:
        """Call ``listener(run)`` synchronously on every published change."""
        self._listeners.append(listener)

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

    @contextlib.asynccontextmanager
    async def watch(self, maxsize: int = 10_000) -> AsyncIterator[asyncio.Queue[Run]]:
        """Every run change while the context is open (dropped if the reader falls behind)."""
        queue: asyncio.Queue[Run] = asyncio.Queue(maxsize)
        self._watchers.add(queue)
        try:
            yield queue
        finally:
            self._watchers.discard(queue)
