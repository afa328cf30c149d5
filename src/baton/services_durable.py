"""Durable-run operations shared by the API, CLI and worker (``docs/durable.md``):
checkpoints, pauses and schedules. Mixed into ``Services``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from baton.binding import check_input
from baton.core.durable import (
    CHECKPOINT_MAX_BYTES,
    CHECKPOINT_MAX_KEY_LEN,
    PAUSE_SCOPES,
    Pause,
    Schedule,
    ScheduleSpec,
    TickResult,
)
from baton.core.ids import new_id
from baton.core.models import JSON, NewRun, Run, Task, TaskDef, utcnow
from baton.errors import InvalidInput, InvalidTransition, TaskNotFound

if TYPE_CHECKING:
    from baton.store import Store


def check_checkpoint(key: object, value: JSON) -> str:
    """The JSON text of ``value``; ``InvalidInput`` for a bad key or a value over 1 MiB."""
    if not isinstance(key, str) or not key or len(key) > CHECKPOINT_MAX_KEY_LEN:
        raise InvalidInput(
            f"checkpoint key must be a non-empty string of at most {CHECKPOINT_MAX_KEY_LEN} "
            f"characters, got {key!r}"
        )
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"checkpoint {key!r} is not JSON-serializable: {exc}") from exc
    if len(text.encode()) > CHECKPOINT_MAX_BYTES:
        raise InvalidInput(
            f"checkpoint {key!r} is {len(text.encode())} bytes of JSON; the limit is 1 MiB "
            "per key: store a reference (a path, an object key) instead of the data"
        )
    return text


class DurableServices:
    """``Services``' checkpoint, pause and schedule operations."""

    if TYPE_CHECKING:  # provided by Services
        store: Store
        _killers: list[Callable[[Run], None]]
        _schedule_wakers: list[Callable[[], None]]

        def resolve_task(self, slug: str) -> Task: ...

        def _new_run(self, task: Task, value: JSON, **links: object) -> NewRun: ...

        def _wake(self) -> None: ...

        def _publish(self, runs: Sequence[Run]) -> None: ...

    # checkpoints ------------------------------------------------------------------------------

    def checkpoint(self, run_id: str, attempt: int, key: object, value: JSON) -> None:
        """Store a checkpoint for the running attempt (size-checked)."""
        check_checkpoint(key, value)
        self.store.put_checkpoint(run_id, attempt, str(key), value)

    def get_checkpoints(self, run_id: str) -> dict[str, JSON]:
        self.store.get_run(run_id, attempts=False)  # RunNotFound for an unknown id
        return self.store.get_checkpoints(run_id)

    # pauses -----------------------------------------------------------------------------------

    def _pause_target(self, scope: str, target: str) -> str:
        if scope not in PAUSE_SCOPES:
            raise InvalidInput(f"pause scope must be one of {', '.join(PAUSE_SCOPES)}")
        if scope == "queue":
            return ""
        if scope == "task":
            return self.resolve_task(target).slug
        run = self.store.get_run(target, attempts=False)
        if run.parent_id is not None:
            raise InvalidTransition(
                f"task run {target} is a subtask; pause or resume its root {run.root_id}"
            )
        return run.id

    def pause(self, scope: str, target: str = "") -> bool:
        """Pause the queue, a task (``wf/task``) or a run tree (root run id).

        Nothing new starts in a paused scope; running attempts finish. False if it was paused.
        """
        return self.store.add_pause(scope, self._pause_target(scope, target))

    def resume(self, scope: str, target: str = "") -> bool:
        """Undo ``pause``; False if the scope was not paused."""
        resumed = self.store.remove_pause(scope, self._pause_target(scope, target))
        if resumed:
            self._wake()
        return resumed

    def list_pauses(self) -> list[Pause]:
        return self.store.list_pauses()

    # schedules --------------------------------------------------------------------------------

    def create_schedule(self, slug: str, spec: ScheduleSpec) -> Schedule:
        """Store a schedule for ``wf/task`` (its input must bind to the current signature)."""
        task = self.resolve_task(slug)
        check_input(task.definition, spec.input, slug=task.slug)
        schedule = Schedule(
            id=new_id("sch"),
            workflow=task.workflow,
            task_name=task.name,
            spec=spec,
            source="api",
            paused=False,
            created_at=utcnow(),
        )
        created = self.store.add_schedule(schedule)
        self._wake_scheduler()
        return created

    def list_schedules(self) -> list[Schedule]:
        return self.store.list_schedules()

    def get_schedule(self, schedule_id: str) -> Schedule:
        return self.store.get_schedule(schedule_id)

    def pause_schedule(self, schedule_id: str) -> Schedule:
        return self.store.set_schedule_paused(schedule_id, True)

    def resume_schedule(self, schedule_id: str) -> Schedule:
        schedule = self.store.set_schedule_paused(schedule_id, False)
        self._wake_scheduler()
        return schedule

    def delete_schedule(self, schedule_id: str) -> None:
        self.store.delete_schedule(schedule_id)

    def sync_code_schedules(self, workflow: str, tasks: Sequence[TaskDef]) -> None:
        specs = {
            t.name: ScheduleSpec.from_wire(t.options.schedule)
            for t in tasks
            if t.options.schedule is not None
        }
        self.store.sync_code_schedules(workflow, specs, now=utcnow())
        self._wake_scheduler()

    def fire_tick(self, schedule: Schedule, tick_at: datetime) -> TickResult:
        """Fire one tick of ``schedule`` (a no-op if another server fired it)."""
        new = None
        try:
            task = self.store.get_task(schedule.workflow, schedule.task_name)
        except TaskNotFound:
            task = None
        if task is not None:
            links: dict[str, object] = {"schedule_id": schedule.id}
            if schedule.spec.overlap == "queue":
                # queued ticks run one after another: the schedule is its own concurrency key
                links.update(concurrency_key=f"schedule:{schedule.id}", concurrency_limit=1)
            new = self._new_run(task, schedule.spec.input, **links)
        result = self.store.fire_tick(schedule.id, tick_at, new, now=utcnow())
        if result.canceled_ids:
            self._after_cancel(self.store.get_runs(list(result.canceled_ids)))
        if result.run_id is not None:
            self._publish([self.store.get_run(result.run_id)])
            self._wake()
        return result

    def _after_cancel(self, runs: list[Run]) -> None:
        for run in runs:
            for kill in self._killers:
                kill(run)
        self._publish(runs)
        self._wake()

    def on_schedules_changed(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` whenever a schedule is created, changed or resumed."""
        self._schedule_wakers.append(wake)

    def _wake_scheduler(self) -> None:
        for wake in self._schedule_wakers:
            wake()
