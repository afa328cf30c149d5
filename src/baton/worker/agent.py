"""The worker: claims attempts, runs each in its own process, reports how it ended.

``Worker`` talks to the engine only through a ``WorkerLink``: ``LocalWorker`` is the one
embedded in ``baton dev``/``baton serve`` (in-process link, plus the lease reaper);
``baton worker --server URL`` runs a ``Worker`` over HTTP (``baton.worker.remote``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Collection, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from baton.bundles.cache import Code, CodeCache
from baton.bundles.pack import BundleError
from baton.core.ids import new_id
from baton.core.models import Claim, ErrorType, Run, TaskDef, WorkflowVersion
from baton.core.plans import PLANS
from baton.executor.process import LocalProcessExecutor, RunRequest
from baton.executor.protocol import AttemptServer
from baton.services import Services
from baton.store import Outcome
from baton.worker.attempt import AttemptState, LogTail, exit_outcome
from baton.worker.link import ServicesLink, WorkerLink, WorkerLoad
from baton.worker.reaper import reap_leases
from baton.worker.register import Registrar, request_for

log = logging.getLogger("baton.worker")

LOG_FLUSH_S = 0.5
#: How long the outcome of a callback waits for its process to exit, so that both travel in
#: one report; a process that lingers longer has its outcome sent on its own. Over HTTP a report
#: costs a request; in-process a second write costs less than waiting (``LocalWorker``: 0).
FINISH_GRACE_S = 0.5
#: A claimed attempt this worker never heard of (the claim's answer was lost in transit) is
#: handed back after this long: longer than any claim request can take.
ORPHAN_AFTER_S = 90.0
_FULL_RECHECK_S = 0.2
#: How long after its process starts an attempt's pid is recorded (unless its outcome, which
#: carries it, is sent first).
START_REPORT_DELAY_S = 0.2


class Worker:
    """Claims attempts through ``link`` and runs them on this machine.

    Args:
        link: the engine (in-process or over HTTP).
        slots: most attempts this worker computes at once (waiting parents do not count).
        max_processes: most attempt processes alive at once, waiting parents included.
        heartbeat_s: how often leases are renewed (and lost or canceled attempts noticed).
        claim_wait_s: how long one claim request waits for work (a long poll).
        plans: claim only runs on these plans (``None``: any plan).
        finish_grace_s: how long a callback's outcome waits for its process's exit.
    """

    def __init__(
        self,
        link: WorkerLink,
        *,
        executor: LocalProcessExecutor | None = None,
        slots: int = 20,
        max_processes: int = 2048,
        worker_id: str | None = None,
        code_cache: CodeCache | None = None,
        heartbeat_s: float = 10.0,
        claim_wait_s: float = 5.0,
        plans: Sequence[str] | None = None,
        finish_grace_s: float = FINISH_GRACE_S,
    ) -> None:
        self.link = link
        self.finish_grace_s = finish_grace_s
        self.executor = executor or LocalProcessExecutor()
        self.slots = slots
        self.max_processes = max_processes
        self.worker_id = worker_id or new_id("wrk")
        self.code = code_cache or CodeCache()
        self.heartbeat_s = heartbeat_s
        self.claim_wait_s = claim_wait_s
        self.plans = None if plans is None else tuple(plans)
        self._dir = Path(tempfile.mkdtemp(prefix="baton-"))
        self._slot_freed = asyncio.Event()
        self._active: dict[str, AttemptState] = {}
        self._since: dict[str, float] = {}  # run id -> loop time its claim arrived
        self._unknown_since: dict[tuple[str, int], float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._claiming = 0  # slots the claim under way asks for
        self._stopping = False
        self._loop_task: asyncio.Task[Any] | None = None

    # the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and run attempts until ``stop()``."""
        self._loop_task = asyncio.current_task()
        self.link.claim_along(self.worker_id, self)
        heartbeat = asyncio.create_task(self._heartbeat(), name="worker-heartbeat")
        with contextlib.suppress(Exception):  # a first heartbeat shows the worker at once
            await self.link.heartbeat(self.worker_id, self._load())
        try:
            while not self._stopping:
                await self._claim_once()
        finally:
            heartbeat.cancel()

    def _load(self) -> WorkerLoad:
        computing = sum(1 for a in self._active.values() if not a.waiting)
        return WorkerLoad(slots=self.slots, running=len(self._active), computing=computing)

    def _free(self, leaving: Collection[str] = ()) -> int:
        """Free slots, once the attempts of the runs ``leaving`` are gone."""
        computing = running = 0
        for run_id, state in self._active.items():
            if run_id not in leaving:
                running += 1
                computing += not state.waiting
        return min(self.slots - computing, self.max_processes - running)

    def slots_after(self, finishing: Collection[str]) -> int:
        """``ClaimAlong``: a slot for each of ``finishing`` whose process has exited (its
        report is its last word), within what is free once they are gone."""
        if self._stopping:
            return 0
        leaving = {r for r in finishing if (s := self._active.get(r)) is not None and s.exited}
        return max(0, min(len(leaving), self._free(leaving) - self._claiming))

    def take(self, claims: Sequence[Claim]) -> None:
        """Start an attempt for each of ``claims``."""
        if self._stopping:
            return  # their leases expire and another worker (or our next start) retries them
        now = asyncio.get_running_loop().time()
        for claim in claims:
            state = AttemptState(claim, self.worker_id, self.link)
            self._active[claim.run.id] = state
            self._since[claim.run.id] = now
            self._spawn(self._run_attempt(state), f"attempt-{claim.run.id}")

    async def _claim_once(self) -> None:
        free = self._free()
        if free <= 0:
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), _FULL_RECHECK_S)
            return
        self._claiming = free
        try:
            claims = await self.link.claim(self.worker_id, free, self.claim_wait_s, self.plans)
        except Exception:
            log.exception("claiming work failed; trying again shortly")
            await asyncio.sleep(1.0)
            return
        finally:
            self._claiming = 0
        self.take(claims)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.heartbeat_s)
            sent_at = loop.time()
            try:
                owned = set(await self.link.heartbeat(self.worker_id, self._load()))
            except Exception:
                log.exception("heartbeat failed")
                continue
            for run_id, state in list(self._active.items()):
                lost = (run_id, state.claim.attempt) not in owned
                # A claim that arrived after the heartbeat left may be newer than its answer.
                if lost and state.outcome is None and self._since.get(run_id, sent_at) < sent_at:
                    state.canceled = True  # lease lost or run canceled: stop the process
                    self.executor.kill(run_id, "canceled")
            await self._hand_back_orphans(owned, sent_at)

    async def _hand_back_orphans(self, owned: set[tuple[str, int]], now: float) -> None:
        held = {(rid, s.claim.attempt) for rid, s in self._active.items()}
        unknown = owned - held
        self._unknown_since = {k: self._unknown_since.get(k, now) for k in unknown}
        for run_id, attempt in [
            k for k, t in self._unknown_since.items() if now - t > ORPHAN_AFTER_S
        ]:
            lost = Outcome(
                ok=False,
                error="the worker never received this attempt's claim (lost in transit)",
                error_type=ErrorType.LEASE_EXPIRED,
            )
            with contextlib.suppress(Exception):
                await self.link.finish_attempt(run_id, attempt, self.worker_id, lost)
                self._unknown_since.pop((run_id, attempt), None)

    def cancel(self, run_id: str) -> None:
        """Kill ``run_id``'s process if this worker runs it."""
        state = self._active.get(run_id)
        if state is not None:
            state.canceled = True  # if the process is not up yet, _spawned kills it
            self.executor.kill(run_id, "canceled")

    def _spawned(self, state: AttemptState, pid: int) -> None:
        forked_at = self.executor.forked_at(state.run.id)
        state.started(pid, {"forked_at": forked_at} if forked_at else None)
        # Sent a moment later (or with the outcome, if that comes first): most attempts end
        # sooner, and their start then costs no write of its own.
        asyncio.get_running_loop().call_later(START_REPORT_DELAY_S, self._report_start, state)
        if state.canceled:
            self.executor.kill(state.run.id, "canceled")

    def _report_start(self, state: AttemptState) -> None:
        if not state.reported and self._active.get(state.run.id) is state:
            self._spawn(state.send(), f"started-{state.run.id}")

    async def drain(self, timeout_s: float) -> None:
        """Stop claiming and wait up to ``timeout_s`` for the running attempts to end."""
        self._stopping = True
        if self._loop_task is not None and self._loop_task is not asyncio.current_task():
            self._loop_task.cancel()
        running = [t for t in self._tasks if t.get_name().startswith("attempt-")]
        if running:
            await asyncio.wait(running, timeout=timeout_s)

    async def stop(self) -> None:
        self._stopping = True
        if self._loop_task is not None and self._loop_task is not asyncio.current_task():
            self._loop_task.cancel()  # a claim must not start attempts after this point
        await self.executor.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # one attempt ------------------------------------------------------------------------------

    def _request(self, claim: Claim, code: Code) -> RunRequest:
        run = claim.run
        plan = PLANS[run.plan]
        return request_for(
            claim.version,
            code,
            run_id=run.id,
            attempt=claim.attempt,
            base=self._dir / f"{run.id}-{claim.attempt}",
            memory_bytes=plan.memory_bytes,
            timeout_s=float(run.timeout_s),
            mode="run",
            cpus=plan.cpus,
        )

    async def _code_for(self, state: AttemptState) -> Code | None:
        """The attempt's code on this host; None (and the attempt reported failed) if it
        cannot be had."""
        claim = state.claim
        try:
            return await self.code.resolve(claim.version.code_dir, self.link.get_bundle)
        except Exception as exc:
            bad = isinstance(exc, BundleError)
            log.warning("code of %s unavailable: %s", claim.version.id, exc)
            outcome = Outcome(
                ok=False,
                error=f"could not prepare the code of version {claim.version.id}: {exc}",
                error_type="CodeUnavailable",
                retryable=not bad,  # a broken bundle stays broken; a network error passes
            )
            state.outcome = outcome
            await self.link.finish_attempt(claim.run.id, claim.attempt, self.worker_id, outcome)
            return None

    async def _run_attempt(self, state: AttemptState) -> None:
        claim = state.claim
        server: AttemptServer | None = None
        flusher: asyncio.Task[None] | None = None
        tail: LogTail | None = None
        try:
            code = await self._code_for(state)
            if code is None:
                return
            req = self._request(claim, code)
            tail = LogTail({"stdout": req.stdout_path, "stderr": req.stderr_path})
            state.tail = tail
            server = AttemptServer(req.socket_path, state.routes())
            await server.start()
            flusher = asyncio.create_task(self._flush_logs(state))
            proc = asyncio.ensure_future(
                self.executor.start(req, lambda pid: self._spawned(state, pid))
            )
            early = asyncio.create_task(self._finish_early(state, proc))
            try:
                result = await proc
            finally:
                if not state.called_back.is_set():
                    early.cancel()
            state.exited = True
            await server.close()
            flusher.cancel()
            if state.outcome is None:
                await state.send(exit_outcome(result, claim.run), final=True)
            elif not state.reported:
                exited = replace(
                    state.outcome,
                    exit_code=result.exit_code,
                    peak_rss_kb=result.peak_rss_kb,
                    cpu_s=result.cpu_s,
                )
                await state.send(exited, final=True)
            else:
                await state.flush_logs(final=True)
                await self.link.attempt_exit(
                    claim.run.id,
                    claim.attempt,
                    exit_code=result.exit_code,
                    peak_rss_kb=result.peak_rss_kb,
                    cpu_s=result.cpu_s,
                )
        except Exception:
            log.exception("attempt %s/%d failed in the worker", claim.run.id, claim.attempt)
        finally:
            if flusher is not None:
                flusher.cancel()
            if server is not None:
                await server.close()
            if tail is not None:
                tail.remove()
            if self._active.get(claim.run.id) is state:  # not a newer attempt of the run
                del self._active[claim.run.id]
                self._since.pop(claim.run.id, None)
            self._slot_freed.set()

    async def _finish_early(self, state: AttemptState, proc: asyncio.Future[Any]) -> None:
        """Send the callback's outcome on its own if the process lingers after it."""
        await state.called_back.wait()
        if self.finish_grace_s > 0:
            await asyncio.wait({proc}, timeout=self.finish_grace_s)
        if not proc.done():
            try:
                await state.send(state.outcome)
            except Exception:
                log.exception("reporting %s failed", state.run.id)

    async def _flush_logs(self, state: AttemptState) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_S)
            try:
                await state.flush_logs()
            except Exception:
                log.exception("storing logs of %s failed", state.run.id)


