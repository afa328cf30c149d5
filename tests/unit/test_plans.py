"""Instance plans and timeouts a task may register."""

from __future__ import annotations

import pytest

from baton.core.plans import DEFAULT_PLAN, PLANS, check_plan, check_timeout


@pytest.mark.parametrize("plan", list(PLANS))
def test_check_plan_returns_known_plan(plan: str) -> None:
    assert check_plan(plan) == plan


def test_default_plan_is_known() -> None:
    assert DEFAULT_PLAN in PLANS


@pytest.mark.parametrize("plan", ["huge", "", "Standard", None, 1])
def test_check_plan_rejects_unknown_plan_listing_the_choices(plan: object) -> None:
    with pytest.raises(ValueError, match="starter, standard, pro") as info:
        check_plan(plan)

    assert repr(plan) in str(info.value)


@pytest.mark.parametrize("seconds", [30, 7200, 86400])
def test_check_timeout_accepts_whole_seconds_in_range(seconds: int) -> None:
    assert check_timeout(seconds) == seconds


@pytest.mark.parametrize("seconds", [29, 86401, 0, -5, 60.0, "60", True, None])
def test_check_timeout_rejects_out_of_range_or_non_int(seconds: object) -> None:
    with pytest.raises(ValueError, match="from 30 to 86400"):
        check_timeout(seconds)
