"""Which workers are alive: id, slots, what they run and when they last checked in.

The local worker reports itself here on every heartbeat; remote workers report through the
worker API into the same registry. It lives in the server's memory: a worker that stops
reporting is shown as stale, then forgotten.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from baton.core.models import utcnow

FORGET_AFTER_S = 3600.0


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as last reported.

    Attributes:
        id: the worker's id (``wrk-…``), the one its leases carry.
        kind: ``local`` (inside the server process) or ``remote``.
        host: the machine it runs on.
        slots: attempts it computes at once.
        running: attempts it holds now (waiting parents included).
        computing: attempts computing now (waiting parents excluded).
        started_at: when it first reported.
        last_heartbeat_at: when it last reported.
    """

    id: str
    kind: str
    host: str
    slots: int
    running: int
    computing: int
    started_at: datetime
    last_heartbeat_at: datetime

    def stale(self, lease_s: float, now: datetime | None = None) -> bool:
        """Silent for longer than a lease: its attempts are about to be retried elsewhere."""
        return ((now or utcnow()) - self.last_heartbeat_at).total_seconds() > lease_s


class WorkerRegistry:
    """The workers known to this server, newest report wins."""

    def __init__(self) -> None:
        self._workers: dict[str, WorkerInfo] = {}

    def beat(
        self,
        worker_id: str,
        *,
        slots: int,
        running: int = 0,
        computing: int = 0,
        kind: str = "local",
        host: str | None = None,
    ) -> WorkerInfo:
        now = utcnow()
        known = self._workers.get(worker_id)
        info = WorkerInfo(
            id=worker_id,
            kind=kind,
            host=host or socket.gethostname(),
            slots=slots,
            running=running,
            computing=computing,
            started_at=known.started_at if known else now,
            last_heartbeat_at=now,
        )
        self._workers[worker_id] = info
        return info

    def update(self, worker_id: str, *, running: int, computing: int) -> None:
        """New counts without a heartbeat (the heartbeat time does not move)."""
        known = self._workers.get(worker_id)
        if known is not None:
            self._workers[worker_id] = replace(known, running=running, computing=computing)

    def forget(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    def list(self) -> list[WorkerInfo]:
        cutoff = utcnow() - timedelta(seconds=FORGET_AFTER_S)
        for worker_id in [w.id for w in self._workers.values() if w.last_heartbeat_at < cutoff]:
            del self._workers[worker_id]
        return sorted(self._workers.values(), key=lambda w: w.started_at)
