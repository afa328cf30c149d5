"""The cron loop: fires every due schedule tick, once, whatever number of servers run it.

Each server's loop computes the same ticks from the cron expression; ``Store.fire_tick``
claims ``(schedule, tick)`` under a unique key in the transaction that enqueues the run, so
exactly one server fires each tick. Ticks missed while no server ran are fired on start-up
if they are at most ``catchup_s`` old (at least ``GRACE_S``); older ones are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from baton.core.durable import Schedule, TickResult, cron_ticks, next_tick
from baton.core.models import utcnow
from baton.services import Services

log = logging.getLogger("baton.scheduler")

__all__ = ["GRACE_S", "CronScheduler"]

#: Ticks this late are always fired, whatever the schedule's catch-up window (loop lag).
GRACE_S = 10.0
#: Longest sleep between passes (schedules created elsewhere are seen this soon).
MAX_SLEEP_S = 1.0
MIN_SLEEP_S = 0.01

Clock = Callable[[], datetime]


class CronScheduler:
    """Fires schedule ticks through ``services``.

    Args:
        services: the engine's operations.
        clock: returns the current aware UTC time; tests inject their own.
    """

    def __init__(self, services: Services, *, clock: Clock = utcnow) -> None:
        self.services = services
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        services.on_schedules_changed(self._wake.set)

    def due_ticks(self, schedule: Schedule, now: datetime) -> list[datetime]:
        """The ticks of ``schedule`` to fire at ``now``: after its last tick (or its creation)
        and inside its catch-up window."""
        window = timedelta(seconds=max(schedule.spec.catchup_s, GRACE_S))
        after = max(schedule.last_tick_at or schedule.created_at, now - window)
        return cron_ticks(schedule.spec, after, now)

    def run_due(self, now: datetime | None = None) -> list[TickResult]:
        """One pass: fire every due tick of every active schedule; returns what fired here."""
        now = now or self.clock()
        fired: list[TickResult] = []
        for schedule in self.services.list_schedules():
            if schedule.paused:
                continue
            for tick in self.due_ticks(schedule, now):
                try:
                    result = self.services.fire_tick(schedule, tick)
                except Exception:
                    log.exception("firing schedule %s at %s failed", schedule.id, tick)
                    break
                if result.fired:
                    fired.append(result)
        return fired

    def seconds_to_next(self, now: datetime) -> float:
        """Seconds until the next tick of any active schedule, capped at ``MAX_SLEEP_S``."""
        soonest = MAX_SLEEP_S
        for schedule in self.services.list_schedules():
            if schedule.paused:
                continue
            after = max(schedule.last_tick_at or schedule.created_at, now)
            wait = (next_tick(schedule.spec, after) - now).total_seconds()
            soonest = min(soonest, wait)
        return max(MIN_SLEEP_S, soonest)

    async def run(self) -> None:
        """Fire ticks until ``stop()``."""
        while not self._stopping:
            self._wake.clear()
            try:
                self.run_due()
                sleep_s = self.seconds_to_next(self.clock())
            except Exception:
                log.exception("schedule pass failed")
                sleep_s = MAX_SLEEP_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), sleep_s)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
