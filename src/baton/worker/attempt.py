"""One attempt as the worker sees it: its socket routes, its logs and how it ended."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

from baton.binding import UNSPECIFIED_KIND
from baton.core.models import Claim, ErrorType, Run, TaskDef
from baton.core.plans import PLANS
from baton.errors import InvalidInput
from baton.executor.process import RunResult
from baton.executor.protocol import Handler, ProtocolError, Request
from baton.services import decode_b64_json
from baton.store import Outcome
from baton.worker.link import Report, WorkerLink

MAX_OUTPUT_BYTES = 4 * 1024 * 1024
MAX_WAIT_MS = 10_000
RENDER_HOLD_MS = 5_000  # well inside the SDK's 15 s request timeout
RENDER_HOLD_MAX_CHILDREN = 4
MAX_LOG_LINE = 16 * 1024
MAX_LOG_BYTES = 16 * 1024 * 1024  # per stream per attempt; the rest is dropped with a note


def _error_body(child: Run) -> dict[str, Any]:
    return {
        "details": child.error or f"task run {child.status}",
        "type": child.error_type or "",
        "task_run_id": child.id,
    }


@dataclass
class AttemptState:
    """One attempt on this worker.

    What the worker has to tell the engine about it (the process start, timings, log lines,
    the outcome) is gathered and sent in as few ``WorkerLink.report`` calls as possible: the
    outcome of a short attempt carries everything else along.
    """

    claim: Claim
    worker_id: str
    link: WorkerLink
    outcome: Outcome | None = None  # the callback's (or the exit's) outcome
    reported: bool = False  # the outcome has been sent
    called_back: asyncio.Event = field(default_factory=asyncio.Event)
    outstanding: set[str] = field(default_factory=set)
    waiting: bool = False
    canceled: bool = False  # a cancel arrived, possibly before the process existed
    exited: bool = False  # the process has exited: its next report is its last
    tail: LogTail | None = None
    _pid: int | None = None
    _timings: dict[str, float] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def started(self, pid: int, timings: dict[str, float] | None) -> None:
        """The process is up: sent with the next report."""
        self._pid = pid
        self._timings.update(timings or {})

    async def send(self, outcome: Outcome | None = None, *, final: bool = False) -> bool:
        """Send what is pending (with ``outcome``, if given and not sent yet); ``False`` if
        the outcome was dropped because the attempt is no longer this worker's."""
        async with self._lock:
            if self.reported:
                outcome = None
            lines = self.tail.read(final=final) if self.tail is not None else []
            batch = Report(self._pid, self._timings or None, lines, outcome)
            self._pid, self._timings = None, {}
            if outcome is not None:
                self.reported = True
            if not batch:
                return True
            return await self.link.report(self.run.id, self.claim.attempt, self.worker_id, batch)

    async def flush_logs(self, final: bool = False) -> None:
        await self.send(final=final)

    @property
    def run(self) -> Run:
        return self.claim.run

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("GET", "/input"): self.input,
            ("POST", "/callback"): self.callback,
            ("POST", "/run-subtask"): self.run_subtask,
            ("POST", "/get-subtask-result"): self.get_subtask_result,
            # Baton extensions (docs/worker-protocol.md, docs/durable.md)
            ("POST", "/checkpoint"): self.put_checkpoint,
            ("GET", "/checkpoints"): self.get_checkpoints,
        }

    async def input(self, req: Request) -> dict[str, Any]:
        self._timings.update(startup_timings(req.query), input_at=time.time())
        run = self.run
        body: dict[str, Any] = {
            "task_name": run.task_name,
            "input": base64.b64encode(json.dumps(run.input).encode()).decode(),
            "task_run_id": run.id,
            "root_task_run_id": run.root_id,
            "attempt": self.claim.attempt,
        }
        if run.parent_id:
            body["parent_task_run_id"] = run.parent_id
        return body

    async def callback(self, req: Request) -> dict[str, Any]:
        if self.outcome is not None:
            return {}  # the first callback decides; a transport retry is a no-op
        # The worker sends it with the process's exit status and last log lines once the
        # process has exited (or on its own after a short grace): one call instead of three.
        self.outcome = callback_outcome(req.body)
        self.called_back.set()
        return {}

    async def run_subtask(self, req: Request) -> dict[str, Any]:
        name = req.body.get("task_name")
        if not isinstance(name, str) or not name:
            raise ProtocolError("task_name must be a non-empty string")
        try:
            child_id = await self.link.start_child(
                self.run,
                self.claim.attempt,
                name,
                req.body.get("input"),
                idempotency_key=_opt_str(req.body.get("idempotency_key")),
                created_key=_opt_str(req.body.get("created_at")),
                call_index=_opt_index(req.body.get("call_index")),
            )
        except InvalidInput as exc:
            raise ProtocolError(str(exc)) from exc
        self.outstanding.add(child_id)
        await self._set_waiting(True)
        return {"task_run_id": child_id}

    async def get_subtask_result(self, req: Request) -> dict[str, Any]:
        child_id = req.body.get("task_run_id")
        if not isinstance(child_id, str):
            raise ProtocolError("task_run_id must be a string")
        wait_ms = req.body.get("wait_ms")
        if wait_ms is None:
            wait_ms = self._render_hold_ms()
        if not isinstance(wait_ms, int) or wait_ms < 0:
            raise ProtocolError("wait_ms must be a non-negative integer")
        child = await self.link.wait_child(
            self.run.root_id, child_id, min(wait_ms, MAX_WAIT_MS) / 1000
        )
        if not child.status.is_final:
            if child.parent_id == self.run.id:
                self.outstanding.add(child.id)
                await self._set_waiting(True)
            return {"still_running": True}
        self.outstanding.discard(child.id)
        if not self.outstanding:
            await self._set_waiting(False)
        if child.status == "completed":
            return {"still_running": False, "complete": {"output": child.output or ""}}
        return {"still_running": False, "error": _error_body(child)}

    async def put_checkpoint(self, req: Request) -> dict[str, Any]:
        if not isinstance(req.body, dict) or "value" not in req.body:
            raise ProtocolError('body needs "key" and "value"')
        try:
            await self.link.checkpoint(
                self.run.id, self.claim.attempt, req.body.get("key"), req.body["value"]
            )
        except InvalidInput as exc:
            raise ProtocolError(str(exc)) from exc
        return {}

    async def get_checkpoints(self, req: Request) -> dict[str, Any]:
        return {"checkpoints": await self.link.get_checkpoints(self.run.id)}

    def _render_hold_ms(self) -> int:
        """How long to hold a poll that did not ask to wait (Render's SDKs poll at 1 Hz).

        Holding it until the child ends saves up to a second per chained call. Render's SDKs
        from 0.7 send socket requests from asyncio's default thread pool (at least 5 threads),
        so only a parent with few children outstanding is held: a wide fan-out is answered at
        once and never starves the pool that its other requests need.
        """
        return RENDER_HOLD_MS if len(self.outstanding) <= RENDER_HOLD_MAX_CHILDREN else 0

    async def _set_waiting(self, waiting: bool) -> None:
        if waiting != self.waiting and self.outcome is None:
            self.waiting = waiting
            await self.link.set_waiting(self.run.id, self.claim.attempt, waiting)


