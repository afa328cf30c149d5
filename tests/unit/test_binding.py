"""Checking a run's JSON input against the task's registered signature."""

from __future__ import annotations

import math

import pytest

from baton.binding import check_input
from baton.core.models import Param, TaskDef
from baton.errors import InvalidInput

SUM = TaskDef("sum", parameters=(Param("a", has_default=False), Param("b", has_default=False)))
OPTIONAL = TaskDef("opt", parameters=(Param("a", has_default=False), Param("b", has_default=True)))


def check(task: TaskDef, value: object) -> object:
    return check_input(task, value, slug="wf/" + task.name)


def test_none_input_becomes_empty_list() -> None:
    assert check(TaskDef("none", parameters=()), None) == []


@pytest.mark.parametrize("value", [[3, 4], {"a": 3, "b": 4}, [3], {"a": 3}])
def test_input_that_binds_is_returned_unchanged(value: object) -> None:
    assert check(OPTIONAL, value) == value


def test_missing_argument_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="missing a required argument") as info:
        check(SUM, [3])

    assert "wf/sum(a, b)" in info.value.message


@pytest.mark.parametrize("value", [[1, 2, 3], {"a": 1, "b": 2, "c": 3}])
def test_extra_arguments_are_invalid_input(value: object) -> None:
    with pytest.raises(InvalidInput, match="does not match wf/sum"):
        check(SUM, value)


@pytest.mark.parametrize("value", [5, "x", 1.5, True])
def test_input_that_is_not_array_or_object_is_invalid(value: object) -> None:
    with pytest.raises(InvalidInput, match="must be a JSON array"):
        check(SUM, value)


def test_non_finite_number_is_not_json() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        check(SUM, [math.nan, 1])


def test_input_over_four_mib_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="4 MiB"):
        check(SUM, ["x" * (4 * 1024 * 1024), 1])


def test_task_without_described_signature_accepts_any_array_or_object() -> None:
    task = TaskDef("ts", parameters=None)

    assert check(task, [1, 2, 3, 4]) == [1, 2, 3, 4]
    assert check(task, {"anything": 1}) == {"anything": 1}


def test_parameter_kinds_are_respected() -> None:
    task = TaskDef(
        "kinds",
        parameters=(
            Param("a", has_default=False, kind="positional_only"),
            Param("rest", has_default=False, kind="var_positional"),
            Param("k", has_default=False, kind="keyword_only"),
        ),
    )

    with pytest.raises(InvalidInput):
        check(task, [1, 2, 3])
    with pytest.raises(InvalidInput):
        check(task, {"a": 1, "k": 2})
