"""Operations shared by the API, the CLI, the dashboard and the local worker.

Every state change goes through here, so each one is stored (one store transaction) and then
published as a run event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from baton.batcher import Batcher
from baton.binding import check_input
from baton.core.durable import check_durable_options, concurrency_group
from baton.core.ids import new_id
from baton.core.models import JSON, Claim, NewRun, Run, RunStatus, Task, TaskDef, utcnow
from baton.core.plans import DEFAULT_PLAN, DEFAULT_TIMEOUT_S, PLANS, check_plan, check_timeout
from baton.core.retry import DEFAULT_RETRY
from baton.errors import BatonError, InvalidInput, RegistrationFailed, TaskNotFound
from baton.events import RunEvents
from baton.services_durable import DurableServices
from baton.store import ChildCall, LogLine, Outcome, RunFilter, Store
from baton.store.base import ChainRun, QueueStats, RunQuery, RunSummary, TaskStats
from baton.worker.registry import WorkerRegistry

log = logging.getLogger("baton.services")

P = ParamSpec("P")
T = TypeVar("T")

#: How long the current version's task found for a slug is used without looking again: a
#: version deployed through another server takes effect here within this time.
TASK_CACHE_S = 1.0
TASK_CACHE_SIZE = 10_000

#: Threads that make store calls for the event loop when the store waits on the network.
OFFLOAD_THREADS = 6

#: Most runs ``submit_run`` stores in one transaction.
START_BATCH = 64

#: How often waiters' runs are re-read from the store, in case a notification from another
#: process was lost: a lost notification costs at most this much latency.
WATCH_POLL_S = 2.0


@dataclass(frozen=True)
class EngineConfig:
    """Engine-wide settings.

    Attributes:
        concurrency: attempts that may compute at once across all workers (waiting parents do
            not count).
        max_pending: runs that may wait in the queue before new ones get HTTP 429.
        lease_s: how long a worker's claim on an attempt lasts without a heartbeat.
    """

    concurrency: int = 20
    max_pending: int = 100_000
    lease_s: float = 30.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")


def parse_slug(slug: str) -> tuple[str, str, str | None]:
    """``wf/task[:version]`` → ``(workflow, task, version or None)``."""
    workflow, sep, rest = slug.partition("/")
    name, _, version = rest.partition(":")
    if not sep or not workflow or not name:
        raise TaskNotFound(f"task not found: {slug!r} (expected <workflow>/<task>)")
    return workflow, name, version or None


def decode_b64_json(data: object, what: str) -> JSON:
    """Decode the worker protocol's base64-of-JSON encoding (``""``/``None`` → ``None``)."""
    if data is None or data == "":
        return None
    if not isinstance(data, str):
        raise InvalidInput(f"{what} must be a base64 string")
    try:
        return json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{what} is not base64-encoded JSON: {exc}") from exc


def _check_key(key: str | None, what: str) -> None:
    """Keys are matched exactly, so one that a store cannot hold is refused, not altered."""
    if key is not None and "\x00" in key:
        raise InvalidInput(f"the {what} must not contain NUL characters")


def check_task_def(task: TaskDef) -> None:
    """Refuse a registration whose options Baton cannot honour."""
    if task.options.timeout_seconds is not None:
        check_timeout(task.options.timeout_seconds)
    if task.options.plan is not None:
        check_plan(task.options.plan)
    check_durable_options(task)


