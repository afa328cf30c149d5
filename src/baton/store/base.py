"""The ``Store`` protocol: every durable operation Baton needs, in domain terms.

Each backend owns its SQL. Every method is one transaction (several share one inside
``Store.batch``). Times are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from baton.core.durable import Pause, Schedule, ScheduleSpec, TickResult
from baton.core.models import (
    JSON,
    Claim,
    NewRun,
    Run,
    RunStatus,
    Task,
    TaskDef,
    WorkflowVersion,
)
from baton.errors import BatonError

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, as its worker saw it."""

    ok: bool
    output: str | None = None  # base64 callback output when ok
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    retryable: bool = True
    exit_code: int | None = None
    peak_rss_kb: int | None = None
    cpu_s: float | None = None
    #: The process's id and start-up timings, when not recorded yet (``attempt_started``):
    #: a short attempt's worker sends them with its outcome, one write instead of two.
    pid: int | None = None
    timings: Mapping[str, float] | None = None


@dataclass(frozen=True)
class ChildCall:
    """A chained call made by a running attempt (``/run-subtask``)."""

    task_name: str
    input: JSON
    idempotency_key: str | None
    created_key: str | None  # the SDK's created_at, part of the dedupe key
    call_index: int | None = None  # the SDK's call order; None: the order calls arrive in
    memoize: bool = True  # a retried parent gets the child an earlier attempt made


@dataclass(frozen=True)
class RunFilter:
    workflow: Sequence[str] = ()
    task_slug: Sequence[str] = ()
    status: Sequence[RunStatus] = ()
    root_id: Sequence[str] = ()
    parent_id: Sequence[str] = ()
    roots_only: bool = False


@dataclass(frozen=True)
class LogLine:
    seq: int
    run_id: str
    attempt: int
    stream: str
    at: datetime
    line: str


@dataclass(frozen=True)
class QueueStats:
    pending: int
    running: int
    waiting: int
    by_status: dict[str, int] = field(default_factory=dict)


# dashboard ------------------------------------------------------------------------------------
# Read models for the dashboard (pages, timeline, task statistics). Kept apart so another
# backend can port them as one block.


@dataclass(frozen=True)
class RunQuery:
    """What the runs page filters on; every field narrows the list (AND)."""

    workflow: str | None = None
    task_name: str | None = None
    status: Sequence[RunStatus] = ()
    id_prefix: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    roots_only: bool = False


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs list: a run without its input, output or attempts."""

    seq: int
    id: str
    workflow: str
    task_name: str
    status: RunStatus
    parent_id: str | None
    root_id: str
    attempt_count: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    error_type: str | None

    @property
    def slug(self) -> str:
        return f"{self.workflow}/{self.task_name}"


@dataclass(frozen=True)
class AttemptSpan:
    attempt: int
    status: str
    started_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class ChainRun:
    """A run of a chain with its attempts' spans, for the timeline."""

    run: RunSummary
    spans: tuple[AttemptSpan, ...]


@dataclass(frozen=True)
class TaskStats:
    """One task's runs created in the window: counts, durations and compute used."""

    workflow: str
    task_name: str
    by_status: dict[str, int]
    p50_s: float | None
    p95_s: float | None
    attempts: int
    cpu_s: float
    plan_s: dict[str, float]  # attempt wall-clock seconds by plan name

    @property
    def failure_rate(self) -> float | None:
        done = self.by_status.get("completed", 0) + self.by_status.get("failed", 0)
        return self.by_status.get("failed", 0) / done if done else None


