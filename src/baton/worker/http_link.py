"""``HttpLink``: the ``WorkerLink`` of ``baton worker --server URL`` (the ``/v1/workers`` API).

Transient failures (connection refused or reset, timeouts, 502/503/504/500 while a server or
its database restarts) are retried with capped exponential backoff for up to ``retry_s``,
moving to the next ``--server`` on a connection failure. A 401 is not retried.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from typing import Any

import httpx

from baton import errors
from baton.core.models import JSON, Claim, Run, WorkflowVersion
from baton.store import Outcome
from baton.worker.link import Report, WorkerLoad
from baton.worker.wire import (
    claim_from_json,
    outcome_to_json,
    run_from_json,
    version_from_json,
)

log = logging.getLogger("baton.worker")

RETRY_S = 120.0
_FIRST_DELAY_S = 0.2
_MAX_DELAY_S = 5.0
_TRANSIENT = frozenset({500, 502, 503, 504})
_LOG_BATCH_BYTES = 1024 * 1024
_ERRORS: dict[str, type[errors.BatonError]] = {
    cls.__name__: cls
    for cls in (
        errors.TaskNotFound,
        errors.RunNotFound,
        errors.InvalidInput,
        errors.InvalidTransition,
        errors.RegistrationFailed,
        errors.QueueFull,
    )
}


class WorkerRejected(errors.BatonError):
    """The server refused this worker's token."""


class ServerUnreachable(errors.StoreUnavailable):
    """No Baton server answered within the retry window."""


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(body)[:500]


def _raise_for(response: httpx.Response) -> None:
    """Turn an error answer back into the exception the server raised."""
    try:
        name = response.json().get("error")
    except (ValueError, AttributeError):
        name = None
    cls = _ERRORS.get(name or "")
    if cls is None:
        cls = {
            400: errors.InvalidInput,
            404: errors.RunNotFound,
            409: errors.InvalidTransition,
        }.get(response.status_code, errors.ServerError)
    raise cls(_message(response))


