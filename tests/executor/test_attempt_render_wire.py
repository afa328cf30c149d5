"""Render-specific parts of the attempt's side of the socket: start-up stamps, registrations
from Render's SDKs, and the cold-start breakdown the API shows."""

from __future__ import annotations

from typing import Any

import pytest

from baton.api.schemas import startup_breakdown
from baton.binding import UNSPECIFIED_KIND, check_input
from baton.executor.protocol import ProtocolError, Request
from baton.worker.attempt import startup_timings, task_defs

RENDER_UA = "render-sdk-python/1.5.0 (cpython/3.11.7; linux/x86_64)"


def register(body: Any, user_agent: str = RENDER_UA) -> Request:
    return Request("POST", "/register-tasks", {}, body, {"user-agent": user_agent})


def test_startup_stamps_become_epoch_seconds_and_garbage_is_ignored() -> None:
    query = {
        "sdk_import_started_at": "1795223824288019008",
        "sdk_import_finished_at": "not-a-number",
        "sdk_started_at": "-5",
        "other": "1",
    }

    assert startup_timings(query) == {"sdk_import_started_at": 1795223824.288019}


def test_render_registration_leaves_binding_to_the_sdk() -> None:
    body = {"tasks": [{"name": "total", "parameters": [{"name": "values", "has_default": False}]}]}

    (task,) = task_defs(register(body))

    assert task.parameters is not None
    assert task.parameters[0].kind == UNSPECIFIED_KIND
    # def total(*values) registers like a plain parameter: three arguments must be accepted
    assert check_input(task, [1, 2, 3], slug="wf/total") == [1, 2, 3]


def test_baton_registration_keeps_its_parameter_kinds_and_binding() -> None:
    body = {"tasks": [{"name": "one", "parameters": [{"name": "a", "has_default": False}]}]}

    (task,) = task_defs(register(body, "baton-sdk-python (cpython/3.11.7)"))

    assert task.parameters is not None
    assert task.parameters[0].kind == "positional_or_keyword"


@pytest.mark.parametrize("body", [{}, {"tasks": "no"}, {"tasks": [1]}, {"tasks": [{"x": 1}]}])
def test_malformed_registration_is_a_400(body: Any) -> None:
    with pytest.raises(ProtocolError):
        task_defs(register(body))


def test_breakdown_of_a_cold_start_splits_process_sdk_import_app_and_input() -> None:
    stamps = {
        "forked_at": 100.0,
        "sdk_import_started_at": 100.1,
        "sdk_import_finished_at": 100.4,
        "sdk_started_at": 100.5,
        "input_at": 100.52,
    }

    assert startup_breakdown(stamps) == {
        "totalS": 0.52,
        "processS": 0.1,
        "sdkImportS": 0.3,
        "appImportS": 0.1,
        "inputS": 0.02,
        "preloaded": False,
    }


def test_breakdown_of_a_warm_start_counts_the_preloaded_import_as_zero() -> None:
    stamps = {
        "forked_at": 100.0,
        "sdk_import_started_at": 50.0,
        "sdk_import_finished_at": 50.3,
        "sdk_started_at": 100.004,
        "input_at": 100.01,
    }

    breakdown = startup_breakdown(stamps)

    assert breakdown["preloaded"] is True
    assert (breakdown["sdkImportS"], breakdown["appImportS"]) == (0.0, 0.0)
    assert breakdown["processS"] == 0.004


def test_breakdown_without_sdk_stamps_has_only_the_total() -> None:
    assert startup_breakdown({"forked_at": 1.0, "input_at": 1.25}) == {"totalS": 0.25}
    assert startup_breakdown({"input_at": 1.25}) == {}
