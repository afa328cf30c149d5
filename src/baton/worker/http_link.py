"""``HttpLink``: the ``WorkerLink`` of ``baton worker --server URL`` (the ``/v1/workers`` API).

Attempt reports of all the worker's attempts travel together: ``report`` hands its report to
a ``Batcher``, which sends what is waiting in one ``/attempts/reports`` call whenever no such
call is under way (a server without that route gets one ``/attempts/report`` per report).
That call also claims new attempts for the slots its outcomes free (``claim_along``), so a
busy worker needs no claim call of its own.

Transient failures (connection refused or reset, timeouts, 502/503/504/500 while a server or
its database restarts) are retried with capped exponential backoff for up to ``retry_s``,
moving to the next ``--server`` on a connection failure. A 401 is not retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Sequence
from typing import Any, Literal

import httpx

from baton import errors
from baton.batcher import Batcher
from baton.client._transport import fast_transport
from baton.core.models import JSON, Claim, Run, WorkflowVersion
from baton.store import Outcome
from baton.worker.link import ClaimAlong, Report, WorkerLoad
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
#: Most reports in one ``/attempts/reports`` call (the server takes up to 64).
MAX_BATCH_REPORTS = 32
#: Most bytes of reports in one call, unless one report alone is larger (a 4 MiB result in
#: base64 plus 1 MiB of logs); either way well under the server's 8 MiB body limit.
MAX_BATCH_BYTES = 2 * 1024 * 1024
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


class _NoBatchRoute(Exception):
    """The server predates ``/attempts/reports``."""


_JSON_HEADERS = {"Content-Type": "application/json"}
#: A report as the batch sends it, and its run id if it carries the attempt's outcome.
_Item = tuple[bytes, str | Literal[False]]


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(body)[:500]


def _route_missing(response: httpx.Response) -> bool:
    """A 404 or 405 of the web framework (no such route), not of a Baton error."""
    try:
        body = response.json()
    except ValueError:
        return True
    return not (isinstance(body, dict) and "error" in body)


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
    """Talks to one of ``servers`` (``http://host:port``), moving on when one is down
    (through ``transport``, if given: tests pass an ``httpx.ASGITransport``)."""

    def __init__(
        self,
        servers: Sequence[str],
        token: str | None,
        *,
        retry_s: float = RETRY_S,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not servers:
            raise ValueError("at least one server URL is needed")
        self.servers = [s.rstrip("/") for s in servers]
        self.retry_s = retry_s
        self._current = 0
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # No connection limit: every waiting parent holds a long poll (/children/wait), and
        # a request must never queue behind them. Heartbeats go on a client of their own all
        # the same, so a lease is renewed on time whatever else is in flight.
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=timeout_s,
            transport=transport or fast_transport(max_connections=None),
        )
        self._beats = httpx.AsyncClient(
            headers=headers, timeout=timeout_s, transport=transport or fast_transport()
        )
        self._batchers: dict[str, Batcher[_Item]] = {}  # by worker id
        self._along: dict[str, ClaimAlong] = {}  # by worker id
        self._batch_route = True  # until a server answers 404 to /attempts/reports

    async def aclose(self) -> None:
        for batcher in self._batchers.values():
            await batcher.aclose()
        await self._client.aclose()
        await self._beats.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout_s: float | None = None,
        content: bytes | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s
        delay = _FIRST_DELAY_S
        while True:
            server = self.servers[self._current % len(self.servers)]
            problem: str
            try:
                response = await (client or self._client).request(
                    method,
                    f"{server}/v1/workers{path}",
                    json=body,
                    content=content,
                    headers=_JSON_HEADERS if content is not None else None,
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

    async def _post(
        self,
        path: str,
        body: Any,
        *,
        timeout_s: float | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> Any:
        response = await self._call("POST", path, body, timeout_s=timeout_s, client=client)
        if response.status_code >= 400:
            _raise_for(response)
        return response.json()

    # WorkerLink -------------------------------------------------------------------------------

    def claim_along(self, worker_id: str, worker: ClaimAlong) -> None:
        self._along[worker_id] = worker

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
        data = await self._post("/heartbeat", body, client=self._beats)
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
        body: dict[str, Any] = {"run_id": run_id, "attempt": attempt}
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
        if self._batch_route:
            try:
                return await self._report_batched(worker_id, body, batch.outcome is not None)
            except _NoBatchRoute:
                self._batch_route = False
                log.info("the server has no /attempts/reports; reporting one attempt per call")
        return await self._report_one(worker_id, body, batch.outcome is not None)

    async def _report_one(self, worker_id: str, body: dict[str, Any], has_outcome: bool) -> bool:
        response = await self._call("POST", "/attempts/report", {**body, "worker_id": worker_id})
        if response.status_code == 409 and has_outcome:
            log.warning(
                "report of %s/%d dropped: %s", body["run_id"], body["attempt"], _message(response)
            )
            return False
        if response.status_code >= 400:
            _raise_for(response)
        return True

    async def _report_batched(
        self, worker_id: str, body: dict[str, Any], has_outcome: bool
    ) -> bool:
        batcher = self._batchers.get(worker_id)
        if batcher is None:
            batcher = self._batchers[worker_id] = Batcher(
                lambda items: self._send_reports(worker_id, items),
                max_items=MAX_BATCH_REPORTS,
                max_bytes=MAX_BATCH_BYTES,
                size=lambda item: len(item[0]),
            )
        item = (json.dumps(body, separators=(",", ":")).encode(), has_outcome and body["run_id"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s
        delay = _FIRST_DELAY_S
        while True:
            result = await batcher.submit(item)
            kind = result.get("result")
            if kind == "recorded":
                return True
            where = f"{body['run_id']}/{body['attempt']}"
            message = str(result.get("message") or result)
            if kind == "dropped" and has_outcome:
                log.warning("report of %s dropped: %s", where, message)
                return False
            if kind == "dropped":
                raise errors.InvalidTransition(message)
            if not result.get("retry"):
                raise _ERRORS.get(str(result.get("error")), errors.ServerError)(message)
            if loop.time() + delay > deadline:  # as _call gives up on a 503
                raise ServerUnreachable(
                    f"the report of {where} failed for {self.retry_s:.0f} s (last: {message})"
                )
            log.warning("report of %s failed (%s); retrying in %.1f s", where, message, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY_S)

    async def _send_reports(self, worker_id: str, items: Sequence[_Item]) -> list[dict[str, Any]]:
        along = self._along.get(worker_id)
        slots = along.slots_after([run_id for _, run_id in items if run_id]) if along else 0
        claim = b""
        if along is not None and slots > 0:
            plans = None if along.plans is None else list(along.plans)
            claim = b',"claim":%s' % json.dumps({"slots": slots, "plans": plans}).encode()
        content = b'{"worker_id":%s,"reports":[%s]%s}' % (
            json.dumps(worker_id).encode(),
            b",".join(encoded for encoded, _ in items),
            claim,
        )
        response = await self._call("POST", "/attempts/reports", content=content)
        if response.status_code in (404, 405) and _route_missing(response):
            raise _NoBatchRoute
        if response.status_code >= 400:
            _raise_for(response)
        data = response.json()
        if along is not None and data.get("claims"):  # before the reports' attempts leave
            along.take([claim_from_json(c) for c in data["claims"]])
        results = data["results"]
        assert isinstance(results, list)
        return results

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