#: The start-up instants Render's SDK (1.3+) puts in ``GET /input``'s query string, in ns.
STARTUP_KEYS = ("sdk_import_started_at", "sdk_import_finished_at", "sdk_started_at")


def startup_timings(query: dict[str, str]) -> dict[str, float]:
    """The SDK's start-up instants as epoch seconds; values that are not integers are ignored."""
    out: dict[str, float] = {}
    for key in STARTUP_KEYS:
        value = query.get(key, "")
        if value.isdigit() and len(value) <= 20:
            out[key] = int(value) / 1e9
    return out


def task_defs(req: Request) -> list[TaskDef]:
    """The task definitions of a ``/register-tasks`` request.

    Only Baton's SDK says which parameters are variadic or keyword-only (``kind``). Render's
    SDKs list ``*args`` and ``**kwargs`` like plain parameters, so their parameters are marked
    ``unspecified`` and the engine leaves argument binding to the SDK, as Render does.
    """
    tasks = req.body.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise ProtocolError('body needs "tasks": a list of task definitions')
    try:
        defs = [TaskDef.from_wire(t) for t in tasks]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed task definition: {exc!r}") from exc
    if req.headers.get("user-agent", "").startswith("baton-sdk"):
        return defs
    return [_unspecified_kinds(d, t) for d, t in zip(defs, tasks, strict=True)]


