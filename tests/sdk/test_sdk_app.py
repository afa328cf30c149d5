"""``Workflows`` and ``@app.task``: validation, merging and the registration wire shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from baton.core.models import TaskOptions
from baton.sdk import Retry, TaskContext, Workflows


def test_registration_matches_the_spec_example_exactly() -> None:
    app = Workflows(default_timeout=600)
    sentinel = object()

    @app.task
    def square(a: int) -> int:
        return a * a

    @app.task(retry=Retry(max_retries=2, wait_duration_ms=500), timeout_seconds=45, plan="starter")
    def custom(msg: str = "hi", n: int | None = None, obj=sentinel) -> str:  # type: ignore[no-untyped-def]
        return msg

    @app.task
    def meta(ctx: TaskContext) -> None:
        return None

    expected = {
        "tasks": [
            {
                "name": "square",
                "options": {"timeout_seconds": 600},
                "parameters": [{"name": "a", "has_default": False, "type": "int"}],
            },
            {
                "name": "custom",
                "options": {
                    "retry": {"max_retries": 2, "wait_duration_ms": 500, "factor": 1.5},
                    "timeout_seconds": 45,
                    "plan": "starter",
                },
                "parameters": [
                    {"name": "msg", "has_default": True, "type": "str", "default_value": '"hi"'},
                    {"name": "n", "has_default": True, "type": "int | None"},
                    {"name": "obj", "has_default": True},
                ],
            },
            {"name": "meta", "options": {"timeout_seconds": 600}},
        ]
    }
    wire = {"tasks": [d.to_wire() for d in app.task_defs()]}
    assert json.dumps(wire) == json.dumps(expected)


def test_unannotated_and_variadic_parameters_register_with_kind() -> None:
    app = Workflows()

    def f(a, *args, key=3, **kwargs):  # type: ignore[no-untyped-def]
        return None

    app.task(f)
    [definition] = app.task_defs()
    assert definition.to_wire() == {
        "name": "f",
        "options": {},
        "parameters": [
            {"name": "a", "has_default": False},
            {"name": "args", "has_default": False, "kind": "var_positional"},
            {"name": "key", "has_default": True, "default_value": "3", "kind": "keyword_only"},
            {"name": "kwargs", "has_default": False, "kind": "var_keyword"},
        ],
    }


def test_context_parameter_is_left_out_by_annotation_or_name() -> None:
    app = Workflows()

    @app.task
    def by_name(ctx, a: int) -> None:  # type: ignore[no-untyped-def]
        return None

    @app.task
    def by_string(c: TaskContext, a: int) -> None:
        return None

    @app.task
    def plain(context: int, a: int) -> None:
        return None

    registry = app.registry
    assert registry["by_name"].takes_context and registry["by_string"].takes_context
    assert not registry["plain"].takes_context
    assert [p.name for p in registry["by_name"].parameters] == ["a"]
    assert [p.name for p in registry["plain"].parameters] == ["context", "a"]


def test_retry_dict_and_app_default_retry() -> None:
    app = Workflows(default_retry={"max_retries": 1, "wait_duration_ms": 10, "backoff_scaling": 2})

    @app.task
    def a() -> None: ...

    @app.task(retry={"max_retries": 5, "wait_duration_ms": 100, "backoff_scaling": 1.5})
    def b() -> None: ...

    assert a.options.retry == Retry(1, 10, 2)
    assert b.options.retry == Retry(5, 100, 1.5)
    assert Workflows().task(lambda: None, name="c").options == TaskOptions()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout_seconds": 5}, "timeout_seconds must be an int from 30 to 86400"),
        ({"timeout_seconds": 30.5}, "timeout_seconds must be an int"),
        ({"plan": "huge"}, "unknown plan 'huge'"),
        ({"retry": 3}, "retry must be a Retry or a dict, got int"),
        ({"retry": {"max_retries": 3}}, "retry dict needs exactly the keys"),
        (
            {"retry": {"max_retries": -1, "wait_duration_ms": 1, "backoff_scaling": 2}},
            "max_retries must be between 0 and 100",
        ),
        ({"name": ""}, "task name must be a non-empty string"),
    ],
)
def test_decorator_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    app = Workflows()
    with pytest.raises(ValueError, match=message):
        app.task(**kwargs)(lambda: None)
    assert dict(app.registry) == {}


@pytest.mark.parametrize(
    "kwargs",
    [{"default_timeout": 10}, {"default_plan": "nope"}, {"default_retry": "3"}],
)
def test_constructor_validates_defaults(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Workflows(**kwargs)


def test_registering_a_name_twice_fails() -> None:
    app = Workflows()

    @app.task
    def a() -> None: ...

    with pytest.raises(ValueError, match=r"^Task 'a' already registered$"):
        app.task(name="a")(lambda: None)


def test_from_workflows_merges_in_order_and_fills_defaults() -> None:
    one, two = Workflows(default_plan="pro"), Workflows()

    @one.task
    def a() -> None: ...

    @two.task(timeout_seconds=60)
    def b() -> None: ...

    merged = Workflows.from_workflows(one, two, default_timeout=300, default_plan="starter")
    assert list(merged.registry) == ["a", "b"]
    assert merged.registry["a"].options == TaskOptions(timeout_seconds=300, plan="pro")
    assert merged.registry["b"].options == TaskOptions(timeout_seconds=60, plan="starter")
    assert a.options == TaskOptions(plan="pro")  # the source app's task is unchanged
    assert Workflows.from_workflows(one).registry["a"] is a


def test_from_workflows_rejects_duplicates() -> None:
    one, two = Workflows(), Workflows()
    one.task(lambda: None, name="same")
    two.task(lambda: None, name="same")
    with pytest.raises(ValueError, match=r"^Task 'same' is defined in multiple apps$"):
        Workflows.from_workflows(one, two)


def test_task_keeps_the_function_reachable() -> None:
    app = Workflows()

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    spec = app.task(add)
    assert spec.__wrapped__ is add and spec.func is add
    assert (spec.name, spec.__name__, spec.__doc__) == ("add", "add", "Add.")
    assert app.registry["add"] is spec
    with pytest.raises(TypeError):
        app.registry["x"] = spec  # type: ignore[index]


def test_a_task_can_join_a_second_app() -> None:
    one, two = Workflows(), Workflows(default_plan="pro")
    first = one.task(lambda: 1, name="t")
    second = two.task(first)
    assert second.func is first.func
    assert second.options.plan == "pro"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "RENDER_SDK_MODE environment variable is required"),
        ({"RENDER_SDK_MODE": "serve"}, "Unknown mode: serve"),
        ({"RENDER_SDK_MODE": "run"}, "RENDER_SDK_SOCKET_PATH environment variable is required"),
    ],
)
def test_start_needs_mode_and_socket(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RENDER_SDK_MODE", raising=False)
    monkeypatch.delenv("RENDER_SDK_SOCKET_PATH", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=f"^{message}$"):
        Workflows().start()