class LocalWorker(Worker):
    """The worker embedded in ``baton dev`` and ``baton serve``: in-process, and it also runs
    the lease reaper and registers code.

    Args:
        services: the engine's operations (in-process).
        slots: most attempts this worker computes at once (waiting parents do not count).
        max_processes: most attempt processes alive at once, waiting parents included.
    """

    def __init__(
        self,
        services: Services,
        *,
        executor: LocalProcessExecutor | None = None,
        slots: int | None = None,
        max_processes: int = 2048,
        worker_id: str | None = None,
        code_cache: CodeCache | None = None,
    ) -> None:
        super().__init__(
            ServicesLink(services),
            executor=executor,
            slots=slots or services.config.concurrency,
            max_processes=max_processes,
            worker_id=worker_id,
            code_cache=code_cache,
            heartbeat_s=services.config.lease_s / 3,
            finish_grace_s=0.0,  # the run ends at its callback; the exit is recorded after
        )
        self.services = services
        self.registrar = Registrar(services, self.executor, self.code, self._dir)
        services.on_cancel(self._on_cancel)

    def _on_cancel(self, run: Run) -> None:
        self.cancel(run.id)

    async def run(self) -> None:
        reaper = asyncio.create_task(reap_leases(self.services), name="lease-reaper")
        try:
            await super().run()
        finally:
            reaper.cancel()

    async def register(self, version: WorkflowVersion) -> list[TaskDef]:
        """Run the version's code in register mode and store the tasks it publishes."""
        return await self.registrar.register(version)

    async def stop(self) -> None:
        self.services.workers.forget(self.worker_id)
        await super().stop()