class Services(DurableServices):
    """The engine's operations over one store."""

    def __init__(self, store: Store, config: EngineConfig | None = None) -> None:
        self.store = store
        self.config = config or EngineConfig()
        self.events = RunEvents()
        self.workers = WorkerRegistry()  # workers report here; the dashboard lists them
        self._wakers: list[Callable[[], None]] = []
        self._killers: list[Callable[[Run], None]] = []
        self._unwatch: Callable[[], None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._schedule_wakers: list[Callable[[], None]] = []
        self._exit_listeners: list[
            Callable[[str, int, int | None, int | None, float | None], None]
        ] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._io_pool: ThreadPoolExecutor | None = None
        self._tasks: dict[tuple[str, str, str | None], tuple[Task, float]] = {}
        self._starts: tuple[asyncio.AbstractEventLoop, Batcher[tuple[str, JSON]]] | None = None
        self._rereads: set[asyncio.Task[None]] = set()  # runs other processes ended

    # where store calls run ---------------------------------------------------------------------

    async def offload(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` (a blocking store or ``Services`` call) run where it cannot
        stall the event loop: on a worker thread when the store waits on network round trips
        (PostgreSQL), else right here. What it publishes reaches waiters, feeds and workers on
        the loop, before this returns."""
        if not self.store.offload_io:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        self._loop, self._loop_thread = loop, threading.get_ident()
        if self._io_pool is None:
            self._io_pool = ThreadPoolExecutor(OFFLOAD_THREADS, thread_name_prefix="baton-store")
        return await loop.run_in_executor(self._io_pool, functools.partial(fn, *args, **kwargs))

    def _off_loop(self, fn: Callable[..., object], *args: object) -> bool:
        """``True`` (and ``fn(*args)`` handed to the event loop) when called from an offload
        thread: events, wake-ups and kills only ever happen on the loop."""
        if self._loop is None or threading.get_ident() == self._loop_thread:
            return False
        self._loop.call_soon_threadsafe(fn, *args)
        return True

    def close(self) -> None:
        """Stop the offload threads (after the store calls in flight)."""
        if self._io_pool is not None:
            self._io_pool.shutdown(wait=True)
            self._io_pool = None

    # hooks ------------------------------------------------------------------------------------

    def on_work(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` whenever a run may have become claimable."""
        self._wakers.append(wake)

    def on_cancel(self, kill: Callable[[Run], None]) -> None:
        """Call ``kill(run)`` for every run that is canceled while it may be running."""
        self._killers.append(kill)

    def _wake(self) -> None:
        if self._off_loop(self._wake):
            return
        for wake in self._wakers:
            wake()

    def _publish(self, runs: Sequence[Run], *, local: bool = True) -> None:
        if self._off_loop(functools.partial(self._publish, list(runs), local=local)):
            return
        for run in runs:
            self.events.publish(run, local=local)

    # runs -------------------------------------------------------------------------------------

    def resolve_task(self, slug: str) -> Task:
        """The task a slug names: its current version's, or the version it names (tasks of a
        version never change, so they are kept; the current version is looked up again
        after ``TASK_CACHE_S``, and at once after a registration in this process)."""
        workflow, name, version = parse_slug(slug)
        key = (workflow, name, version)
        hit = self._tasks.get(key)
        now = time.monotonic()
        if hit is not None and (version is not None or now - hit[1] < TASK_CACHE_S):
            return hit[0]
        task = self.store.get_task(workflow, name, version)
        if len(self._tasks) >= TASK_CACHE_SIZE:
            self._tasks.clear()
        self._tasks[key] = (task, now)
        return task

    def _new_run(self, task: Task, value: JSON, **links: object) -> NewRun:
        options = task.definition.options
        key, limit = concurrency_group(task.workflow, task.definition, value)
        durable: dict[str, object] = {
            "priority": options.priority,
            "concurrency_key": key,
            "concurrency_limit": limit,
            "escalate_plans": options.escalate_plans,
        }
        links = {**durable, **links}
        return NewRun(
            id=new_id("trn"),
            task=task,
            input=value,
            retry=options.retry or DEFAULT_RETRY,
            timeout_s=options.timeout_seconds or DEFAULT_TIMEOUT_S,
            plan=options.plan if options.plan in PLANS else DEFAULT_PLAN,
            **links,  # type: ignore[arg-type]
        )

    def start_run(self, slug: str, value: JSON, *, idempotency_key: str | None = None) -> Run:
        """Validate and enqueue a root run; the same idempotency key returns the first run."""
        _check_key(idempotency_key, "idempotency key")
        task = self.resolve_task(slug)
        value = check_input(task.definition, value, slug=slug)
        new = self._new_run(task, value, idempotency_key=idempotency_key)
        run, created = self.store.enqueue(new, max_pending=self.config.max_pending)
        if created:
            self._publish([run])
            self._wake()
        return run

    async def submit_run(
        self, slug: str, value: JSON, *, idempotency_key: str | None = None
    ) -> Run:
        """``start_run`` from the event loop (the API's way in). On PostgreSQL, runs submitted
        while a batch is being stored are stored together, in the next transaction: one commit
        (a disk flush) for many runs under load, no added wait when idle. One batch at a time,
        so ``max_pending`` holds as exactly as when each start was stored alone."""
        if idempotency_key is not None or not self.store.offload_io:
            # SQLite commits cheaply (no flush per commit): batching would only add a hop.
            return await self.offload(self.start_run, slug, value, idempotency_key=idempotency_key)
        result: Run | BatonError = await self._start_batcher().submit((slug, value))
        if isinstance(result, BatonError):
            raise result
        return result

    def _start_batcher(self) -> Batcher[tuple[str, JSON]]:
        loop = asyncio.get_running_loop()
        if self._starts is None or self._starts[0] is not loop:

            async def send(items: Sequence[tuple[str, JSON]]) -> list[Run | BatonError]:
                return await self.offload(self.start_runs, items)

            self._starts = (loop, Batcher(send, max_items=START_BATCH))
        return self._starts[1]

    def start_runs(self, starts: Sequence[tuple[str, JSON]]) -> list[Run | BatonError]:
        """Validate and enqueue root runs ``(slug, input)`` (no idempotency keys) in one store
        transaction; for each, its run or the ``BatonError`` that refused it."""
        out: list[Run | BatonError | None] = []
        news: list[tuple[int, NewRun]] = []
        for slug, value in starts:
            try:
                task = self.resolve_task(slug)
                checked = check_input(task.definition, value, slug=slug)
                news.append((len(out), self._new_run(task, checked)))
                out.append(None)
            except BatonError as exc:
                out.append(exc)
        limit = self.config.max_pending
        done = self.store.batch(
            [functools.partial(self.store.enqueue, new, max_pending=limit) for _, new in news]
        )
        created: list[Run] = []
        for (i, _), result in zip(news, done, strict=True):
            if isinstance(result, BatonError):
                out[i] = result
            else:
                out[i] = result[0]
                created.append(result[0])
        if created:
            self._publish(created)
            self._wake()
        return [r for r in out if r is not None]

    def start_child(
        self,
        parent: Run,
        parent_attempt: int,
        task_name: str,
        encoded_input: object,
        *,
        idempotency_key: str | None = None,
        created_key: str | None = None,
        call_index: int | None = None,
    ) -> Run:
        """Start the child run of a chained call made by ``parent``'s attempt.

        A retried parent gets the child an earlier attempt made for the same call (same call
        order, task and input) unless its task was registered with ``memoize=False``.
        """
        value = decode_b64_json(encoded_input, "input")
        task = self.store.get_task(parent.workflow, task_name, parent.version_id)
        value = check_input(task.definition, value, slug=task.slug)
        memoize = parent_attempt == 0 or (
            self.store.get_task(
                parent.workflow, parent.task_name, parent.version_id
            ).definition.options.memoize
        )
        _check_key(idempotency_key, "idempotency_key")
        _check_key(created_key, "created_at")
        call = ChildCall(task_name, value, idempotency_key, created_key, call_index, memoize)
        new = self._new_run(
            task,
            value,
            parent_id=parent.id,
            root_id=parent.root_id,
            parent_attempt=parent_attempt,
        )
        run, created = self.store.create_child(parent.id, parent_attempt, call, new)
        if created:
            self._publish([run])
            self._wake()
        return run

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def list_runs(
        self, flt: RunFilter, *, limit: int = 20, cursor: int | None = None
    ) -> list[tuple[Run, int]]:
        return self.store.list_runs(flt, limit=limit, cursor=cursor)

    def cancel_run(self, run_id: str) -> list[Run]:
        """Cancel a root run and every unfinished descendant; kills their processes."""
        runs = self.store.cancel(run_id, now=utcnow())
        self._kill(runs)
        self._publish(runs)
        self._wake()
        return runs

    def _kill(self, runs: Sequence[Run]) -> None:
        if self._off_loop(self._kill, list(runs)):
            return
        for run in runs:
            for kill in self._killers:
                kill(run)

    def list_tasks(self, workflow: str | None = None) -> list[Task]:
        return self.store.list_tasks(workflow)

    def get_logs(
        self, run_id: str, *, attempt: int | None = None, after: int = 0, limit: int = 1000
    ) -> list[LogLine]:
        self.store.get_run(run_id, attempts=False)  # RunNotFound for an unknown id
        return self.store.get_logs(run_id, attempt=attempt, after=after, limit=limit)

    async def wait_final(self, run_id: str, timeout_s: float) -> Run:
        """The run once it is final, or as it is when ``timeout_s`` passes."""
        fut = self.events.final_future(run_id)
        try:
            run = await self.offload(self.store.get_run, run_id, attempts=False)
            if run.status.is_final or timeout_s <= 0:
                return run
            try:
                async with asyncio.timeout(timeout_s):
                    return await asyncio.shield(fut)
            except TimeoutError:
                return await self.offload(self.store.get_run, run_id, attempts=False)
        finally:
            self.events.forget(run_id, fut)

    async def finals(self, run_ids: Sequence[str]) -> AsyncIterator[Run]:
        """Yield each run as it reaches a final state (those already final first)."""
        futures = {rid: self.events.final_future(rid) for rid in dict.fromkeys(run_ids)}
        try:
            for run in await self._read_final(list(futures)):
                self.events.forget(run.id, futures.pop(run.id))
                yield run
            pending = {fut: rid for rid, fut in futures.items()}
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    rid = pending.pop(fut)
                    futures.pop(rid, None)
                    run = fut.result()
                    # The published run is fresh; one without attempts (a notification from
                    # another process) is read again in full.
                    yield run if run.attempts else await self.offload(self.store.get_run, rid)
        finally:
            for rid, fut in futures.items():
                self.events.forget(rid, fut)

    # the worker's side ------------------------------------------------------------------------

    def claim(self, worker_id: str, slots: int, plans: Sequence[str] | None = None) -> list[Claim]:
        """Lease up to ``slots`` attempts (only of runs on ``plans``, if given)."""
        claims = self.lease(worker_id, slots, plans)
        self.announce_claimed(claims)
        return claims

    def lease(self, worker_id: str, slots: int, plans: Sequence[str] | None = None) -> list[Claim]:
        """``claim`` without publishing the claimed runs (inside a ``store.batch``, say:
        ``announce_claimed`` them once it has committed)."""
        return self.store.claim(
            worker_id,
            slots,
            limit=self.config.concurrency,
            lease_s=self.config.lease_s,
            now=utcnow(),
            plans=plans,
        )

    def announce_claimed(self, claims: Sequence[Claim]) -> None:
        """Publish the runs of ``claims`` (now running)."""
        if claims:
            self._publish([c.run for c in claims])

    def finish_attempt(
        self, run_id: str, attempt: int, worker_id: str, outcome: Outcome
    ) -> Run | None:
        run = self.store.finish_attempt(run_id, attempt, worker_id, outcome, now=utcnow())
        if run is not None:
            self.announce_finished([run])
        return run

    def announce_finished(self, runs: Sequence[Run]) -> None:
        """Publish runs whose attempts ``store.finish_attempt`` finished (inside a
        ``store.batch``, say) and wake the workers: what ``finish_attempt`` does after it."""
        if runs:
            self._publish(runs)
            self._wake()

    def set_waiting(self, run_id: str, attempt: int, waiting: bool) -> None:
        self.store.set_waiting(run_id, attempt, waiting)
        if waiting:
            self._wake()

    def expire_leases(self) -> list[Run]:
        runs = self.store.expire_leases(now=utcnow())
        if runs:
            self._publish(runs)
            self._wake()
        return runs

    def register_version(self, version_id: str, tasks: Sequence[TaskDef]) -> list[Task]:
        """Validate and store a version's task definitions (HTTP 400 on a bad option)."""
        seen: set[str] = set()
        for task in tasks:
            if task.name in seen:
                raise InvalidInput(f"task {task.name!r} is registered twice")
            seen.add(task.name)
            try:
                check_task_def(task)
            except ValueError as exc:
                raise InvalidInput(f"task {task.name!r}: {exc}") from exc
        if not tasks:
            raise RegistrationFailed("the workflow registered no tasks")
        stored = self.store.register_tasks(version_id, tasks)
        self._tasks.clear()  # the workflow's current version changed
        self.sync_code_schedules(self.store.get_version(version_id).workflow, tasks)
        return stored

    # other processes' changes (several servers on one PostgreSQL database) --------------------

    def start_watching(self, poll_s: float = WATCH_POLL_S) -> None:
        """Wake local workers and resolve local waiters on changes made by other processes.

        Call from the event loop; the store's callbacks arrive on another thread and are handed
        over with ``call_soon_threadsafe``. A poll every ``poll_s`` re-reads waited-on runs.
        """
        if self._unwatch is not None:
            return
        loop = asyncio.get_running_loop()

        def on_work() -> None:
            loop.call_soon_threadsafe(self._wake)

        def on_final(run_id: str, status: RunStatus) -> None:
            loop.call_soon_threadsafe(self._remote_final, run_id, status)

        self._unwatch = self.store.watch(on_work, on_final)
        self._poller = asyncio.create_task(self._poll_watched(poll_s), name="watch-poll")

    async def stop_watching(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    def _remote_final(self, run_id: str, status: RunStatus) -> None:
        kill = status == RunStatus.CANCELED and bool(self._killers)
        if kill or self.events.is_watched(run_id):
            task = asyncio.get_running_loop().create_task(self._reread(run_id, kill))
            self._rereads.add(task)
            task.add_done_callback(self._rereads.discard)

    async def _reread(self, run_id: str, kill: bool) -> None:
        """Read a run another process ended (off the loop), then kill and publish here."""
        try:
            run = await self.offload(self.store.get_run, run_id, attempts=False)
        except BatonError as exc:
            log.warning("cannot read run %s after a notification: %s", run_id, exc)
            return
        if kill:
            for killer in self._killers:
                killer(run)
        if self.events.is_watched(run_id):
            self._publish([run], local=False)

    async def _read_final(self, run_ids: Sequence[str]) -> list[Run]:
        """Those of ``run_ids`` that are final, read in full (only those), off the loop."""
        final = await self.offload(self.store.final_ids, run_ids)
        runs = await self.offload(self.store.get_runs, final) if final else []
        return [r for r in runs if r.status.is_final]

    async def _poll_watched(self, poll_s: float) -> None:
        while True:
            await asyncio.sleep(poll_s)
            ids = self.events.watched()
            try:
                for start in range(0, len(ids), 500):
                    # Usually none: the others' ends were published when they came.
                    final = await self._read_final(ids[start : start + 500])
                    if final:
                        self._publish(final, local=False)
            except BatonError as exc:
                log.warning("cannot poll waited-on runs: %s", exc)

    # dashboard (read models and the run page's actions) --------------------------------------

    def search_runs(
        self,
        query: RunQuery,
        *,
        limit: int = 50,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> list[RunSummary]:
        return self.store.search_runs(
            query, limit=limit, before_seq=before_seq, after_seq=after_seq
        )

    def chain(self, root_id: str, *, limit: int = 10_000) -> list[ChainRun]:
        """The run tree under ``root_id`` with attempt spans (the run page's timeline)."""
        return self.store.chain_runs(root_id, limit=limit)

    def task_stats(self, since: datetime | None) -> list[TaskStats]:
        return self.store.task_stats(since=since)

    def queue_stats(self) -> QueueStats:
        return self.store.queue_stats()

    def rerun(self, run_id: str) -> Run:
        """Start a new root run of the same task (current version) with the same input."""
        run = self.store.get_run(run_id, attempts=False)
        return self.start_run(run.slug, run.input)

    # attempt exits (a process's exit report after its result; the tracer waits for it) -------

    def on_attempt_exit(
        self, listener: Callable[[str, int, int | None, int | None, float | None], None]
    ) -> None:
        """Call ``listener(run_id, attempt, exit_code, peak_rss_kb, cpu_s)`` on exit reports."""
        self._exit_listeners.append(listener)

    def record_attempt_exit(
        self,
        run_id: str,
        attempt: int,
        *,
        exit_code: int | None,
        peak_rss_kb: int | None,
        cpu_s: float | None,
    ) -> None:
        """Store how an attempt's process exited (it reported its result before exiting)."""
        self.store.update_attempt_exit(
            run_id, attempt, exit_code=exit_code, peak_rss_kb=peak_rss_kb, cpu_s=cpu_s
        )
        self._exited(run_id, attempt, exit_code, peak_rss_kb, cpu_s)

    def _exited(self, *report: Any) -> None:
        """Tell the exit listeners ``(run_id, attempt, exit_code, peak_rss_kb, cpu_s)``."""
        if self._off_loop(self._exited, *report):
            return
        for listener in self._exit_listeners:
            listener(*report)
