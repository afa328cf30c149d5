"""``PendingGauge``: when ``enqueue`` must count the pending runs to hold ``max_pending``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from baton.errors import QueueFull

#: How old the last count may be before the next enqueue counts again.
RECOUNT_S = 1.0
#: From this share of the limit on, every enqueue counts (the limit then holds exactly).
NEAR_LIMIT = 0.9


class PendingGauge:
    """Counting the pending runs scans every one of them (thousands under load), so it is
    not done on every enqueue: only when the last count is older than ``RECOUNT_S`` or, with
    the runs this process enqueued since, comes within ``NEAR_LIMIT`` of the limit. Far from
    the limit an enqueue costs no count; near it, every enqueue counts and the limit is exact.
    Runs that other processes enqueue are seen at the next count."""

    def __init__(self) -> None:
        self._count: int | None = None
        self._at = 0.0
        self._added = 0

    def check(self, max_pending: int | None, count: Callable[[], Mapping[str, Any] | None]) -> None:
        """Raise ``QueueFull`` if one more run would pass ``max_pending``; ``count()`` runs
        ``SELECT count(*) AS n`` of the pending runs, when a count is due."""
        if max_pending is None or not self.must_count(max_pending):
            return
        row = count()
        pending = int(row["n"]) if row else 0
        self.counted(pending)
        if pending >= max_pending:
            raise QueueFull(
                f"the queue holds {pending} pending runs (limit {max_pending}); try again later"
            )

    def must_count(self, max_pending: int) -> bool:
        if self._count is None or time.monotonic() - self._at >= RECOUNT_S:
            return True
        return self._count + self._added >= max_pending * NEAR_LIMIT

    def counted(self, pending: int) -> None:
        self._count, self._at, self._added = pending, time.monotonic(), 0

    def added(self) -> None:
        self._added += 1
