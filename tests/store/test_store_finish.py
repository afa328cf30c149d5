"""How an attempt's end decides its run: completed, retried with backoff, or failed."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from store_kit import LEASE_S, WORKER, Kit, failed, ok, utc

from baton.core.models import AttemptStatus, ErrorType, RunStatus
from baton.core.retry import Retry
from baton.store import Outcome

BACKOFF = Retry(max_retries=3, wait_duration_ms=1000, backoff_scaling=2.0)


def test_finish_attempt_success_records_output_verbatim(kit: Kit) -> None:
    output = base64.b64encode(json.dumps({"x": [1, 2], "é": None}).encode()).decode()
    run = kit.enqueue()
    claim = kit.claim_one()

    done = kit.store.finish_attempt(run.id, claim.attempt, WORKER, ok(output), now=utc())

    assert done is not None
    assert done.status == RunStatus.COMPLETED
    assert done.output == output
    assert done.results == [{"x": [1, 2], "é": None}]
    assert done.completed_at is not None
    assert (done.error, done.error_type) == (None, None)
    [attempt] = done.attempts
    assert (attempt.status, attempt.output) == (AttemptStatus.COMPLETED, output)
    assert kit.store.get_run(run.id) == done


def test_failed_attempt_with_retries_left_goes_pending_with_growing_backoff(kit: Kit) -> None:
    run = kit.enqueue(retry=BACKOFF)
    at = 0.0
    for attempt, delay in enumerate([1.0, 2.0, 4.0]):
        claim = kit.claim_one(at=at)
        assert claim.attempt == attempt
        finished_at = utc(at + 0.1)

        after = kit.store.finish_attempt(run.id, attempt, WORKER, failed(), now=finished_at)

        assert after is not None
        assert after.status == RunStatus.PENDING
        assert after.not_before_at is not None
        assert after.not_before_at.timestamp() == pytest.approx(
            finished_at.timestamp() + delay, abs=1e-3
        )
        assert after.attempts[attempt].status == AttemptStatus.FAILED
        assert after.attempts[attempt].error == "boom"
        assert kit.claim(1, at=at + 0.1 + delay - 0.05) == []
        at += 0.1 + delay + 0.05

    claim = kit.claim_one(at=at)
    final = kit.store.finish_attempt(run.id, claim.attempt, WORKER, failed("last"), now=utc(at))

    assert final is not None
    assert final.status == RunStatus.FAILED
    assert (final.error, final.error_type) == ("last", "ValueError")
    assert final.attempt_count == 4
    assert final.retries == 3


def test_non_retryable_failure_fails_run_at_once(kit: Kit) -> None:
    run = kit.enqueue(retry=BACKOFF)
    claim = kit.claim_one()
    outcome = Outcome(
        ok=False,
        error="stop",
        error_type="NonRetryableError",
        traceback="Traceback...",
        retryable=False,
    )

    after = kit.store.finish_attempt(run.id, claim.attempt, WORKER, outcome, now=utc())

    assert after is not None
    assert after.status == RunStatus.FAILED
    assert (after.error, after.error_type, after.traceback) == (
        "stop",
        "NonRetryableError",
        "Traceback...",
    )
    assert after.attempt_count == 1
    assert kit.claim(1, at=3600) == []


def test_failure_without_message_still_records_an_error(kit: Kit) -> None:
    run = kit.enqueue()
    claim = kit.claim_one()

    after = kit.store.finish_attempt(run.id, claim.attempt, WORKER, Outcome(ok=False), now=utc())

    assert after is not None
    assert after.status == RunStatus.FAILED
    assert after.error


def test_late_report_from_another_worker_is_dropped(kit: Kit) -> None:
    run = kit.enqueue()
    claim = kit.claim_one(worker="wrk-a")

    assert kit.store.finish_attempt(run.id, claim.attempt, "wrk-b", ok(), now=utc()) is None

    current = kit.store.get_run(run.id)
    assert current.status == RunStatus.RUNNING
    assert current.output is None
    assert current.attempts[0].status == AttemptStatus.RUNNING


def test_second_report_of_same_attempt_is_dropped(kit: Kit) -> None:
    run = kit.enqueue()
    claim = kit.claim_one()
    kit.store.finish_attempt(run.id, claim.attempt, WORKER, ok("WzFd"), now=utc())

    again = kit.store.finish_attempt(run.id, claim.attempt, WORKER, failed(), now=utc())

    assert again is None
    assert kit.store.get_run(run.id).status == RunStatus.COMPLETED


def test_report_for_unknown_attempt_is_dropped(kit: Kit) -> None:
    run = kit.enqueue()
    kit.claim_one()

    assert kit.store.finish_attempt(run.id, 5, WORKER, ok(), now=utc()) is None
    assert kit.store.finish_attempt("trn-00000000000000000000", 0, WORKER, ok(), now=utc()) is None


def test_expire_leases_fails_attempt_as_worker_lost_and_schedules_retry(kit: Kit) -> None:
    run = kit.enqueue(retry=BACKOFF)
    claim = kit.claim_one()
    assert kit.store.expire_leases(now=utc(LEASE_S - 5)) == []
    expired_at = utc(LEASE_S + 1)

    [changed] = kit.store.expire_leases(now=expired_at)

    assert changed.id == run.id
    assert changed.status == RunStatus.PENDING
    assert changed.not_before_at is not None
    assert changed.not_before_at.timestamp() == pytest.approx(
        expired_at.timestamp() + 1.0, abs=1e-3
    )
    [attempt] = changed.attempts
    assert attempt.status == AttemptStatus.FAILED
    assert attempt.error_type == ErrorType.LEASE_EXPIRED == "WorkerLost"
    assert kit.store.finish_attempt(run.id, claim.attempt, WORKER, ok(), now=utc()) is None
    retry = kit.claim_one(worker="wrk-other", at=LEASE_S + 3)
    assert (retry.run.id, retry.attempt) == (run.id, 1)


def test_expire_leases_fails_run_when_no_retries_are_left(kit: Kit) -> None:
    run = kit.enqueue()
    kit.claim_one()

    [changed] = kit.store.expire_leases(now=utc(LEASE_S + 1))

    assert changed.status == RunStatus.FAILED
    assert changed.error_type == "WorkerLost"
    assert changed.error
    assert kit.store.get_run(run.id).status == RunStatus.FAILED


def test_update_attempt_exit_and_timings_are_kept(kit: Kit) -> None:
    run = kit.enqueue()
    claim = kit.claim_one()
    kit.store.attempt_started(run.id, claim.attempt, 4242, {"forked_at": 1.0})
    kit.store.record_timings(run.id, claim.attempt, {"sdk_started_at": 2.0})
    kit.store.finish_attempt(run.id, claim.attempt, WORKER, ok(), now=utc())

    kit.store.update_attempt_exit(run.id, claim.attempt, exit_code=0, peak_rss_kb=900, cpu_s=0.5)

    [attempt] = kit.store.get_run(run.id).attempts
    assert attempt.pid == 4242
    assert attempt.timings == {"forked_at": 1.0, "sdk_started_at": 2.0}
    assert (attempt.exit_code, attempt.peak_rss_kb, attempt.cpu_s) == (0, 900, 0.5)


def test_attempt_started_merges_timings_recorded_before_it(kit: Kit) -> None:
    # The attempt's GET /input can be answered before its start is recorded.
    run = kit.enqueue()
    claim = kit.claim_one()
    kit.store.record_timings(run.id, claim.attempt, {"input_at": 3.0})
    kit.store.attempt_started(run.id, claim.attempt, 4242, {"forked_at": 1.0})

    [attempt] = kit.store.get_run(run.id).attempts
    assert attempt.pid == 4242
    assert attempt.timings == {"forked_at": 1.0, "input_at": 3.0}


@pytest.mark.parametrize("success", [True, False])
def test_an_outcome_carries_the_process_start_of_a_short_attempt(kit: Kit, success: bool) -> None:
    # A short attempt's worker sends its pid and timings with the outcome (one write).
    run = kit.enqueue()
    claim = kit.claim_one()
    kit.store.record_timings(run.id, claim.attempt, {"input_at": 3.0})
    outcome = ok() if success else failed(retryable=False)
    started = replace(outcome, pid=4242, timings={"forked_at": 1.0}, exit_code=0)

    done = kit.store.finish_attempt(run.id, claim.attempt, WORKER, started, now=utc())

    assert done is not None
    assert done.status == (RunStatus.COMPLETED if success else RunStatus.FAILED)
    for attempt in (done.attempts[0], kit.store.get_run(run.id).attempts[0]):
        assert attempt.pid == 4242
        assert attempt.timings == {"forked_at": 1.0, "input_at": 3.0}
        assert attempt.exit_code == 0


def test_an_outcome_without_a_process_start_keeps_the_recorded_one(kit: Kit) -> None:
    run = kit.enqueue()
    claim = kit.claim_one()
    kit.store.attempt_started(run.id, claim.attempt, 4242, {"forked_at": 1.0})

    kit.store.finish_attempt(run.id, claim.attempt, WORKER, ok(), now=utc())

    [attempt] = kit.store.get_run(run.id).attempts
    assert (attempt.pid, attempt.timings) == (4242, {"forked_at": 1.0})


def test_success_of_a_retried_run_answers_every_attempt(kit: Kit) -> None:
    run = kit.enqueue(retry=BACKOFF)
    first = kit.claim_one()
    kit.store.finish_attempt(run.id, first.attempt, WORKER, failed(), now=utc())
    second = kit.claim_one(at=5.0)

    done = kit.store.finish_attempt(run.id, second.attempt, WORKER, ok(), now=utc(5.0))

    assert done is not None
    assert [a.status for a in done.attempts] == [AttemptStatus.FAILED, AttemptStatus.COMPLETED]
    assert done == kit.store.get_run(run.id)
