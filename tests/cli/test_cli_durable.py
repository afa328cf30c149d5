"""``baton schedules``, ``pause``/``resume``/``pauses``, ``checkpoints`` and
``start --idempotency-key`` against a real ``baton dev`` server."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import Result

Baton = Callable[..., Result]


def test_schedules_create_list_get_pause_resume_delete(baton: Baton, server_url: str) -> None:
    made = baton(
        "schedules",
        "create",
        "squares/calculate_square",
        "*/5 * * * *",
        "--input",
        "[3]",
        "--timezone",
        "Europe/Paris",
        "--overlap",
        "queue",
        "--url",
        server_url,
    )
    assert made.exit_code == 0, made.output
    sid = made.stdout.strip()

    listed = baton("schedules", "list", "--json", "--url", server_url)
    paused = baton("schedules", "pause", sid, "--url", server_url)
    got = baton("schedules", "get", sid, "--json", "--url", server_url)
    resumed = baton("schedules", "resume", sid, "--url", server_url)
    shown = baton("schedules", "get", sid, "--url", server_url)
    deleted = baton("schedules", "delete", sid, "--url", server_url)
    gone = baton("schedules", "get", sid, "--url", server_url)

    assert [s["id"] for s in json.loads(listed.stdout)] == [sid]
    assert paused.exit_code == 0 and f"paused {sid}" in paused.stderr
    detail = json.loads(got.stdout)
    assert (detail["paused"], detail["timezone"], detail["input"]) == (True, "Europe/Paris", [3])
    assert resumed.exit_code == 0
    assert "*/5 * * * *" in shown.stdout
    assert deleted.exit_code == 0
    assert gone.exit_code == 1
    assert "not found" in gone.output


def test_schedules_create_with_a_bad_cron_exits_1_with_the_reason(
    baton: Baton, server_url: str
) -> None:
    result = baton(
        "schedules", "create", "squares/calculate_square", "sometimes", "--url", server_url
    )

    assert result.exit_code == 1
    assert "invalid cron expression" in result.output


def test_pause_queue_holds_new_runs_until_resume(baton: Baton, server_url: str) -> None:
    paused = baton("pause", "queue", "--url", server_url)
    started = baton("start", "squares/calculate_square", "[6]", "--url", server_url)
    listed = baton("pauses", "--json", "--url", server_url)
    still = baton("runs", "get", started.stdout.strip(), "--json", "--url", server_url)
    resumed = baton("resume", "queue", "--url", server_url)
    again = baton("resume", "queue", "--url", server_url)

    assert paused.exit_code == 0 and "paused queue" in paused.stderr
    assert [p["scope"] for p in json.loads(listed.stdout)] == ["queue"]
    assert json.loads(still.stdout)["status"] == "pending"
    assert resumed.exit_code == 0 and "resumed queue" in resumed.stderr
    assert "was not paused" in again.stderr


def test_pause_task_without_naming_it_is_a_usage_error(baton: Baton, server_url: str) -> None:
    result = baton("pause", "task", "--url", server_url)

    assert result.exit_code == 2
    assert "name the task" in result.output


def test_start_with_the_same_idempotency_key_prints_the_first_run_id(
    baton: Baton, server_url: str
) -> None:
    args = ("start", "squares/calculate_square", "[2]", "--idempotency-key", "cli-k1")
    first = baton(*args, "--url", server_url)
    again = baton(*args, "--url", server_url)
    checkpoints = baton("checkpoints", first.stdout.strip(), "--url", server_url)

    assert first.exit_code == 0, first.output
    assert again.stdout.strip() == first.stdout.strip()
    assert json.loads(checkpoints.stdout) == {}
