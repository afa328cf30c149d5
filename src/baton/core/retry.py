"""Retry policy and backoff, as in Render's SDK."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_RETRY", "Retry"]


@dataclass(frozen=True)
class Retry:
    """How often and how soon a failed task run is tried again.

    Args:
        max_retries: retries after the first attempt; a run makes at most ``max_retries + 1``
            attempts.
        wait_duration_ms: the delay before the first retry, in milliseconds.
        backoff_scaling: the factor each further delay grows by (Render's default, 1.5).

    The delay before retry ``k`` (1-based) is ``wait_duration_ms * backoff_scaling ** (k - 1)``.
    """

    max_retries: int
    wait_duration_ms: int
    backoff_scaling: float = 1.5

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise ValueError(f"max_retries must be an int, got {self.max_retries!r}")
        if not 0 <= self.max_retries <= 100:
            raise ValueError(f"max_retries must be between 0 and 100, got {self.max_retries}")
        if (
            isinstance(self.wait_duration_ms, bool)
            or not isinstance(self.wait_duration_ms, int)
            or self.wait_duration_ms < 0
        ):
            raise ValueError(
                f"wait_duration_ms must be a non-negative int, got {self.wait_duration_ms!r}"
            )
        if (
            isinstance(self.backoff_scaling, bool)
            or not isinstance(self.backoff_scaling, int | float)
            or not math.isfinite(self.backoff_scaling)
            or self.backoff_scaling < 1
        ):
            raise ValueError(f"backoff_scaling must be >= 1, got {self.backoff_scaling!r}")

    def delay_s(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        return self.wait_duration_ms / 1000.0 * self.backoff_scaling ** max(0, retry - 1)

    def to_wire(self) -> dict[str, Any]:
        """The ``options.retry`` object of the worker protocol's task registration."""
        return {
            "max_retries": self.max_retries,
            "wait_duration_ms": self.wait_duration_ms,
            "factor": self.backoff_scaling,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Retry:
        """Read ``options.retry``; a missing factor means 2.0, as on Render's own server."""
        return cls(
            max_retries=int(data.get("max_retries", 3)),
            wait_duration_ms=int(data.get("wait_duration_ms", 1000)),
            backoff_scaling=float(data.get("factor", 2.0)),
        )


#: The platform's policy when a task configures none: 3 retries, 1 s, doubling.
DEFAULT_RETRY = Retry(max_retries=3, wait_duration_ms=1000, backoff_scaling=2.0)


def next_retry_delay_s(policy: Retry, attempts_made: int, retryable: bool) -> float | None:
    """Seconds until the next attempt after a failed one, or ``None`` if the run is done.

    ``attempts_made`` counts the attempt that just failed.
    """
    if not retryable or attempts_made > policy.max_retries:
        return None
    return policy.delay_s(attempts_made)