def _unspecified_kinds(task: TaskDef, wire: dict[str, Any]) -> TaskDef:
    if task.parameters is None:
        return task
    said = [isinstance(p, dict) and "kind" in p for p in wire.get("parameters") or []]
    params = tuple(
        p if has_kind else replace(p, kind=UNSPECIFIED_KIND)
        for p, has_kind in zip(task.parameters, said, strict=True)
    )
    return replace(task, parameters=params)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _opt_index(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError("call_index must be a non-negative integer")
    return value


def callback_outcome(body: dict[str, Any]) -> Outcome:
    """The attempt's outcome from a ``/callback`` body (a malformed one is a failure)."""
    complete, error = body.get("complete"), body.get("error")
    if isinstance(complete, dict):
        output = complete.get("output")
        if output is None or output == "":
            return Outcome(ok=True, output="")
        if not isinstance(output, str):
            raise ProtocolError("complete.output must be a base64 string")
        if len(output) > MAX_OUTPUT_BYTES * 4 // 3 + 4:
            return Outcome(
                ok=False,
                error="the task's result is larger than 4 MiB",
                error_type=ErrorType.BAD_RESULT,
            )
        try:
            decode_b64_json(output, "complete.output")
        except (InvalidInput, binascii.Error) as exc:
            return Outcome(ok=False, error=str(exc), error_type=ErrorType.BAD_RESULT)
        return Outcome(ok=True, output=output)
    if isinstance(error, dict):
        details = error.get("details")
        etype = error.get("type")
        return Outcome(
            ok=False,
            error=str(details) if details else (str(etype) if etype else "task failed"),
            error_type=str(etype) if etype else None,
            traceback=_opt_str(error.get("stack_trace")),
            retryable=error.get("retryable") is not False,
        )
    raise ProtocolError('callback body needs "complete" or "error"')


def exit_outcome(result: RunResult, run: Run) -> Outcome:
    """The outcome of an attempt whose process ended without a callback."""
    common = {
        "exit_code": result.exit_code,
        "peak_rss_kb": result.peak_rss_kb,
        "cpu_s": result.cpu_s,
    }
    if result.reason == "timeout":
        return Outcome(
            ok=False,
            error=f"task run timed out after {run.timeout_s} s; its process was killed",
            error_type=ErrorType.TIMEOUT,
            **common,  # type: ignore[arg-type]
        )
    if result.reason == "oom":
        plan = PLANS.get(run.plan)
        limit = f"{plan.memory_mb} MB" if plan else "its memory limit"
        return Outcome(
            ok=False,
            error=f"out of memory: the process passed the {run.plan} plan's {limit} and was killed",
            error_type=ErrorType.OUT_OF_MEMORY,
            **common,  # type: ignore[arg-type]
        )
    if result.reason == "spawn_failed":
        return Outcome(
            ok=False,
            error=f"could not start the attempt process: {result.error}",
            error_type=ErrorType.CRASHED,
        )
    how = (
        f"was killed by signal {result.signal}"
        if result.signal
        else f"exited with status {result.exit_code}"
    )
    return Outcome(
        ok=False,
        error=f"the task process {how} before completing the task",
        error_type=ErrorType.CRASHED,
        **common,  # type: ignore[arg-type]
    )


class LogTail:
    """Reads an attempt's stdout/stderr files incrementally into whole lines."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = paths
        self._offsets = dict.fromkeys(paths, 0)
        self._partial = dict.fromkeys(paths, b"")
        self._capped = dict.fromkeys(paths, False)

    def read(self, final: bool = False) -> list[tuple[str, str]]:
        lines: list[tuple[str, str]] = []
        for stream, path in self._paths.items():
            data = self._read_new(stream, path)
            buf = self._partial[stream] + data
            *complete, rest = buf.split(b"\n")
            if final and rest:
                complete.append(rest)
                rest = b""
            self._partial[stream] = rest[-MAX_LOG_LINE:]
            for raw in complete:
                text = raw[:MAX_LOG_LINE].decode("utf-8", "replace").rstrip("\r")
                lines.append((stream, text))
        return lines

    def _read_new(self, stream: str, path: str) -> bytes:
        try:
            with open(path, "rb") as f:
                f.seek(self._offsets[stream])
                budget = MAX_LOG_BYTES - self._offsets[stream]
                data = f.read(max(0, min(budget, 4 * 1024 * 1024)))
        except FileNotFoundError:
            return b""
        self._offsets[stream] += len(data)
        if self._offsets[stream] >= MAX_LOG_BYTES and not self._capped[stream]:
            self._capped[stream] = True
            return data + b"\n[baton: log limit of 16 MiB reached; further output dropped]\n"
        return data

    def remove(self) -> None:
        for path in self._paths.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
