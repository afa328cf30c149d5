"""``create_app(services, ...)``: the ASGI application (REST API, SSE, OpenAPI)."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baton import errors
from baton.api.fast_start import FastStart
from baton.api.routes import bundles, durable, stream, task_runs, tasks, workers
from baton.bundles.pack import MAX_BUNDLE_BYTES
from baton.services import Services

MAX_BODY_BYTES = 4 * 1024 * 1024 + 64 * 1024
#: Routes that accept larger bodies: a worker's report carries a 4 MiB result in base64, a
#: deploy carries a whole code bundle.
LARGE_BODY_LIMITS = (
    ("/v1/workers/", 8 * 1024 * 1024),
    ("/v1/bundles", MAX_BUNDLE_BYTES + 64 * 1024),
)

#: How each error class maps to an HTTP status (first match wins).
ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (errors.TaskNotFound, 404),
    (errors.RunNotFound, 404),
    (errors.ScheduleNotFound, 404),
    (errors.InvalidInput, 400),
    (errors.InvalidTransition, 409),
    (errors.QueueFull, 429),
    (errors.StoreUnavailable, 503),
    (errors.RegistrationFailed, 400),
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message}
    if code:
        body["code"] = code
    return JSONResponse(body, status_code=status)


class _BodyLimit:
    """Answers 413 to a request whose body passes the limit, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        limit = next(
            (n for prefix, n in LARGE_BODY_LIMITS if scope["path"].startswith(prefix)), self.limit
        )
        size = f"{limit // (1024 * 1024)} MiB"
        too_big = _error(413, f"request body is larger than {size}", "payload_too_large")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await too_big(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # FastAPI passes HTTPException through its body parsing untouched.
                raise StarletteHTTPException(413, f"request body is larger than {size}")
            return message

        await self.app(scope, limited, send)


class _TokenCheck:
    """Demands a known bearer token on every ``/v1`` request (tokens are stored hashed).

    A plain ASGI middleware: it costs a header lookup per request (a ``BaseHTTPMiddleware``
    costs a task and a stream per request).
    """

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        self.known_good: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            scheme, _, token = header.decode("latin-1").partition(" ")
            digest = hash_token(token.strip()) if scheme.lower() == "bearer" else ""
            if not digest or (
                digest not in self.known_good
                and not await self.services.offload(self.services.store.has_token, digest)
            ):
                await _error(401, "missing or invalid API token", "unauthorized")(
                    scope, receive, send
                )
                return
            self.known_good.add(digest)
        await self.app(scope, receive, send)


def error_response(exc: errors.BatonError) -> JSONResponse:
    """The JSON answer to a ``BatonError`` (status from ``ERROR_STATUS``, else 500)."""
    for cls, status in ERROR_STATUS:
        if isinstance(exc, cls):
            return _error(status, exc.message)
    return _error(500, exc.message)


async def _baton_error(request: Request, exc: errors.BatonError) -> Response:
    return error_response(exc)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    code = "payload_too_large" if exc.status_code == 413 else None
    return _error(exc.status_code, str(exc.detail), code)


async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
    problems = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            detail = e.get("ctx", {}).get("error", "")
            return _error(400, f"request body is not valid JSON: {detail}", "invalid_request")
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        problems.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return _error(400, "invalid request: " + "; ".join(problems), "invalid_request")


def create_app(
    services: Services,
    *,
    require_token: bool = True,
    registrar: Any = None,
) -> ASGIApp:
    """The ASGI app serving ``/v1`` over ``services``.

    Args:
        services: the engine's operations.
        require_token: demand ``Authorization: Bearer <token>`` (tokens from
            ``baton token create``); ``baton dev`` turns it off.
        registrar: registers deployed code (``baton.worker.register.Registrar``); without
            one, ``POST /v1/bundles`` answers 400.
    """

    app = FastAPI(
        title="Baton",
        version="1",
        summary="Self-hosted task workflows; Render Workflows compatible REST API",
    )
    app.state.services = services
    app.include_router(stream.router, prefix="/v1")  # before /task-runs/{task_run_id}
    app.include_router(task_runs.router, prefix="/v1")
    app.include_router(tasks.router, prefix="/v1")
    app.include_router(workers.router, prefix="/v1")
    app.include_router(bundles.router, prefix="/v1")
    app.state.registrar = registrar
    app.include_router(durable.router, prefix="/v1")
    app.add_middleware(
        FastStart, services=services, on_error=error_response
    )  # inside the token check
    if require_token:
        app.add_middleware(_TokenCheck, services=services)
    app.add_exception_handler(errors.BatonError, _baton_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]

    from baton.dashboard import install

    install(app, services, require_token=require_token)  # "/", pages, /metrics

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return _BodyLimit(app, MAX_BODY_BYTES)