def _split_logs(
    lines: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The first lines up to ``_LOG_BATCH_BYTES``, and the rest."""
    size = 0
    for i, (_, line) in enumerate(lines):
        size += len(line) + 16
        if size >= _LOG_BATCH_BYTES:
            return lines[: i + 1], lines[i + 1 :]
    return lines, []


class HttpLink:
    """Talks to one of ``servers`` (``http://host:port``), moving on when one is down."""

    def __init__(
        self,
        servers: Sequence[str],
        token: str | None,
        *,
        retry_s: float = RETRY_S,
        timeout_s: float = 30.0,
    ) -> None:
        if not servers:
            raise ValueError("at least one server URL is needed")
        self.servers = [s.rstrip("/") for s in servers]
        self.retry_s = retry_s
        self._current = 0
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, body: Any = None, *, timeout_s: float | None = None
    ) -> httpx.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s
        delay = _FIRST_DELAY_S
        while True:
            server = self.servers[self._current % len(self.servers)]
            problem: str
            try:
                response = await self._client.request(
                    method,
                    f"{server}/v1/workers{path}",
                    json=body,
                    timeout=timeout_s if timeout_s is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                self._current += 1  # try the next server
            else:
                if response.status_code == 401:
                    raise WorkerRejected(
                        f"{server} refused the worker's API token: create one with "
                        "`baton token create` on the server and pass it with --token "
                        "or BATON_API_KEY"
                    )
                if response.status_code not in _TRANSIENT:
                    return response
                problem = f"HTTP {response.status_code}: {_message(response)}"
            if loop.time() + delay > deadline:
                raise ServerUnreachable(
                    f"no Baton server answered {method} {path} for {self.retry_s:.0f} s "
                    f"(last: {server}: {problem})"
                )
            log.warning(
                "%s %s on %s failed (%s); retrying in %.1f s", method, path, server, problem, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY_S)

    async def _post(self, path: str, body: Any, *, timeout_s: float | None = None) -> Any:
        response = await self._call("POST", path, body, timeout_s=timeout_s)
        if response.status_code >= 400:
            _raise_for(response)
        return response.json()

    # WorkerLink -------------------------------------------------------------------------------

    async def claim(
        self, worker_id: str, slots: int, wait_s: float, plans: Sequence[str] | None = None
    ) -> list[Claim]:
        wait_ms = int(max(0.0, wait_s) * 1000)
        body: dict[str, Any] = {"worker_id": worker_id, "slots": slots, "wait_ms": wait_ms}
        if plans is not None:
            body["plans"] = list(plans)
        data = await self._post("/claim", body, timeout_s=wait_s + 30.0)
        return [claim_from_json(c) for c in data["claims"]]

    async def heartbeat(
        self, worker_id: str, load: WorkerLoad | None = None
    ) -> list[tuple[str, int]]:
        body: dict[str, Any] = {"worker_id": worker_id}
        if load is not None:
            body["load"] = {
                "slots": load.slots,
                "running": load.running,
                "computing": load.computing,
                "host": load.host or socket.gethostname(),
            }
        data = await self._post("/heartbeat", body)
        return [(str(r), int(a)) for r, a in data["attempts"]]

    async def finish_attempt(
        self, run_id: str, attempt: int, worker_id: str, outcome: Outcome
    ) -> bool:
        body = {
            "run_id": run_id,
            "attempt": attempt,
            "worker_id": worker_id,
            "outcome": outcome_to_json(outcome),
        }
        response = await self._call("POST", "/attempts/finish", body)
        if response.status_code == 409:
            log.warning("report of %s/%d dropped: %s", run_id, attempt, _message(response))
            return False
        if response.status_code >= 400:
            _raise_for(response)
        return True

    async def attempt_started(
        self, run_id: str, attempt: int, pid: int, timings: dict[str, float] | None = None
    ) -> None:
        body = {"run_id": run_id, "attempt": attempt, "pid": pid, "timings": timings}
        await self._post("/attempts/started", body)

    async def report(self, run_id: str, attempt: int, worker_id: str, batch: Report) -> bool:
        body: dict[str, Any] = {"run_id": run_id, "attempt": attempt, "worker_id": worker_id}
        if batch.pid is not None:
            body["pid"] = batch.pid
        if batch.timings:
            body["timings"] = batch.timings
        if batch.outcome is not None:
            body["outcome"] = outcome_to_json(batch.outcome)
        logs = list(batch.logs)
        # A huge log backlog goes ahead in its own calls, so that one request stays small.
        while sum(len(line) + 16 for _, line in logs) > _LOG_BATCH_BYTES and len(logs) > 1:
            head, logs = _split_logs(logs)
            await self.append_logs(run_id, attempt, head)
        if logs:
            body["logs"] = logs
        response = await self._call("POST", "/attempts/report", body)
        if response.status_code == 409 and batch.outcome is not None:
            log.warning("report of %s/%d dropped: %s", run_id, attempt, _message(response))
            return False
        if response.status_code >= 400:
            _raise_for(response)
        return True

    async def attempt_exit(
        self,
        run_id: str,
        attempt: int,
        *,
        exit_code: int | None,
        peak_rss_kb: int | None,
        cpu_s: float | None,
    ) -> None:
        body = {
            "run_id": run_id,
            "attempt": attempt,
            "exit_code": exit_code,
            "peak_rss_kb": peak_rss_kb,
            "cpu_s": cpu_s,
        }
        await self._post("/attempts/exit", body)

    async def record_timings(self, run_id: str, attempt: int, timings: dict[str, float]) -> None:
        body = {"run_id": run_id, "attempt": attempt, "timings": timings}
        await self._post("/attempts/timings", body)

    async def append_logs(
        self, run_id: str, attempt: int, lines: Sequence[tuple[str, str]]
    ) -> None:
        batch: list[tuple[str, str]] = []
        size = 0
        for stream, line in lines:
            batch.append((stream, line))
            size += len(line) + 16
            if size >= _LOG_BATCH_BYTES:
                await self._post(
                    "/attempts/logs", {"run_id": run_id, "attempt": attempt, "lines": batch}
                )
                batch, size = [], 0
        if batch:
            await self._post(
                "/attempts/logs", {"run_id": run_id, "attempt": attempt, "lines": batch}
            )

    async def set_waiting(self, run_id: str, attempt: int, waiting: bool) -> None:
        body = {"run_id": run_id, "attempt": attempt, "waiting": waiting}
        await self._post("/attempts/waiting", body)

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
        body = {
            "run_id": parent.id,
            "attempt": parent_attempt,
            "task_name": task_name,
            "input": encoded_input,
            "idempotency_key": idempotency_key,
            "created_key": created_key,
            "call_index": call_index,
        }
        data = await self._post("/children", body)
        return str(data["task_run_id"])

    async def checkpoint(self, run_id: str, attempt: int, key: object, value: JSON) -> None:
        body = {"run_id": run_id, "attempt": attempt, "key": key, "value": value}
        await self._post("/attempts/checkpoint", body)

    async def get_checkpoints(self, run_id: str) -> dict[str, JSON]:
        data = await self._post("/attempts/checkpoints", {"run_id": run_id, "attempt": 0})
        found = data.get("checkpoints")
        return found if isinstance(found, dict) else {}

    async def wait_child(self, root_id: str, child_id: str, timeout_s: float) -> Run:
        body = {"root_id": root_id, "child_id": child_id, "wait_ms": int(timeout_s * 1000)}
        data = await self._post("/children/wait", body, timeout_s=timeout_s + 30.0)
        return run_from_json(data["run"])

    async def get_version(self, version_id: str) -> WorkflowVersion:
        response = await self._call("GET", f"/versions/{version_id}")
        if response.status_code >= 400:
            _raise_for(response)
        return version_from_json(response.json())

    async def get_bundle(self, digest: str) -> bytes:
        response = await self._call("GET", f"/bundles/{digest}", timeout_s=300.0)
        if response.status_code >= 400:
            _raise_for(response)
        return response.content
