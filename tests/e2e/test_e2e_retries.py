"""Retries: backoff between attempts, NonRetryableError, and exhausting the policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import StartEngine, final_run

from baton.core.models import AttemptStatus, Run, RunStatus


async def test_task_failing_twice_completes_on_its_third_attempt(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("flaky_flows")
    counter = tmp_path / "attempts"

    run = engine.services.start_run("flaky_flows/flaky", [str(counter)])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.COMPLETED, done.error
    assert done.results == ["succeeded on attempt 2"]
    assert done.retries == 2
    assert counter.read_text() == "3"
    assert [a.status for a in done.attempts] == [
        AttemptStatus.FAILED,
        AttemptStatus.FAILED,
        AttemptStatus.COMPLETED,
    ]
    for number, attempt in enumerate(done.attempts[:2]):
        assert attempt.error_type == "RuntimeError"
        assert attempt.error == f"flaky failure on attempt {number}"
    assert done.error is None


async def test_retry_waits_grow_between_attempts(start_engine: StartEngine, tmp_path: Path) -> None:
    engine = await start_engine("flaky_flows")
    published: list[Run] = []
    engine.services.events.listen(published.append)

    run = engine.services.start_run("flaky_flows/flaky", [str(tmp_path / "attempts")])
    done = await final_run(engine, run.id)

    first, second, third = done.attempts
    assert first.completed_at is not None and second.completed_at is not None
    # Each failure put the run back in the queue, not before a time that its retry policy set.
    due = {
        len(r.attempts): r.not_before_at  # after how many attempts: when the next may start
        for r in published
        if r.id == run.id and r.status == RunStatus.PENDING and r.attempts
    }
    assert set(due) == {1, 2}, published
    assert due[1] is not None and due[2] is not None
    wait1 = (due[1] - first.completed_at).total_seconds()
    wait2 = (due[2] - second.completed_at).total_seconds()
    gap1 = (second.started_at - first.completed_at).total_seconds()
    gap2 = (third.started_at - second.completed_at).total_seconds()
    print(f"waits set: {wait1:.3f} s, {wait2:.3f} s; gaps seen: {gap1:.3f} s, {gap2:.3f} s")
    # Retry(max_retries=3, wait_duration_ms=100): 100 ms, then 150 ms (x1.5).
    assert wait1 == pytest.approx(0.1, abs=0.002)
    assert wait2 == pytest.approx(0.15, abs=0.002)
    # A retry is never claimed before its time (how much later depends on the machine).
    assert gap1 >= wait1
    assert gap2 >= wait2


async def test_non_retryable_error_fails_after_one_attempt(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("flaky_flows")
    counter = tmp_path / "attempts"

    run = engine.services.start_run("flaky_flows/gives_up", [str(counter)])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.FAILED
    assert len(done.attempts) == 1
    assert done.retries == 0
    assert counter.read_text() == "1"
    assert done.error_type == "NonRetryableError"
    assert done.error == "the input can never work; giving up"


async def test_exhausted_retries_fail_with_the_last_error_and_its_traceback(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    engine = await start_engine("flaky_flows")
    counter = tmp_path / "attempts"

    run = engine.services.start_run("flaky_flows/always_broken", [str(counter)])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.FAILED
    assert len(done.attempts) == 3  # Retry(max_retries=2): the first try and two retries
    assert done.retries == 2
    assert counter.read_text() == "3"
    assert {a.status for a in done.attempts} == {AttemptStatus.FAILED}
    assert done.error_type == "ValueError"
    assert done.error == "still broken after 3 tries"
    assert done.traceback is not None
    assert "Traceback (most recent call last)" in done.traceback
    assert "always_broken" in done.traceback
    assert "ValueError: still broken after 3 tries" in done.traceback
