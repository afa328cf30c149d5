"""Instance plans: the CPU and memory one attempt may use."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_PLAN", "DEFAULT_TIMEOUT_S", "PLANS", "Plan", "check_plan", "check_timeout"]


@dataclass(frozen=True)
class Plan:
    name: str
    cpus: float
    memory_mb: int

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024 * 1024


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("starter", 0.5, 512),
        Plan("standard", 1.0, 2048),
        Plan("pro", 2.0, 4096),
        Plan("pro_plus", 4.0, 8192),
        Plan("pro_max", 8.0, 16384),
        Plan("pro_ultra", 16.0, 32768),
    )
}
DEFAULT_PLAN = "standard"
DEFAULT_TIMEOUT_S = 7200
MIN_TIMEOUT_S = 30
MAX_TIMEOUT_S = 86400


def check_plan(plan: object) -> str:
    """Return ``plan`` if it names a known plan, else raise a ``ValueError`` listing them."""
    if not isinstance(plan, str) or plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}; choose one of: {', '.join(PLANS)}")
    return plan


def check_timeout(timeout_seconds: object) -> int:
    """Return the timeout if it is a whole number of seconds from 30 to 86400."""
    if (
        isinstance(timeout_seconds, bool)
        or not isinstance(timeout_seconds, int)
        or not MIN_TIMEOUT_S <= timeout_seconds <= MAX_TIMEOUT_S
    ):
        raise ValueError(
            f"timeout_seconds must be an int from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} "
            f"(default {DEFAULT_TIMEOUT_S}), got {timeout_seconds!r}"
        )
    return timeout_seconds
