"""``/v1/workers``: the API ``baton worker --server URL`` speaks (claim, heartbeat, report,
chained calls, code). Token-protected like every ``/v1`` route.

Every call is safe to repeat after a lost answer: a repeated claim at worst leaves an attempt
the worker hands back, a repeated report answers 409 (the first one was recorded), a repeated
chained call returns the child the first one started.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator

from baton import errors
from baton.bundles.store import read_bundle
from baton.core.models import Run
from baton.core.plans import PLANS
from baton.services import Services
from baton.worker.link import (
    Report,
    ServicesLink,
    WorkerLoad,
    apply_report,
    claim_waiting,
    report_and_claim,
)
from baton.worker.wire import claim_to_json, outcome_from_json, run_to_json, version_to_json

router = APIRouter(prefix="/workers", tags=["workers"])

#: The longest a claim or a child wait may block in one request.
MAX_WAIT_MS = 30_000
MAX_SLOTS = 1000
#: Most attempt reports in one ``/attempts/reports`` request (each is a savepoint of one
#: PostgreSQL transaction; past 64 a transaction's subtransactions slow every backend down).
MAX_REPORTS = 64


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def error_response(exc: errors.BatonError, status: int) -> JSONResponse:
    """An error body a worker can turn back into the same exception class."""
    return JSONResponse({"message": exc.message, "error": type(exc).__name__}, status_code=status)


class ClaimAlongBody(BaseModel):
    slots: Annotated[int, Field(ge=0, le=MAX_SLOTS)]
    plans: Annotated[list[str], Field(max_length=len(PLANS))] | None = None

    @field_validator("plans")
    @classmethod
    def _known_plans(cls, plans: list[str] | None) -> list[str] | None:
        unknown = [p for p in plans or () if p not in PLANS]
        if unknown:
            raise ValueError(f"unknown plan(s) {unknown}; choose from: {', '.join(PLANS)}")
        return plans


class ClaimBody(ClaimAlongBody):
    worker_id: Annotated[str, Field(min_length=1, max_length=200)]
    wait_ms: Annotated[int, Field(ge=0, le=MAX_WAIT_MS)] = 0


class WorkerBody(BaseModel):
    worker_id: Annotated[str, Field(min_length=1, max_length=200)]


class LoadBody(BaseModel):
    slots: Annotated[int, Field(ge=0)]
    running: Annotated[int, Field(ge=0)] = 0
    computing: Annotated[int, Field(ge=0)] = 0
    host: Annotated[str, Field(max_length=255)] = ""


class HeartbeatBody(WorkerBody):
    load: LoadBody | None = None


class AttemptRef(BaseModel):
    run_id: str
    attempt: Annotated[int, Field(ge=0)]


class FinishBody(AttemptRef):
    worker_id: str
    outcome: dict[str, Any]


class ReportItem(AttemptRef):
    pid: int | None = None
    timings: dict[str, float] | None = None
    logs: list[tuple[str, str]] = []
    outcome: dict[str, Any] | None = None


class ReportBody(ReportItem):
    worker_id: Annotated[str, Field(min_length=1, max_length=200)]


class ReportsBody(WorkerBody):
    reports: Annotated[list[ReportItem], Field(min_length=1, max_length=MAX_REPORTS)]
    #: Attempts to claim in the same transaction, once the reports are stored (no wait).
    claim: ClaimAlongBody | None = None


class StartedBody(AttemptRef):
    pid: int
    timings: dict[str, float] | None = None


class ExitBody(AttemptRef):
    exit_code: int | None = None
    peak_rss_kb: int | None = None
    cpu_s: float | None = None


class TimingsBody(AttemptRef):
    timings: dict[str, float]


class LogsBody(AttemptRef):
    lines: list[tuple[str, str]]


class WaitingBody(AttemptRef):
    waiting: bool


class ChildBody(AttemptRef):
    task_name: Annotated[str, Field(min_length=1)]
    input: Any = None
    idempotency_key: str | None = None
    created_key: str | None = None
    call_index: Annotated[int, Field(ge=0)] | None = None


class CheckpointBody(AttemptRef):
    key: Any = None
    value: Any = None


class WaitChildBody(BaseModel):
    root_id: str
    child_id: str
    wait_ms: Annotated[int, Field(ge=0, le=MAX_WAIT_MS)] = 0


@router.post("/claim", summary="Lease attempts to a worker (long poll up to wait_ms)")
async def claim(body: ClaimBody, request: Request) -> dict[str, Any]:
    services = _services(request)
    claims = await claim_waiting(
        services, body.worker_id, body.slots, body.wait_ms / 1000, body.plans
    )
    return {"claims": [claim_to_json(c) for c in claims], "lease_s": services.config.lease_s}


@router.post("/heartbeat", summary="Renew a worker's leases; the attempts it still owns")
async def heartbeat(body: HeartbeatBody, request: Request) -> dict[str, Any]:
    services = _services(request)
    load = None if body.load is None else WorkerLoad(**body.load.model_dump())
    owned = await ServicesLink(services).heartbeat(body.worker_id, load, kind="remote")
    return {"attempts": [list(a) for a in owned], "lease_s": services.config.lease_s}


@router.post("/attempts/finish", summary="Report how an attempt ended (409: not yours any more)")
async def finish(body: FinishBody, request: Request) -> Response:
    try:
        outcome = outcome_from_json(body.outcome)
    except (TypeError, ValueError) as exc:
        raise errors.InvalidInput(f"outcome is malformed: {exc}") from exc
    services = _services(request)
    run = await services.offload(
        services.finish_attempt, body.run_id, body.attempt, body.worker_id, outcome
    )
    if run is None:
        return _lease_lost(body.run_id, body.attempt, body.worker_id)
    return JSONResponse({"status": str(run.status)})


def _lease_lost_message(run_id: str, attempt: int, worker_id: str) -> str:
    return (
        f"attempt {attempt} of task run {run_id} is no longer worker {worker_id}'s (its lease "
        "expired, the run was canceled or the attempt was already reported): the report was "
        "dropped"
    )


def _lease_lost(run_id: str, attempt: int, worker_id: str) -> JSONResponse:
    return JSONResponse(
        {"message": _lease_lost_message(run_id, attempt, worker_id), "code": "lease_lost"},
        status_code=409,
    )


def _report(body: ReportItem) -> Report:
    outcome = None
    if body.outcome is not None:
        try:
            outcome = outcome_from_json(body.outcome)
        except (TypeError, ValueError) as exc:
            raise errors.InvalidInput(f"outcome is malformed: {exc}") from exc
    return Report(pid=body.pid, timings=body.timings, logs=body.logs, outcome=outcome)


@router.post(
    "/attempts/report",
    summary="An attempt's process start, timings, logs and outcome in one call "
    "(409: the outcome was dropped, the attempt is not yours any more)",
)
async def report(body: ReportBody, request: Request) -> Response:
    batch = _report(body)
    services = _services(request)
    run = await services.offload(
        apply_report, services, body.run_id, body.attempt, body.worker_id, batch
    )
    if run is None:
        return _lease_lost(body.run_id, body.attempt, body.worker_id)
    return JSONResponse({"status": str(run.status)} if isinstance(run, Run) else {})


def _error_item(exc: errors.BatonError) -> dict[str, Any]:
    return {
        "result": "error",
        "error": type(exc).__name__,
        "message": exc.message,
        "retry": isinstance(exc, errors.StoreUnavailable),
    }


@router.post(
    "/attempts/reports",
    summary="The reports of several attempts (as /attempts/report's) in one call, stored in "
    "one transaction; one result per report, in order",
)
async def reports(body: ReportsBody, request: Request) -> dict[str, Any]:
    results: list[dict[str, Any] | None] = [None] * len(body.reports)
    todo: list[tuple[int, tuple[str, int, Report]]] = []
    for i, item in enumerate(body.reports):
        try:
            todo.append((i, (item.run_id, item.attempt, _report(item))))
        except errors.InvalidInput as exc:
            results[i] = _error_item(exc)
    services = _services(request)
    along = body.claim if body.claim is not None and body.claim.slots > 0 else None
    applied, claims = await services.offload(
        report_and_claim,
        services,
        body.worker_id,
        [r for _, r in todo],
        along.slots if along else 0,
        along.plans if along else None,
    )
    for (i, (run_id, attempt, _)), done in zip(todo, applied, strict=True):
        if isinstance(done, errors.BatonError):
            results[i] = _error_item(done)
        elif done is None:
            message = _lease_lost_message(run_id, attempt, body.worker_id)
            results[i] = {"result": "dropped", "code": "lease_lost", "message": message}
        elif isinstance(done, Run):
            results[i] = {"result": "recorded", "status": str(done.status)}
        else:
            results[i] = {"result": "recorded"}
    if along is None:
        return {"results": results}
    return {
        "results": results,
        "claims": [claim_to_json(c) for c in claims],
        "lease_s": services.config.lease_s,
    }


@router.post("/attempts/started", summary="Record an attempt's process id")
async def started(body: StartedBody, request: Request) -> dict[str, Any]:
    await ServicesLink(_services(request)).attempt_started(
        body.run_id, body.attempt, body.pid, body.timings
    )
    return {}


@router.post("/attempts/exit", summary="Record how an attempt's process exited")
async def exited(body: ExitBody, request: Request) -> dict[str, Any]:
    services = _services(request)
    await services.offload(
        services.record_attempt_exit,
        body.run_id,
        body.attempt,
        exit_code=body.exit_code,
        peak_rss_kb=body.peak_rss_kb,
        cpu_s=body.cpu_s,
    )
    return {}


@router.post("/attempts/timings", summary="Record an attempt's start-up timings")
async def timings(body: TimingsBody, request: Request) -> dict[str, Any]:
    services = _services(request)
    await services.offload(services.store.record_timings, body.run_id, body.attempt, body.timings)
    return {}


@router.post("/attempts/logs", summary="Append log lines of an attempt")
async def logs(body: LogsBody, request: Request) -> dict[str, Any]:
    services = _services(request)
    await services.offload(services.store.append_logs, body.run_id, body.attempt, body.lines)
    return {}


@router.post("/attempts/waiting", summary="Mark an attempt as waiting on its children")
async def waiting(body: WaitingBody, request: Request) -> dict[str, Any]:
    services = _services(request)
    await services.offload(services.set_waiting, body.run_id, body.attempt, body.waiting)
    return {}


@router.post("/children", summary="Start (or find) the child run of a chained call")
async def start_child(body: ChildBody, request: Request) -> Response:
    services = _services(request)
    try:
        parent = await services.offload(services.store.get_run, body.run_id, attempts=False)
        child = await services.offload(
            services.start_child,
            parent,
            body.attempt,
            body.task_name,
            body.input,
            idempotency_key=body.idempotency_key,
            created_key=body.created_key,
            call_index=body.call_index,
        )
    except errors.InvalidInput as exc:
        return error_response(exc, 400)
    except (errors.TaskNotFound, errors.RunNotFound) as exc:
        return error_response(exc, 404)
    except errors.InvalidTransition as exc:
        return error_response(exc, 409)
    return JSONResponse({"task_run_id": child.id})


@router.post("/attempts/checkpoint", summary="Store a checkpoint of a running attempt")
async def put_checkpoint(body: CheckpointBody, request: Request) -> Response:
    try:
        services = _services(request)
        await services.offload(services.checkpoint, body.run_id, body.attempt, body.key, body.value)
    except errors.InvalidInput as exc:
        return error_response(exc, 400)
    except errors.InvalidTransition as exc:
        return error_response(exc, 409)
    return JSONResponse({})


@router.post("/attempts/checkpoints", summary="A run's checkpoints")
async def get_checkpoints(body: AttemptRef, request: Request) -> Response:
    try:
        services = _services(request)
        found = await services.offload(services.get_checkpoints, body.run_id)
    except errors.RunNotFound as exc:
        return error_response(exc, 404)
    return JSONResponse({"checkpoints": found})


@router.post("/children/wait", summary="A child run once final, or as it is after wait_ms")
async def wait_child(body: WaitChildBody, request: Request) -> Response:
    try:
        child = await ServicesLink(_services(request)).wait_child(
            body.root_id, body.child_id, body.wait_ms / 1000
        )
    except errors.RunNotFound as exc:
        return error_response(exc, 404)
    return JSONResponse({"run": run_to_json(child)})


@router.get("/versions/{version_id}", summary="A workflow version (where its code is)")
async def get_version(version_id: str, request: Request) -> dict[str, Any]:
    services = _services(request)
    return version_to_json(await services.offload(services.store.get_version, version_id))


@router.get("/bundles/{digest}", summary="Download a code bundle (tar.gz) by its sha256")
async def get_bundle(digest: str, request: Request) -> Response:
    try:
        services = _services(request)
        data = await services.offload(read_bundle, services.store, digest)
    except errors.RegistrationFailed as exc:
        return JSONResponse({"message": exc.message, "code": "not_found"}, status_code=404)
    return Response(data, media_type="application/gzip")
