"""Workflow versions and their tasks: which version a slug resolves to."""

from __future__ import annotations

import pytest

from baton.core.models import Param, TaskDef, TaskOptions
from baton.core.retry import Retry
from baton.errors import TaskNotFound
from baton.store import Store


def _defs(*names: str) -> list[TaskDef]:
    return [TaskDef(n, parameters=(Param("a", has_default=False),)) for n in names]


def test_add_version_starts_registering_and_register_tasks_makes_it_ready(store: Store) -> None:
    version = store.add_version("wf", "app.py", "baton", "/code")

    assert version.status == "registering"
    assert (version.workflow, version.target, version.kind, version.code_dir) == (
        "wf",
        "app.py",
        "baton",
        "/code",
    )
    tasks = store.register_tasks(version.id, _defs("a", "b"))

    assert [t.name for t in tasks] == ["a", "b"]
    assert all(t.version_id == version.id and t.workflow == "wf" for t in tasks)
    assert store.get_version(version.id).status == "ready"


def test_get_task_resolves_current_version_unless_pinned(store: Store) -> None:
    v1 = store.add_version("wf", "app.py", "baton", "/code")
    old = {t.name: t for t in store.register_tasks(v1.id, _defs("a"))}
    v2 = store.add_version("wf", "app.py", "baton", "/code")
    new = {t.name: t for t in store.register_tasks(v2.id, _defs("a", "b"))}

    assert store.get_task("wf", "a").id == new["a"].id
    assert store.get_task("wf", "a", v1.id).id == old["a"].id
    assert store.get_task("wf", "b").version_id == v2.id
    with pytest.raises(TaskNotFound):
        store.get_task("wf", "b", v1.id)


def test_get_task_raises_task_not_found_for_unknown_names(store: Store) -> None:
    version = store.add_version("wf", "app.py", "baton", "/code")
    store.register_tasks(version.id, _defs("a"))

    with pytest.raises(TaskNotFound):
        store.get_task("wf", "missing")
    with pytest.raises(TaskNotFound):
        store.get_task("other", "a")


def test_version_still_registering_is_not_current(store: Store) -> None:
    v1 = store.add_version("wf", "app.py", "baton", "/code")
    store.register_tasks(v1.id, _defs("a"))
    store.add_version("wf", "app.py", "baton", "/code")

    assert store.get_task("wf", "a").version_id == v1.id


def test_failed_version_keeps_previous_current_and_records_error(store: Store) -> None:
    v1 = store.add_version("wf", "app.py", "baton", "/code")
    store.register_tasks(v1.id, _defs("a"))
    v2 = store.add_version("wf", "app.py", "baton", "/code")

    store.fail_version(v2.id, "ImportError: nope")

    failed = store.get_version(v2.id)
    assert (failed.status, failed.error) == ("registration_failed", "ImportError: nope")
    assert store.get_task("wf", "a").version_id == v1.id


def test_task_definition_round_trips_options_and_parameters(store: Store) -> None:
    definition = TaskDef(
        "a",
        options=TaskOptions(
            retry=Retry(max_retries=2, wait_duration_ms=250, backoff_scaling=3.0),
            timeout_seconds=90,
            plan="pro",
        ),
        parameters=(Param("x", has_default=False, type="int"), Param("y", has_default=True)),
    )
    version = store.add_version("wf", "app.py", "baton", "/code")
    store.register_tasks(version.id, [definition])

    assert store.get_task("wf", "a").definition == definition


def test_list_tasks_lists_only_current_versions(store: Store) -> None:
    v1 = store.add_version("wf", "app.py", "baton", "/code")
    store.register_tasks(v1.id, _defs("old"))
    v2 = store.add_version("wf", "app.py", "baton", "/code")
    store.register_tasks(v2.id, _defs("a", "b"))
    other = store.add_version("other", "app.py", "baton", "/code")
    store.register_tasks(other.id, _defs("c"))

    assert sorted(t.slug for t in store.list_tasks()) == ["other/c", "wf/a", "wf/b"]
    assert [t.slug for t in store.list_tasks("wf")] == ["wf/a", "wf/b"]


def test_get_task_pinned_to_version_of_another_workflow_raises_task_not_found(
    store: Store,
) -> None:
    version = store.add_version("wf", "app.py", "baton", "/code")
    store.register_tasks(version.id, _defs("a"))
    other = store.add_version("other", "app.py", "baton", "/code")
    store.register_tasks(other.id, _defs("a"))

    with pytest.raises(TaskNotFound):
        store.get_task("other", "a", version.id)
