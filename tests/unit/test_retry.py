"""Retry policy validation and backoff arithmetic."""

from __future__ import annotations

import math

import pytest

from baton.core.retry import DEFAULT_RETRY, Retry, next_retry_delay_s


def test_delay_grows_by_backoff_scaling_per_retry() -> None:
    policy = Retry(max_retries=5, wait_duration_ms=500, backoff_scaling=1.5)

    delays = [policy.delay_s(k) for k in range(1, 5)]

    assert delays == pytest.approx([0.5, 0.75, 1.125, 1.6875])


def test_delay_with_scaling_one_is_constant() -> None:
    policy = Retry(max_retries=3, wait_duration_ms=250, backoff_scaling=1)

    assert [policy.delay_s(k) for k in (1, 2, 3)] == [0.25, 0.25, 0.25]


def test_default_backoff_scaling_is_renders_one_and_a_half() -> None:
    assert Retry(max_retries=1, wait_duration_ms=1000).backoff_scaling == 1.5


def test_default_retry_is_three_retries_one_second_doubling() -> None:
    assert Retry(max_retries=3, wait_duration_ms=1000, backoff_scaling=2.0) == DEFAULT_RETRY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1, "wait_duration_ms": 0},
        {"max_retries": 101, "wait_duration_ms": 0},
        {"max_retries": 1.0, "wait_duration_ms": 0},
        {"max_retries": True, "wait_duration_ms": 0},
        {"max_retries": "3", "wait_duration_ms": 0},
        {"max_retries": 1, "wait_duration_ms": -1},
        {"max_retries": 1, "wait_duration_ms": 1.5},
        {"max_retries": 1, "wait_duration_ms": True},
        {"max_retries": 1, "wait_duration_ms": 0, "backoff_scaling": 0.5},
        {"max_retries": 1, "wait_duration_ms": 0, "backoff_scaling": "2"},
        {"max_retries": 1, "wait_duration_ms": 0, "backoff_scaling": math.nan},
        {"max_retries": 1, "wait_duration_ms": 0, "backoff_scaling": math.inf},
    ],
    ids=lambda kw: ",".join(f"{k}={v!r}" for k, v in kw.items()),
)
def test_retry_rejects_invalid_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Retry(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_retries", [0, 100])
def test_retry_accepts_bounds_of_max_retries(max_retries: int) -> None:
    assert Retry(max_retries=max_retries, wait_duration_ms=0).max_retries == max_retries


def test_wire_round_trip_keeps_policy() -> None:
    policy = Retry(max_retries=4, wait_duration_ms=1200, backoff_scaling=3.0)

    assert policy.to_wire() == {"max_retries": 4, "wait_duration_ms": 1200, "factor": 3.0}
    assert Retry.from_wire(policy.to_wire()) == policy


def test_from_wire_without_factor_doubles_like_renders_server() -> None:
    assert Retry.from_wire({"max_retries": 1, "wait_duration_ms": 10}).backoff_scaling == 2.0


def test_next_retry_delay_follows_policy_until_retries_run_out() -> None:
    policy = Retry(max_retries=2, wait_duration_ms=1000, backoff_scaling=2.0)

    assert next_retry_delay_s(policy, 1, True) == 1.0
    assert next_retry_delay_s(policy, 2, True) == 2.0
    assert next_retry_delay_s(policy, 3, True) is None


def test_next_retry_delay_is_none_for_non_retryable_failure() -> None:
    policy = Retry(max_retries=2, wait_duration_ms=1000)

    assert next_retry_delay_s(policy, 1, False) is None


def test_next_retry_delay_is_none_without_retries() -> None:
    assert next_retry_delay_s(Retry(max_retries=0, wait_duration_ms=1000), 1, True) is None
