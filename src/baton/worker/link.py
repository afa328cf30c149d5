"""``WorkerLink``: what a worker needs from the engine, in-process or over HTTP.

``ServicesLink`` calls ``Services`` directly (``baton dev``, ``baton serve`` with its embedded
worker); ``HttpLink`` (``baton.worker.http_link``) calls a server's ``/v1/workers`` routes
(``baton worker --server URL``). The worker loop and ``AttemptState`` only see this protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from baton.core.models import JSON, Claim, Run, WorkflowVersion, utcnow
from baton.errors import BatonError, RunNotFound
from baton.services import Services
from baton.store import Outcome

log = logging.getLogger("baton.worker")


class ClaimAlong(Protocol):
    """A worker's side of claims that ride on its reports (``WorkerLink.claim_along``)."""

    plans: tuple[str, ...] | None

    def slots_after(self, finishing: Collection[str]) -> int:
        """How many attempts to claim along with reports that carry the outcomes of the
        attempts of the runs ``finishing``: the slots free once those whose processes have
        exited are gone, less those a claim under way already asks for."""
        ...

    def take(self, claims: Sequence[Claim]) -> None:
        """Start the attempts claimed along with a report."""
        ...


class WorkerLink(Protocol):
    """The engine as a worker sees it. Every call is safe to repeat after a lost answer."""

    def claim_along(self, worker_id: str, worker: ClaimAlong) -> None:
        """Let the reports of ``worker_id`` claim new attempts for the slots they free, in
        the same call (a link where a claim is cheap may ignore this)."""
        ...

    async def claim(
        self, worker_id: str, slots: int, wait_s: float, plans: Sequence[str] | None = None
    ) -> list[Claim]:
        """Lease up to ``slots`` attempts (of runs on ``plans`` only, if given); waits up to
        ``wait_s`` for work when none is due."""
        ...

    async def heartbeat(
        self, worker_id: str, load: WorkerLoad | None = None
    ) -> list[tuple[str, int]]:
        """Renew this worker's leases (and report its load); the attempts it still owns."""
        ...

    async def finish_attempt(
        self, run_id: str, attempt: int, worker_id: str, outcome: Outcome
    ) -> bool:
        """Report how an attempt ended; ``False`` if it was no longer this worker's."""
        ...

    async def attempt_started(
        self, run_id: str, attempt: int, pid: int, timings: dict[str, float] | None = None
    ) -> None:
        """Record the attempt's process id (and start-up timings, merged into the attempt's)."""
        ...

    async def report(self, run_id: str, attempt: int, worker_id: str, batch: Report) -> bool:
        """Everything a worker has to say about an attempt, in one call: its process start,
        timings, log lines and (last) its outcome. ``False`` if an outcome was dropped
        because the attempt is no longer this worker's."""
        ...

    async def attempt_exit(
        self,
        run_id: str,
        attempt: int,
        *,
        exit_code: int | None,
        peak_rss_kb: int | None,
        cpu_s: float | None,
    ) -> None: ...

    async def record_timings(
        self, run_id: str, attempt: int, timings: dict[str, float]
    ) -> None: ...

    async def append_logs(
        self, run_id: str, attempt: int, lines: Sequence[tuple[str, str]]
    ) -> None: ...

    async def set_waiting(self, run_id: str, attempt: int, waiting: bool) -> None: ...

    async def start_child(
        self,
        parent: Run,
        parent_attempt: int,
        task_name: str,
        encoded_input: object,
        *,
        idempotency_key: str | None,
        created_key: str | None,
        call_index: int | None = None,
    ) -> str:
        """Start (or find, for a repeated call) the child of a chained call; its run id."""
        ...

    async def checkpoint(self, run_id: str, attempt: int, key: object, value: JSON) -> None:
        """Store a checkpoint of the running attempt (``InvalidInput`` when too big)."""
        ...

    async def get_checkpoints(self, run_id: str) -> dict[str, JSON]: ...

    async def wait_child(self, root_id: str, child_id: str, timeout_s: float) -> Run:
        """The child once final, or as it is after ``timeout_s``; ``RunNotFound`` if it is
        not part of the chain rooted at ``root_id``."""
        ...

    async def get_version(self, version_id: str) -> WorkflowVersion: ...

    async def get_bundle(self, digest: str) -> bytes:
        """The tar.gz bundle with this sha256 hex digest."""
        ...


@dataclass(frozen=True)
class Report:
    """What ``WorkerLink.report`` sends; every part is optional."""

    pid: int | None = None
    timings: dict[str, float] | None = None
    logs: Sequence[tuple[str, str]] = ()
    outcome: Outcome | None = None

    def __bool__(self) -> bool:
        return bool(self.pid is not None or self.timings or self.logs or self.outcome)


