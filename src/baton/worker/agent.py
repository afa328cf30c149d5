"""The worker: claims attempts, runs each in its own process, reports how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import tempfile
from pathlib import Path

from baton.core.ids import new_id
from baton.core.models import Claim, Run, TaskDef, WorkflowVersion, utcnow
from baton.core.plans import PLANS
from baton.errors import RegistrationFailed
from baton.executor.process import LocalProcessExecutor, RunRequest
from baton.executor.protocol import AttemptServer, Request
from baton.services import Services
from baton.worker.attempt import AttemptState, LogTail, exit_outcome, task_defs

log = logging.getLogger("baton.worker")

LOG_FLUSH_S = 0.5
REGISTER_TIMEOUT_S = 120.0


class LocalWorker:
    """Runs attempts claimed from ``services`` on this machine.

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
    ) -> None:
        self.services = services
        self.executor = executor or LocalProcessExecutor()
        self.slots = slots or services.config.concurrency
        self.max_processes = max_processes
        self.worker_id = worker_id or new_id("wrk")
        self._dir = Path(tempfile.mkdtemp(prefix="baton-"))
        self._wake = asyncio.Event()
        self._active: dict[str, AttemptState] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        services.on_work(self._wake.set)
        services.on_cancel(self._on_cancel)

    # the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and run attempts until ``stop()``."""
        background = [
            asyncio.create_task(self._heartbeat(), name="worker-heartbeat"),
            asyncio.create_task(self._reap_leases(), name="lease-reaper"),
        ]
        try:
            while not self._stopping:
                self._wake.clear()
                self._claim_some()
                await self._sleep_until_work()
        finally:
            for task in background:
                task.cancel()

    def _claim_some(self) -> None:
        computing = sum(1 for a in self._active.values() if not a.waiting)
        free = min(self.slots - computing, self.max_processes - len(self._active))
        if free <= 0:
            return
        for claim in self.services.claim(self.worker_id, free):
            state = AttemptState(claim, self.worker_id, self.services)
            self._active[claim.run.id] = state
            task = asyncio.create_task(self._run_attempt(state), name=f"attempt-{claim.run.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _sleep_until_work(self) -> None:
        timeout = 1.0
        due = self.services.store.next_due(now=utcnow())
        if due is not None:
            timeout = min(timeout, max(0.0, (due - utcnow()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _heartbeat(self) -> None:
        interval = self.services.config.lease_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                owned = set(
                    self.services.store.heartbeat(
                        self.worker_id, lease_s=self.services.config.lease_s, now=utcnow()
                    )
                )
            except Exception:
                log.exception("heartbeat failed")
                continue
            for run_id, state in list(self._active.items()):
                if (run_id, state.claim.attempt) not in owned and state.outcome is None:
                    state.canceled = True  # lease lost: another worker retries this run
                    self.executor.kill(run_id, "canceled")

    async def _reap_leases(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.services.config.lease_s / 10))
            try:
                self.services.expire_leases()
            except Exception:
                log.exception("lease reaper failed")

    def _on_cancel(self, run: Run) -> None:
        state = self._active.get(run.id)
        if state is not None:
            state.canceled = True  # if the process is not up yet, _spawned kills it
            self.executor.kill(run.id, "canceled")

    def _spawned(self, state: AttemptState, pid: int) -> None:
        forked_at = self.executor.forked_at(state.run.id)
        timings = {"forked_at": forked_at} if forked_at else None
        self.services.store.attempt_started(state.run.id, state.claim.attempt, pid, timings)
        if state.canceled:
            self.executor.kill(state.run.id, "canceled")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await self.executor.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # one attempt ------------------------------------------------------------------------------

    def _request(self, claim: Claim, mode: str = "run") -> RunRequest:
        run, version = claim.run, claim.version
        base = self._dir / f"{run.id}-{claim.attempt}"
        plan = PLANS[run.plan]
        return _request_for(
            version,
            run_id=run.id,
            attempt=claim.attempt,
            base=base,
            memory_bytes=plan.memory_bytes,
            timeout_s=float(run.timeout_s),
            mode=mode,
        )

    async def _run_attempt(self, state: AttemptState) -> None:
        claim = state.claim
        req = self._request(claim)
        tail = LogTail({"stdout": req.stdout_path, "stderr": req.stderr_path})
        state.tail = tail
        server = AttemptServer(req.socket_path, state.routes())
        flusher: asyncio.Task[None] | None = None
        try:
            await server.start()
            flusher = asyncio.create_task(self._flush_logs(state))
            result = await self.executor.start(
                req,
                lambda pid: self._spawned(state, pid),
            )
            await server.close()
            flusher.cancel()
            state.flush_logs(final=True)
            if state.outcome is None:
                self.services.finish_attempt(
                    claim.run.id, claim.attempt, self.worker_id, exit_outcome(result, claim.run)
                )
            else:
                self.services.store.update_attempt_exit(
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
            await server.close()
            tail.remove()
            self._active.pop(claim.run.id, None)
            self._wake.set()

    async def _flush_logs(self, state: AttemptState) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_S)
            state.flush_logs()

    # registration -----------------------------------------------------------------------------

    async def register(self, version: WorkflowVersion) -> list[TaskDef]:
        """Run the version's code in register mode and store the tasks it publishes."""
        base = self._dir / f"register-{version.id}"
        req = _request_for(
            version,
            run_id=f"register-{version.id}",
            attempt=0,
            base=base,
            memory_bytes=0,
            timeout_s=REGISTER_TIMEOUT_S,
            mode="register",
        )
        received: list[TaskDef] = []

        async def register_tasks(request: Request) -> dict[str, object]:
            defs = task_defs(request)
            self.services.register_version(version.id, defs)
            received.extend(defs)
            return {}

        server = AttemptServer(req.socket_path, {("POST", "/register-tasks"): register_tasks})
        tail = LogTail({"stdout": req.stdout_path, "stderr": req.stderr_path})
        await server.start()
        try:
            result = await self.executor.start(req, lambda pid: None)
        finally:
            await server.close()
        output = "\n".join(line for _, line in tail.read(final=True))
        tail.remove()
        if not received:
            why = result.error or (
                f"exited with status {result.exit_code}"
                if result.reason == "exited"
                else result.reason
            )
            message = f"registering {version.workflow} failed: the code {why}\n{output}".strip()
            self.services.store.fail_version(version.id, message)
            raise RegistrationFailed(message)
        return received


def _request_for(
    version: WorkflowVersion,
    *,
    run_id: str,
    attempt: int,
    base: Path,
    memory_bytes: int,
    timeout_s: float,
    mode: str,
) -> RunRequest:
    return RunRequest(
        run_id=run_id,
        attempt=attempt,
        version_id=version.id,
        kind=version.kind,
        target=version.target,
        code_dir=version.code_dir,
        socket_path=f"{base}.sock",
        stdout_path=f"{base}.out",
        stderr_path=f"{base}.err",
        memory_bytes=memory_bytes,
        timeout_s=timeout_s,
        mode=mode,
        argv=tuple(shlex.split(version.target)) if version.kind == "command" else (),
    )
