"""How both clients wait for a run over SSE (spec §2.4), minus the I/O.

The server replays the terminal event of a run that has already ended, so a wait is:
open the event stream for the run, take the first terminal event carrying its id, and
reconnect with backoff if the stream breaks or closes without one.
"""

from __future__ import annotations

import json
import logging
import time

from baton.client.sse import SSEEvent
from baton.client.types import TaskRunDetails
from baton.errors import RateLimitError, ServerError, TaskRunError, TimeoutError

logger = logging.getLogger(__name__)

BACKOFF_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
"""Sleeps between connection attempts of one wait; ``len(BACKOFF_S) + 1`` attempts in all."""

TERMINAL_EVENTS = frozenset({"task.completed", "task.succeeded", "task.failed", "task.canceled"})

# A broken or closed stream, a 5xx, a 429 or a timed-out request is worth another try;
# other 4xx (unknown run, bad token) are not.
RETRYABLE = (ServerError, RateLimitError, TimeoutError)


def parse_event(event: SSEEvent) -> TaskRunDetails | None:
    """The run in a terminal event; ``None`` for other events and unreadable payloads."""
    if event.event not in TERMINAL_EVENTS:
        return None
    try:
        data = json.loads(event.data)
        if not isinstance(data, dict):
            raise ValueError("payload is not a JSON object")
        return TaskRunDetails.from_json(data)
    except ValueError as exc:
        logger.warning("ignoring unreadable %s event: %s", event.event, exc)
        return None


def outcome(details: TaskRunDetails) -> TaskRunDetails:
    """Returns an ended run, or raises ``TaskRunError`` when it carries an error."""
    if details.error:
        raise TaskRunError(details.error, run_id=details.id, error_type=details.error_type or "")
    return details


def no_event(task_run_id: str) -> ServerError:
    return ServerError(f"wait for task run {task_run_id} failed: the event stream closed early")


class Deadline:
    """The end of an optional overall timeout, on the monotonic clock."""

    def __init__(self, task_run: str, timeout_s: float | None) -> None:
        self._what = task_run
        self._timeout_s = timeout_s
        self._at = None if timeout_s is None else time.monotonic() + timeout_s

    def remaining(self) -> float | None:
        """Seconds left, ``None`` without a timeout; raises ``TimeoutError`` once passed."""
        if self._at is None:
            return None
        left = self._at - time.monotonic()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self) -> TimeoutError:
        return TimeoutError(f"{self._what} timed out after {self._timeout_s:g} s")

    def sleep(self, seconds: float) -> None:
        """Sleeps, but never past the deadline."""
        left = self.remaining()
        time.sleep(seconds if left is None else min(seconds, left))