def apply_report(
    services: Services, run_id: str, attempt: int, worker_id: str, r: Report
) -> Run | bool | None:
    """Store a ``Report`` in one transaction: the process start, timings and logs, then the
    outcome (whose lease check decides: the finished run, or ``None`` when the outcome was
    dropped). ``True`` when there was no outcome to record."""
    (result,) = apply_reports(services, worker_id, [(run_id, attempt, r)])
    if isinstance(result, BatonError):
        raise result
    return result


def apply_reports(
    services: Services, worker_id: str, reports: Sequence[tuple[str, int, Report]]
) -> list[Run | bool | BatonError | None]:
    """Store the ``Report``s of several attempts ``(run_id, attempt, report)`` in one
    transaction; the answer of each in order, as ``apply_report``'s, or the ``BatonError``
    that left that one report unrecorded (the others are recorded all the same).

    The finished runs are published once the transaction has committed.
    """
    results, _ = report_and_claim(services, worker_id, reports)
    return results


def report_and_claim(
    services: Services,
    worker_id: str,
    reports: Sequence[tuple[str, int, Report]],
    slots: int = 0,
    plans: Sequence[str] | None = None,
) -> tuple[list[Run | bool | BatonError | None], list[Claim]]:
    """``apply_reports``, then, in the same transaction, ``Services.claim`` of up to
    ``slots`` attempts (which sees the slots those reports freed): one commit where a
    report and a claim would take two. A claim that fails leaves the reports recorded and
    claims nothing."""
    store = services.store

    def item(run_id: str, attempt: int, r: Report) -> Callable[[], Run | bool | None]:
        def write() -> Run | bool | None:
            if r.logs:
                store.append_logs(run_id, attempt, r.logs)
            if r.outcome is not None:  # the process start travels with it (one write)
                outcome = replace(r.outcome, pid=r.pid, timings=r.timings or None)
                return store.finish_attempt(run_id, attempt, worker_id, outcome, now=utcnow())
            if r.pid is not None:
                store.attempt_started(run_id, attempt, r.pid, r.timings or None)
            elif r.timings:
                store.record_timings(run_id, attempt, r.timings)
            return True

        return write

    # Rows are locked in run id order, so that two batches touching the same runs (a late
    # report of another worker's attempt) cannot deadlock each other.
    order = sorted(range(len(reports)), key=lambda i: (reports[i][0], reports[i][1]))
    items: list[Callable[[], Run | bool | list[Claim] | None]] = [item(*reports[i]) for i in order]
    if slots > 0:  # last: after the reports, whose finished attempts no longer count
        items.append(lambda: services.lease(worker_id, slots, plans))
    done = store.batch(items)
    claims = done.pop() if slots > 0 else []
    results: list[Run | bool | BatonError | None] = [None] * len(reports)
    for i, result in zip(order, done, strict=True):
        assert not isinstance(result, list)
        results[i] = result
    services.announce_finished([r for r in done if isinstance(r, Run)])
    if not isinstance(claims, list):  # the worker's own claims will try again
        log.warning("claiming along with the reports of %s failed: %s", worker_id, claims)
        return results, []
    services.announce_claimed(claims)
    return results, claims


@dataclass(frozen=True)
class WorkerLoad:
    """What a worker reports with its heartbeat (the dashboard's workers page shows it)."""

    slots: int
    running: int
    computing: int
    host: str = ""


class WorkSignal:
    """Wakes claim long-polls when ``Services`` says a run may have become claimable."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """The event the next ``wake()`` sets."""
        return self._event


_signals: weakref.WeakKeyDictionary[Services, WorkSignal] = weakref.WeakKeyDictionary()


def work_signal(services: Services) -> WorkSignal:
    """The one ``WorkSignal`` of ``services`` (hooked into ``on_work`` on first use)."""
    signal = _signals.get(services)
    if signal is None:
        signal = _signals[services] = WorkSignal()
        services.on_work(signal.wake)
    return signal


#: The longest a claim long-poll sleeps before looking at the queue again (covers wake-ups
#: another process made that this one could not see).
CLAIM_RECHECK_S = 1.0


async def claim_waiting(
    services: Services,
    worker_id: str,
    slots: int,
    wait_s: float,
    plans: Sequence[str] | None = None,
) -> list[Claim]:
    """``Services.claim``, waiting up to ``wait_s`` for claimable work if there is none."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, wait_s)
    signal = work_signal(services)
    while True:
        event_before = signal.current()  # a wake after this point must not be missed
        claims = (
            await services.offload(services.claim, worker_id, slots, plans) if slots > 0 else []
        )
        left = deadline - loop.time()
        if claims or left <= 0:
            return claims
        timeout = min(left, CLAIM_RECHECK_S)
        due = await services.offload(services.store.next_due, now=utcnow())
        if due is not None:
            timeout = min(timeout, max(0.0, (due - utcnow()).total_seconds()))
        if event_before.is_set():
            continue
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event_before.wait()