class Store(Protocol):
    """Durable state of runs, attempts, workflows and tokens."""

    url: str
    #: Calls wait on network round trips (PostgreSQL): the engine makes them on worker
    #: threads (``Services.offload``) so its event loop keeps serving meanwhile. ``False``
    #: for an embedded database, whose calls are cheaper than a thread hop.
    offload_io: bool

    def close(self) -> None: ...

    # workflows and tasks
    def add_version(self, workflow: str, target: str, kind: str, code_dir: str) -> WorkflowVersion:
        """Record a new workflow version in state ``registering``."""
        ...

    def register_tasks(self, version_id: str, tasks: Sequence[TaskDef]) -> list[Task]:
        """Store the version's tasks and make it the workflow's current, ready version."""
        ...

    def fail_version(self, version_id: str, error: str) -> None: ...

    def get_version(self, version_id: str) -> WorkflowVersion: ...

    def get_task(self, workflow: str, name: str, version_id: str | None = None) -> Task:
        """The task in ``version_id``, or in the workflow's current version; ``TaskNotFound``."""
        ...

    def list_tasks(self, workflow: str | None = None) -> list[Task]:
        """Tasks of every workflow's current version."""
        ...

    # runs
    def enqueue(self, new: NewRun, *, max_pending: int | None = None) -> tuple[Run, bool]:
        """Create a pending run; with an idempotency key seen before, return that run.

        Returns the run and whether it was created. ``QueueFull`` past ``max_pending``.
        """
        ...

    def create_child(
        self, parent_id: str, parent_attempt: int, call: ChildCall, new: NewRun
    ) -> tuple[Run, bool]:
        """Create the child run of a chained call, or return the one already made for it.

        ``InvalidTransition`` if the parent's tree was canceled or the parent has ended.
        """
        ...

    def get_run(self, run_id: str, *, attempts: bool = True) -> Run: ...

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]: ...

    def final_ids(self, run_ids: Sequence[str]) -> list[str]:
        """The ids among ``run_ids`` of runs in a final state (unknown ids left out): a cheap
        check before reading only those runs in full."""
        ...

    def list_runs(
        self, flt: RunFilter, *, limit: int, cursor: int | None = None
    ) -> list[tuple[Run, int]]:
        """Newest first; each run with the cursor that fetches the runs after it."""
        ...

    def children(self, run_id: str) -> list[Run]: ...

    # the queue
    def claim(
        self,
        worker_id: str,
        slots: int,
        *,
        limit: int,
        lease_s: float,
        now: datetime,
        plans: Sequence[str] | None = None,
    ) -> list[Claim]:
        """Lease up to ``slots`` of the oldest eligible pending runs to ``worker_id``.

        At most ``limit`` attempts may be running and not waiting on children, across all
        workers. Each claim starts a new attempt. With ``plans``, only runs on one of those
        plans are claimed (``baton worker --plans``); ``None`` claims any plan.
        """
        ...

    def attempt_started(
        self, run_id: str, attempt: int, pid: int, timings: dict[str, float] | None = None
    ) -> None:
        """Record the attempt's process id; ``timings`` are merged into those it has."""
        ...

    def set_waiting(self, run_id: str, attempt: int, waiting: bool) -> None:
        """Mark an attempt as waiting on its children: it stops counting against the limit."""
        ...

    def record_timings(self, run_id: str, attempt: int, timings: dict[str, float]) -> None: ...

    def heartbeat(self, worker_id: str, *, lease_s: float, now: datetime) -> list[tuple[str, int]]:
        """Renew every lease ``worker_id`` holds; returns the attempts it still owns."""
        ...

    def finish_attempt(
        self, run_id: str, attempt: int, worker_id: str, outcome: Outcome, *, now: datetime
    ) -> Run | None:
        """Record an attempt's end and decide the run: completed, retried (pending with a
        not-before time) or failed. ``None`` if the attempt is no longer this worker's
        (lease lost, run canceled): the late report is dropped.
        """
        ...

    def update_attempt_exit(
        self,
        run_id: str,
        attempt: int,
        *,
        exit_code: int | None,
        peak_rss_kb: int | None,
        cpu_s: float | None,
    ) -> None: ...

    def batch(self, items: Sequence[Callable[[], T]]) -> list[T | BatonError]:
        """Run ``items`` (functions calling this store's methods) in one transaction, in
        order: one commit for all of them. An item that raises a ``BatonError`` leaves no
        write behind and its error takes its place in the answer; the others still commit.

        Any other exception rolls every item back. An item may run more than once (the
        PostgreSQL store runs the batch again on a new connection when the first died before
        its commit), so items must have no effects outside the store: publish what they did
        once ``batch`` has returned.
        """
        ...

    def expire_leases(self, *, now: datetime) -> list[Run]:
        """Fail every running attempt whose lease has expired; returns the runs changed."""
        ...

    def cancel(self, root_id: str, *, now: datetime) -> list[Run]:
        """Cancel a root run and its unfinished descendants; returns the runs canceled.

        ``InvalidTransition`` if the run is a child or already ended.
        """
        ...

    def next_due(self, *, now: datetime) -> datetime | None:
        """When the earliest pending run becomes eligible (None: none waiting on time)."""
        ...

    def queue_stats(self) -> QueueStats: ...

    # logs
    def append_logs(self, run_id: str, attempt: int, lines: Sequence[tuple[str, str]]) -> None:
        """Append ``(stream, line)`` pairs to an attempt's log."""
        ...

    def get_logs(
        self, run_id: str, *, attempt: int | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogLine]: ...

    # API tokens (stored hashed)
    def add_token(self, name: str, token_hash: str) -> str: ...

    def has_token(self, token_hash: str) -> bool: ...

    def count_tokens(self) -> int: ...

    # cross-process notifications (PostgreSQL LISTEN/NOTIFY; a no-op on SQLite)
    def watch(
        self, on_work: Callable[[], None], on_final: Callable[[str, RunStatus], None]
    ) -> Callable[[], None]:
        """Report other processes' changes: ``on_work()`` when a run may have become
        claimable, ``on_final(run_id, status)`` when a run reached a final state.

        Callbacks run on a background thread and may also report this process's own changes.
        Delivery is best effort (callers keep a slow poll). Returns a function that stops it.
        """
        ...

    # bundles (remote workers: code distribution)
    def put_bundle(self, digest: str, data: bytes) -> None:
        """Store a code bundle (tar.gz) under the sha256 hex ``digest`` of its bytes; storing
        the same digest again is a no-op."""
        ...

    def get_bundle(self, digest: str) -> bytes | None: ...

    # durable runs (docs/durable.md) ------------------------------------------------------------
    def put_checkpoint(self, run_id: str, attempt: int, key: str, value: JSON) -> None:
        """Store ``value`` under ``key`` for the run; only its running attempt may write.

        ``InvalidTransition`` if that attempt is not running; ``InvalidInput`` past the
        per-run key limit.
        """
        ...

    def get_checkpoints(self, run_id: str) -> dict[str, JSON]: ...

    def add_pause(self, scope: str, target: str) -> bool:
        """Pause ``('queue', '')``, ``('task', 'wf/task')`` or ``('tree', root_id)``; False if
        it was paused already. ``claim`` skips what a pause covers."""
        ...

    def remove_pause(self, scope: str, target: str) -> bool: ...

    def list_pauses(self) -> list[Pause]: ...

    def add_schedule(self, schedule: Schedule) -> Schedule: ...

    def get_schedule(self, schedule_id: str) -> Schedule:
        """``ScheduleNotFound`` for an unknown id."""
        ...

    def list_schedules(self) -> list[Schedule]: ...

    def set_schedule_paused(self, schedule_id: str, paused: bool) -> Schedule: ...

    def delete_schedule(self, schedule_id: str) -> None: ...

    def sync_code_schedules(
        self, workflow: str, specs: Mapping[str, ScheduleSpec], *, now: datetime
    ) -> None:
        """Make the workflow's ``@app.task(schedule=...)`` schedules match ``specs``."""
        ...

    def fire_tick(
        self, schedule_id: str, tick_at: datetime, new: NewRun | None, *, now: datetime
    ) -> TickResult:
        """One transaction: claim the unique ``(schedule, tick)``, apply the overlap policy,
        enqueue ``new``. ``fired=False`` when another server fired the tick first."""
        ...

    def schedule_ticks(
        self, schedule_id: str, *, limit: int = 20
    ) -> list[tuple[datetime, str, str | None]]: ...

    # dashboard (read models; see RunQuery and friends above) ----------------------------------
    def search_runs(
        self,
        query: RunQuery,
        *,
        limit: int,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> list[RunSummary]:
        """Runs matching ``query``, newest first (by seq), keyset-paged.

        ``before_seq`` gives the page after a cursor (older runs); ``after_seq`` the page
        before it (newer runs), still returned newest first.
        """
        ...

    def chain_runs(self, root_id: str, *, limit: int) -> list[ChainRun]:
        """The root and its descendants (at most ``limit``, oldest first) with attempt spans."""
        ...

    def task_stats(self, *, since: datetime | None, sample: int = 2000) -> list[TaskStats]:
        """Per task, runs created since ``since``; percentiles over the latest ``sample``."""
        ...
