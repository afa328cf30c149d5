"""Client commands (run, start, runs, tasks) against a real ``baton dev`` server."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable

import pytest
from click.testing import Result

Baton = Callable[..., Result]


def test_run_prints_result_and_exits_zero(baton: Baton, server_url: str) -> None:
    result = baton("run", "squares/sum_squares", "[3, 4]", "--url", server_url)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "25"
    assert "completed" in result.stderr


def test_run_with_single_json_value_passes_one_argument(baton: Baton, server_url: str) -> None:
    result = baton("run", "squares/calculate_square", "7", "--url", server_url)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "49"


def test_run_json_prints_run_details(baton: Baton, server_url: str) -> None:
    result = baton("run", "squares/calculate_square", "[2]", "--json", "--url", server_url)

    assert result.exit_code == 0, result.output
    details = json.loads(result.stdout)
    assert details["status"] == "completed"
    assert details["results"] == [4]


def test_run_with_bad_json_exits_2_explaining_the_format(baton: Baton, server_url: str) -> None:
    result = baton("run", "squares/sum_squares", "[3,", "--url", server_url)

    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    assert "[3, 4]" in result.output


def test_run_with_input_that_does_not_bind_exits_1_with_message(
    baton: Baton, server_url: str
) -> None:
    result = baton("run", "squares/sum_squares", "[3]", "--url", server_url)

    assert result.exit_code == 1
    assert "missing a required argument" in result.output


def test_run_of_unknown_task_exits_1_with_message(baton: Baton, server_url: str) -> None:
    result = baton("run", "squares/nope", "[]", "--url", server_url)

    assert result.exit_code == 1
    assert "squares/nope" in result.output


@pytest.mark.slow
def test_run_that_fails_exits_non_zero_with_the_error(baton: Baton, server_url: str) -> None:
    # calculate_square("x") raises TypeError; the default policy retries it for about 7 s.
    result = baton("run", "squares/calculate_square", '["x"]', "--url", server_url)

    assert result.exit_code != 0
    assert "failed" in result.stderr
    assert "TypeError" in result.stderr or "multiply" in result.stderr


def test_start_prints_a_run_id(baton: Baton, server_url: str) -> None:
    result = baton("start", "squares/calculate_square", "[3]", "--url", server_url)

    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"trn-[0-9a-v]{20}", result.stdout.strip())


def _run_id(baton: Baton, server_url: str) -> str:
    result = baton("run", "squares/calculate_square", "[6]", "--json", "--url", server_url)
    assert result.exit_code == 0, result.output
    run_id: str = json.loads(result.stdout)["id"]
    return run_id


def test_runs_list_json_is_valid_json_of_runs(baton: Baton, server_url: str) -> None:
    run_id = _run_id(baton, server_url)

    result = baton("runs", "list", "--json", "--limit", "100", "--url", server_url)

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    assert run_id in {row["task_run"]["id"] for row in rows}


def test_runs_list_table_shows_runs(baton: Baton, server_url: str) -> None:
    run_id = _run_id(baton, server_url)

    result = baton("runs", "list", "--task", "squares/calculate_square", "--url", server_url)

    assert result.exit_code == 0, result.output
    assert run_id in result.stdout


def test_runs_get_shows_run_and_result(baton: Baton, server_url: str) -> None:
    run_id = _run_id(baton, server_url)

    result = baton("runs", "get", run_id, "--url", server_url)

    assert result.exit_code == 0, result.output
    assert run_id in result.stdout
    assert "completed" in result.stdout
    assert "36" in result.stdout


def test_runs_get_unknown_run_exits_1(baton: Baton, server_url: str) -> None:
    result = baton("runs", "get", "trn-00000000000000000000", "--url", server_url)

    assert result.exit_code == 1
    assert "not found" in result.output


def test_runs_cancel_finished_run_exits_non_zero_with_message(
    baton: Baton, server_url: str
) -> None:
    run_id = _run_id(baton, server_url)

    result = baton("runs", "cancel", run_id, "--url", server_url)

    assert result.exit_code != 0
    assert "completed" in result.output


def test_runs_cancel_unfinished_run_succeeds(baton: Baton, server_url: str) -> None:
    started = baton("start", "squares/calculate_square", '["x"]', "--url", server_url)
    run_id = started.stdout.strip()

    result = baton("runs", "cancel", run_id, "--url", server_url)

    assert result.exit_code == 0, result.output
    assert f"canceled {run_id}" in result.stderr


def test_tasks_lists_both_tasks(baton: Baton, server_url: str) -> None:
    result = baton("tasks", "--url", server_url)

    assert result.exit_code == 0, result.output
    assert "squares/calculate_square" in result.stdout
    assert "squares/sum_squares" in result.stdout


def test_tasks_json_is_valid_json(baton: Baton, server_url: str) -> None:
    result = baton("tasks", "--json", "--url", server_url)

    assert result.exit_code == 0, result.output
    assert {t["slug"] for t in json.loads(result.stdout)} == {
        "squares/calculate_square",
        "squares/sum_squares",
    }


def test_unreachable_server_exits_1_with_message(baton: Baton) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    result = baton("runs", "list", "--url", url)

    assert result.exit_code == 1
    assert "network error" in result.output
