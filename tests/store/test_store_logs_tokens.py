"""Run logs and API tokens."""

from __future__ import annotations

from store_kit import WORKER, Kit, utc

from baton.core.models import RunStatus
from baton.store import Outcome, Store


def test_get_logs_returns_appended_lines_in_order(kit: Kit) -> None:
    run = kit.enqueue()
    kit.store.append_logs(run.id, 0, [("stdout", "one"), ("stderr", "two")])
    kit.store.append_logs(run.id, 1, [("stdout", "three")])

    lines = kit.store.get_logs(run.id)

    assert [(x.attempt, x.stream, x.line) for x in lines] == [
        (0, "stdout", "one"),
        (0, "stderr", "two"),
        (1, "stdout", "three"),
    ]
    assert [x.seq for x in lines] == sorted({x.seq for x in lines})
    assert all(x.run_id == run.id and x.at.tzinfo is not None for x in lines)


def test_get_logs_after_returns_only_later_lines(kit: Kit) -> None:
    run = kit.enqueue()
    kit.store.append_logs(run.id, 0, [("stdout", f"line {i}") for i in range(5)])
    first_two = kit.store.get_logs(run.id, limit=2)

    rest = kit.store.get_logs(run.id, after=first_two[-1].seq)

    assert [x.line for x in first_two] == ["line 0", "line 1"]
    assert [x.line for x in rest] == ["line 2", "line 3", "line 4"]
    assert kit.store.get_logs(run.id, after=rest[-1].seq) == []


def test_get_logs_filters_by_attempt_and_run(kit: Kit) -> None:
    run = kit.enqueue()
    other = kit.enqueue()
    kit.store.append_logs(run.id, 0, [("stdout", "a0")])
    kit.store.append_logs(run.id, 1, [("stdout", "a1")])
    kit.store.append_logs(other.id, 0, [("stdout", "other")])

    assert [x.line for x in kit.store.get_logs(run.id, attempt=1)] == ["a1"]
    assert [x.line for x in kit.store.get_logs(other.id)] == ["other"]


def test_append_no_lines_is_a_no_op(kit: Kit) -> None:
    run = kit.enqueue()

    kit.store.append_logs(run.id, 0, [])

    assert kit.store.get_logs(run.id) == []


def test_tokens_are_found_by_hash_and_counted(store: Store) -> None:
    assert store.count_tokens() == 0
    assert not store.has_token("hash-1")

    token_id = store.add_token("ci", "hash-1")
    store.add_token("laptop", "hash-2")

    assert token_id.startswith("tok-")
    assert store.has_token("hash-1")
    assert store.has_token("hash-2")
    assert not store.has_token("hash-3")
    assert store.count_tokens() == 2


def test_a_nul_in_a_log_line_or_an_error_is_stored_as_a_replacement_character(kit: Kit) -> None:
    # PostgreSQL's text cannot hold NUL; a task that prints one must not lose its outcome.
    run = kit.enqueue()
    claim = kit.claim_one()
    kit.store.append_logs(run.id, claim.attempt, [("stdout", "a\x00b")])
    outcome = Outcome(
        ok=False,
        error="bad\x00byte",
        error_type="Value\x00Error",
        traceback="tb\x00",
        retryable=False,
    )

    done = kit.store.finish_attempt(run.id, claim.attempt, WORKER, outcome, now=utc())

    assert [line.line for line in kit.store.get_logs(run.id)] == ["a\ufffdb"]
    assert done is not None and done.status == RunStatus.FAILED
    stored = kit.store.get_run(run.id)
    assert (stored.error, stored.error_type) == ("bad\ufffdbyte", "Value\ufffdError")
    assert stored.traceback == "tb\ufffd"
