"""The web dashboard served at ``/`` next to the API: runs, a run's chain and logs, tasks,
workers and queue, schedules and pauses, Prometheus ``/metrics``. Server-rendered (Jinja2)
with a little JavaScript; reads go through ``Services``."""

from __future__ import annotations

import weakref
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from baton.dashboard.auth import BadCsrf, NeedSignIn, Sessions
from baton.dashboard.metrics import Metrics
from baton.services import Services

__all__ = ["install"]

STATIC = Path(__file__).parent / "static"
_metrics: weakref.WeakKeyDictionary[Services, Metrics] = weakref.WeakKeyDictionary()


def metrics_for(services: Services) -> Metrics:
    """One collector per engine, however many apps are built over it."""
    collector = _metrics.get(services)
    if collector is None:
        collector = _metrics[services] = Metrics(services)
    return collector


async def _need_sign_in(request: Request, exc: Exception) -> Response:
    if request.method == "GET" and not request.url.path.startswith("/ui/"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
    return JSONResponse({"message": "sign in first", "code": "unauthorized"}, status_code=401)


async def _bad_csrf(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"message": "the form's CSRF token is missing or stale; reload the page and retry"},
        status_code=403,
    )


def install(app: FastAPI, services: Services, *, require_token: bool) -> None:
    """Add the dashboard's pages, scripts, stream and ``/metrics`` to ``app``.

    Args:
        app: the API application.
        services: the engine's operations.
        require_token: pages need a signed-in session and ``/metrics`` a bearer token.
    """
    from baton.dashboard import durable, live, views

    app.state.sessions = Sessions(services, required=require_token)
    app.state.metrics = metrics_for(services)
    app.include_router(live.router)
    app.include_router(views.router)
    app.include_router(durable.router)
    app.mount("/static/dashboard", StaticFiles(directory=str(STATIC)), name="dashboard-static")
    app.add_exception_handler(NeedSignIn, _need_sign_in)
    app.add_exception_handler(BadCsrf, _bad_csrf)