class ServicesLink:
    """``WorkerLink`` over in-process ``Services``."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def claim_along(self, worker_id: str, worker: ClaimAlong) -> None:
        pass  # in-process, the worker's own claim costs no request

    async def claim(
        self, worker_id: str, slots: int, wait_s: float, plans: Sequence[str] | None = None
    ) -> list[Claim]:
        return await claim_waiting(self.services, worker_id, slots, wait_s, plans)

    async def heartbeat(
        self, worker_id: str, load: WorkerLoad | None = None, *, kind: str = "local"
    ) -> list[tuple[str, int]]:
        if load is not None:
            self.services.workers.beat(
                worker_id,
                slots=load.slots,
                running=load.running,
                computing=load.computing,
                kind=kind,
                host=load.host or None,
            )
        config = self.services.config
        return await self.services.offload(
            self.services.store.heartbeat, worker_id, lease_s=config.lease_s, now=utcnow()
        )

    async def finish_attempt(
        self, run_id: str, attempt: int, worker_id: str, outcome: Outcome
    ) -> bool:
        services = self.services
        run = await services.offload(services.finish_attempt, run_id, attempt, worker_id, outcome)
        return run is not None

    async def attempt_started(
        self, run_id: str, attempt: int, pid: int, timings: dict[str, float] | None = None
    ) -> None:
        await self.services.offload(
            self.services.store.attempt_started, run_id, attempt, pid, timings
        )

    async def report(self, run_id: str, attempt: int, worker_id: str, batch: Report) -> bool:
        services = self.services
        done = await services.offload(apply_report, services, run_id, attempt, worker_id, batch)
        return done is not None

    async def attempt_exit(
        self,
        run_id: str,
        attempt: int,
        *,
        exit_code: int | None,
        peak_rss_kb: int | None,
        cpu_s: float | None,
    ) -> None:
        await self.services.offload(
            self.services.record_attempt_exit,
            run_id,
            attempt,
            exit_code=exit_code,
            peak_rss_kb=peak_rss_kb,
            cpu_s=cpu_s,
        )

    async def record_timings(self, run_id: str, attempt: int, timings: dict[str, float]) -> None:
        await self.services.offload(self.services.store.record_timings, run_id, attempt, timings)

    async def append_logs(
        self, run_id: str, attempt: int, lines: Sequence[tuple[str, str]]
    ) -> None:
        await self.services.offload(self.services.store.append_logs, run_id, attempt, lines)

    async def set_waiting(self, run_id: str, attempt: int, waiting: bool) -> None:
        await self.services.offload(self.services.set_waiting, run_id, attempt, waiting)

    async def start_child(
        self,
        parent: Run,
        parent_attempt: int,
        task_name: str,
        encoded_input: object,
        *,
        idempotency_key: str | None,
        created_key: str | None,
        call_index: int | None = None,
    ) -> str:
        child = await self.services.offload(
            self.services.start_child,
            parent,
            parent_attempt,
            task_name,
            encoded_input,
            idempotency_key=idempotency_key,
            created_key=created_key,
            call_index=call_index,
        )
        return child.id

    async def checkpoint(self, run_id: str, attempt: int, key: object, value: JSON) -> None:
        await self.services.offload(self.services.checkpoint, run_id, attempt, key, value)

    async def get_checkpoints(self, run_id: str) -> dict[str, JSON]:
        return await self.services.offload(self.services.get_checkpoints, run_id)

    async def wait_child(self, root_id: str, child_id: str, timeout_s: float) -> Run:
        child = await self.services.offload(self.services.store.get_run, child_id, attempts=False)
        if child.root_id != root_id:
            raise RunNotFound(f"task run {child_id} is not part of this run's chain")
        return await self.services.wait_final(child_id, timeout_s)

    async def get_version(self, version_id: str) -> WorkflowVersion:
        return await self.services.offload(self.services.store.get_version, version_id)

    async def get_bundle(self, digest: str) -> bytes:
        from baton.bundles.store import read_bundle

        return read_bundle(self.services.store, digest)
