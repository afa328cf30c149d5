"""The records the REST API returns, parsed from its camelCase JSON.

Unknown keys are ignored, so a newer server can add fields. Timestamps are RFC 3339
(``2025-01-02T03:04:05.123456Z``) and become aware ``datetime`` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeAlias, TypedDict, cast

__all__ = [
    "TERMINAL_STATUSES",
    "JSONValue",
    "LogLine",
    "Task",
    "TaskAttempt",
    "TaskRun",
    "TaskRunDetails",
    "TaskRunWithCursor",
]

JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | float | bool | None"
"""A value that ``json.loads`` can return."""

TERMINAL_STATUSES = frozenset({"completed", "succeeded", "failed", "canceled"})
"""Run statuses after which nothing more happens to a run."""

_Object = Mapping[str, object]


def _get(data: _Object, key: str, kind: type | tuple[type, ...]) -> object:
    try:
        value = data[key]
    except KeyError:
        raise ValueError(f"missing field {key!r}") from None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ValueError(f"field {key!r} has the wrong type: {value!r}")
    return value


def _str(data: _Object, key: str) -> str:
    return cast(str, _get(data, key, str))


def _int(data: _Object, key: str) -> int:
    return cast(int, _get(data, key, int))


def _opt_str(data: _Object, key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} has the wrong type: {value!r}")
    return value


def _opt_int(data: _Object, key: str) -> int | None:
    if data.get(key) is None:
        return None
    return _int(data, key)


def _time(data: _Object, key: str) -> datetime | None:
    text = _opt_str(data, key)
    if text is None:
        return None
    at = datetime.fromisoformat(text)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _list(data: _Object, key: str) -> list[JSONValue]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"field {key!r} is not an array: {value!r}")
    return cast(list[JSONValue], value)


def _object(value: object, what: str) -> _Object:
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not a JSON object: {value!r}")
    return cast(_Object, value)


@dataclass(frozen=True, kw_only=True)
class TaskAttempt:
    """One try of a task run.

    Attributes:
        attempt: 0-based index of the attempt within its run.
        status: ``running``, ``completed``, ``failed`` or ``canceled``.
        started_at: when the attempt's process started.
        completed_at: when it ended, or ``None`` while running.
        error: the failure message, when the attempt failed.
        results: the attempt's return value wrapped in a list, ``[]`` unless it completed.
    """

    attempt: int
    status: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    results: list[JSONValue] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TaskAttempt:
        """Parses a ``TaskAttempt`` JSON object.

        Raises:
            ValueError: a required field is missing or has the wrong type.
        """
        return cls(
            attempt=_opt_int(data, "attempt") or 0,
            status=_str(data, "status"),
            started_at=_time(data, "startedAt"),
            completed_at=_time(data, "completedAt"),
            error=_opt_str(data, "error"),
            results=_list(data, "results"),
        )


class _RunFields(TypedDict):
    id: str
    task_id: str
    status: str
    parent_task_run_id: str | None
    root_task_run_id: str
    retries: int
    attempts: list[TaskAttempt]
    started_at: datetime | None
    completed_at: datetime | None
    parent_task_attempt: int | None
    task_slug: str | None


def _run_fields(data: _Object) -> _RunFields:
    return {
        "id": _str(data, "id"),
        "task_id": _str(data, "taskId"),
        "status": _str(data, "status"),
        "parent_task_run_id": _opt_str(data, "parentTaskRunId"),
        "root_task_run_id": _opt_str(data, "rootTaskRunId") or _str(data, "id"),
        "retries": _opt_int(data, "retries") or 0,
        "attempts": [
            TaskAttempt.from_json(_object(item, "attempt")) for item in _list(data, "attempts")
        ],
        "started_at": _time(data, "startedAt"),
        "completed_at": _time(data, "completedAt"),
        "parent_task_attempt": _opt_int(data, "parentTaskAttempt"),
        "task_slug": _opt_str(data, "taskSlug"),
    }


@dataclass(frozen=True, kw_only=True)
class TaskRun:
    """One execution of a task, as ``start_task`` and ``list_task_runs`` return it.

    Attributes:
        id: ``trn-`` followed by 20 base32hex characters.
        task_id: the ``tsk-`` id of the task definition that runs.
        status: ``pending``, ``running``, ``completed``, ``failed`` or ``canceled``
            (other strings are passed through unchanged).
        parent_task_run_id: the run that started this one, ``None`` for a root run.
        root_task_run_id: the root of this run's tree (its own id for a root run).
        retries: how many times the run was retried so far.
        attempts: the attempts that have started, oldest first.
        started_at: when the first attempt started.
        completed_at: when the run reached a terminal status.
        parent_task_attempt: the parent's attempt that started this run, for children.
        task_slug: ``"<workflow>/<task>"`` (Baton extension; ``None`` from other servers).
    """

    id: str
    task_id: str
    status: str
    parent_task_run_id: str | None = None
    root_task_run_id: str
    retries: int = 0
    attempts: list[TaskAttempt] = field(default_factory=list)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    parent_task_attempt: int | None = None
    task_slug: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended (completed, failed or canceled)."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TaskRun:
        """Parses a ``TaskRun`` JSON object.

        Raises:
            ValueError: a required field is missing or has the wrong type.
        """
        return cls(**_run_fields(data))


@dataclass(frozen=True, kw_only=True)
class TaskRunDetails(TaskRun):
    """A task run with its input and outcome, as ``get_task_run`` and the waits return it.

    Attributes:
        results: the task's return value wrapped in a list; ``[]`` unless completed.
        input_: the input the run was started with (a list or an object).
        error: the failure message when the run failed or was canceled.
        error_type: the recorded error class name (``"ValueError"``, ``"Timeout"``...),
            a Baton extension (``errorType``).
    """

    results: list[JSONValue] = field(default_factory=list)
    input_: list[JSONValue] | dict[str, JSONValue] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TaskRunDetails:
        """Parses a ``TaskRunDetails`` JSON object (also the SSE event payload).

        Raises:
            ValueError: a required field is missing or has the wrong type.
        """
        raw_input = data.get("input")
        if raw_input is None:
            raw_input = []
        if not isinstance(raw_input, list | dict):
            raise ValueError(f"field 'input' is not an array or object: {raw_input!r}")
        return cls(
            **_run_fields(data),
            results=_list(data, "results"),
            input_=cast("list[JSONValue] | dict[str, JSONValue]", raw_input),
            error=_opt_str(data, "error"),
            error_type=_opt_str(data, "errorType"),
        )


@dataclass(frozen=True, kw_only=True)
class TaskRunWithCursor:
    """One element of ``list_task_runs``.

    Attributes:
        task_run: the run.
        cursor: pass it as ``cursor=`` to fetch the runs after this one.
    """

    task_run: TaskRun
    cursor: str

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TaskRunWithCursor:
        """Parses a ``{"taskRun": ..., "cursor": ...}`` JSON object.

        Raises:
            ValueError: a required field is missing or has the wrong type.
        """
        return cls(
            task_run=TaskRun.from_json(_object(data.get("taskRun"), "taskRun")),
            cursor=_str(data, "cursor"),
        )


@dataclass(frozen=True, kw_only=True)
class Task:
    """A task definition of the latest workflow versions (Baton extension).

    Attributes:
        id: the ``tsk-`` id.
        name: the registered task name.
        workflow: the workflow's slug.
        slug: ``"<workflow>/<name>"``, what ``start_task`` takes.
        created_at: when the workflow version registering it was created.
        options: the task's options as the API returns them (``retry``,
            ``timeout_seconds``, ``plan``...).
        parameters: the names of the task's parameters, in order.
    """

    id: str
    name: str
    workflow: str
    slug: str
    created_at: datetime | None = None
    options: dict[str, JSONValue] = field(default_factory=dict)
    parameters: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Task:
        """Parses a ``Task`` JSON object.

        Raises:
            ValueError: a required field is missing or has the wrong type.
        """
        name = _str(data, "name")
        workflow = _opt_str(data, "workflow") or ""
        options = data.get("options")
        return cls(
            id=_str(data, "id"),
            name=name,
            workflow=workflow,
            slug=_opt_str(data, "slug") or f"{workflow}/{name}",
            created_at=_time(data, "createdAt"),
            options=dict(cast("dict[str, JSONValue]", _object(options, "options")))
            if options is not None
            else {},
            parameters=[
                str(p.get("name")) for p in _list(data, "parameters") if isinstance(p, dict)
            ],
        )


@dataclass(frozen=True, kw_only=True)
class LogLine:
    """One line a task attempt wrote to stdout or stderr (Baton extension).

    Attributes:
        attempt: 0-based attempt that wrote it.
        stream: ``"stdout"`` or ``"stderr"``.
        at: when the worker read it.
        line: the text, without its line ending.
        seq: position in the run's log; pass the last one as ``after=`` to page on.
    """

    attempt: int
    stream: str
    at: datetime | None
    line: str
    seq: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> LogLine:
        """Parses one element of the logs endpoint's ``lines``.

        Raises:
            ValueError: a required field is missing or has the wrong type.
        """
        return cls(
            attempt=_opt_int(data, "attempt") or 0,
            stream=_str(data, "stream"),
            at=_time(data, "at"),
            line=_str(data, "line"),
            seq=_opt_int(data, "seq") or 0,
        )
