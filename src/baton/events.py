"""In-process run events: who is waiting for which run to end.

A multi-server deployment feeds the same hub from the database (LISTEN/NOTIFY); callers do
not change.
"""

from __future__ import annotations

import asyncio

from baton.core.models import Run


class RunEvents:
    """Wakes the waiters of a run when it reaches a final state."""

    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Future[Run]]] = {}

    def publish(self, run: Run) -> None:
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
