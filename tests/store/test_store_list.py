"""Listing runs: newest first, cursor paging, filters."""

from __future__ import annotations

from store_kit import WORKER, Kit, failed, ok, utc

from baton.core.models import RunStatus
from baton.store import RunFilter


def test_list_runs_is_newest_first(kit: Kit) -> None:
    runs = [kit.enqueue(value=[i]) for i in range(3)]

    listed = kit.store.list_runs(RunFilter(), limit=10)

    assert [r.id for r, _ in listed] == [r.id for r in reversed(runs)]


def test_list_runs_pages_through_55_runs_without_duplicates_or_gaps(kit: Kit) -> None:
    runs = [kit.enqueue(value=[i]) for i in range(55)]
    seen: list[str] = []
    sizes: list[int] = []
    cursor: int | None = None
    for _ in range(10):
        page = kit.store.list_runs(RunFilter(), limit=20, cursor=cursor)
        if not page:
            break
        sizes.append(len(page))
        seen.extend(r.id for r, _ in page)
        cursor = page[-1][1]

    assert sizes == [20, 20, 15]
    assert seen == [r.id for r in reversed(runs)]


def test_list_runs_filters_by_task_slug(kit: Kit) -> None:
    square = kit.enqueue("square")
    total = kit.enqueue("total")

    by_square = kit.store.list_runs(RunFilter(task_slug=["wf/square"]), limit=10)
    both = kit.store.list_runs(RunFilter(task_slug=["wf/square", "wf/total"]), limit=10)
    other = kit.store.list_runs(RunFilter(task_slug=["other/square"]), limit=10)

    assert [r.id for r, _ in by_square] == [square.id]
    assert {r.id for r, _ in both} == {square.id, total.id}
    assert other == []


def test_list_runs_filters_by_status(kit: Kit) -> None:
    running = kit.enqueue()
    pending = kit.enqueue()
    kit.claim_one()

    only_pending = kit.store.list_runs(RunFilter(status=[RunStatus.PENDING]), limit=10)
    only_running = kit.store.list_runs(RunFilter(status=[RunStatus.RUNNING]), limit=10)

    assert [r.id for r, _ in only_pending] == [pending.id]
    assert [r.id for r, _ in only_running] == [running.id]


def test_list_runs_filters_by_root_parent_and_roots_only(kit: Kit) -> None:
    parent, child = kit.running_root_with_child()
    unrelated = kit.enqueue()

    tree = kit.store.list_runs(RunFilter(root_id=[parent.run.id]), limit=10)
    kids = kit.store.list_runs(RunFilter(parent_id=[parent.run.id]), limit=10)
    roots = kit.store.list_runs(RunFilter(roots_only=True), limit=10)

    assert [r.id for r, _ in tree] == [child.id, parent.run.id]
    assert [r.id for r, _ in kids] == [child.id]
    assert [r.id for r, _ in roots] == [unrelated.id, parent.run.id]


def test_list_runs_filter_and_cursor_combine(kit: Kit) -> None:
    squares = []
    for i in range(6):
        squares.append(kit.enqueue("square", [i]))
        kit.enqueue("total", [i])
    flt = RunFilter(task_slug=["wf/square"])

    first = kit.store.list_runs(flt, limit=4)
    rest = kit.store.list_runs(flt, limit=4, cursor=first[-1][1])

    assert [r.id for r, _ in first + rest] == [r.id for r in reversed(squares)]


def test_children_lists_a_runs_children_oldest_first(kit: Kit) -> None:
    parent, first = kit.running_root_with_child()
    second, _ = kit.child(parent)

    assert [r.id for r in kit.store.children(parent.run.id)] == [first.id, second.id]
    assert kit.store.children(first.id) == []


def test_final_ids_names_only_the_runs_that_ended(kit: Kit) -> None:
    done, broken, waiting = kit.enqueue(), kit.enqueue(), kit.enqueue()
    first, second = kit.claim(2)
    kit.store.finish_attempt(done.id, first.attempt, WORKER, ok(), now=utc())
    kit.store.finish_attempt(broken.id, second.attempt, WORKER, failed(retryable=False), now=utc())

    found = kit.store.final_ids([done.id, broken.id, waiting.id, "trn-unknown"])

    assert sorted(found) == sorted([done.id, broken.id])
    assert kit.store.final_ids([]) == []
