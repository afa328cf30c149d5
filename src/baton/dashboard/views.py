"""The dashboard's HTML pages: runs, one run, tasks, workers and queue, sign-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from baton.core.ids import is_id
from baton.core.models import RunStatus, Task, utcnow
from baton.core.plans import PLANS
from baton.dashboard.auth import SESSION_COOKIE, SIGNIN_COOKIE, Sessions, read_form, safe_next
from baton.dashboard.filters import PAGE_SIZE, SINCE, RunsFilter
from baton.dashboard.format import FILTERS, STATUS_ICONS
from baton.dashboard.paused import checkpoint_rows, paused
from baton.errors import InvalidTransition, RunNotFound
from baton.services import Services
from baton.store.base import TaskStats

router = APIRouter(include_in_schema=False)
STATS_WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}


def _templates() -> Jinja2Templates:
    from pathlib import Path

    templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
    templates.env.filters.update(FILTERS)
    templates.env.globals["STATUS_ICONS"] = STATUS_ICONS
    templates.env.globals["STATUSES"] = [str(s) for s in RunStatus]
    return templates


TEMPLATES = _templates()


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    sessions = _sessions(request)
    context.setdefault("nav", "")
    signed_in = sessions.signed_in(request)
    if signed_in and "paused" not in context:
        context["paused"] = paused(_services(request))  # the base layout flags a paused queue
    context.update(
        csrf=sessions.csrf_token(request),
        auth_required=sessions.required,
        signed_in=signed_in,
    )
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


# runs -------------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def runs_page(request: Request) -> Response:
    _sessions(request).check(request)
    services = _services(request)
    flt = RunsFilter.parse(request.query_params)
    q = flt.values["q"]
    if q and is_id(q, "trn"):
        try:
            services.get_run(q)
            return RedirectResponse(f"/runs/{q}", status_code=303)
        except RunNotFound:
            pass
    query = flt.query()
    runs = services.search_runs(
        query, limit=PAGE_SIZE + 1, before_seq=flt.before, after_seq=flt.after
    )
    more = len(runs) > PAGE_SIZE
    if flt.after is not None:
        runs = runs[-PAGE_SIZE:]
        newer = more
        older = True
    else:
        runs = runs[:PAGE_SIZE]
        newer = flt.before is not None
        older = more
    workflows = sorted({t.workflow for t in services.list_tasks()})
    tasks = sorted({t.slug for t in services.list_tasks()})
    return render(
        request,
        "runs.html",
        nav="runs",
        title="Runs",
        runs=runs,
        flt=flt,
        workflows=workflows,
        tasks=tasks,
        since_choices=list(SINCE),
        newer_link=flt.link(after=runs[0].seq) if newer and runs else None,
        older_link=flt.link(before=runs[-1].seq) if older and runs else None,
        live=flt.before is None and flt.after is None,
        stream_query=flt.link(),
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> Response:
    _sessions(request).check(request)
    services = _services(request)
    try:
        run = services.get_run(run_id)
    except RunNotFound:
        return render(request, "not_found.html", 404, title="Run not found", run_id=run_id)
    root = run if run.parent_id is None else services.store.get_run(run.root_id, attempts=False)
    return render(
        request,
        "run.html",
        nav="runs",
        title=f"{run.slug} {run.id}",
        run=run,
        root=root,
        plan=PLANS.get(run.plan),
        message=request.query_params.get("message", ""),
        checkpoints=checkpoint_rows(services.get_checkpoints(run.id)),
    )


async def _action(request: Request, run_id: str, act: str) -> Response:
    sessions = _sessions(request)
    await sessions.checked_form(request)
    services = _services(request)
    try:
        if act == "cancel":
            canceled = services.cancel_run(run_id)
            message = f"Canceled {len(canceled)} run(s)."
            target = run_id
        else:
            target = services.rerun(run_id).id
            message = f"Started {target} with the same input."
    except (InvalidTransition, RunNotFound) as exc:
        message, target = exc.message, run_id
    from urllib.parse import quote

    return RedirectResponse(f"/runs/{target}?message={quote(message)}", status_code=303)


@router.post("/runs/{run_id}/cancel")
async def cancel_action(request: Request, run_id: str) -> Response:
    return await _action(request, run_id, "cancel")


@router.post("/runs/{run_id}/rerun")
async def rerun_action(request: Request, run_id: str) -> Response:
    return await _action(request, run_id, "rerun")


# tasks, workers ---------------------------------------------------------------------------------


@router.get("/tasks", response_class=HTMLResponse)
async def tasks_page(request: Request) -> Response:
    _sessions(request).check(request)
    services = _services(request)
    window = request.query_params.get("window", "24h")
    window = window if window in STATS_WINDOWS else "24h"
    seconds = STATS_WINDOWS[window]
    since = utcnow() - timedelta(seconds=seconds) if seconds else None
    stats = {(s.workflow, s.task_name): s for s in services.task_stats(since)}
    tasks = services.list_tasks()
    rows: list[tuple[str, str, Task | None, TaskStats | None]] = [
        (t.workflow, t.name, t, stats.pop((t.workflow, t.name), None)) for t in tasks
    ]
    rows += [(w, n, None, s) for (w, n), s in sorted(stats.items())]  # older versions' tasks
    return render(
        request,
        "tasks.html",
        nav="tasks",
        title="Tasks",
        rows=rows,
        window=window,
        windows=list(STATS_WINDOWS),
        plans=PLANS,
        message=request.query_params.get("message", ""),
    )


@router.get("/workers", response_class=HTMLResponse)
async def workers_page(request: Request) -> Response:
    _sessions(request).check(request)
    services = _services(request)
    return render(
        request,
        "workers.html",
        nav="workers",
        title="Workers and queue",
        stats=services.queue_stats(),
        workers=services.workers.list(),
        config=services.config,
        now=utcnow(),
        message=request.query_params.get("message", ""),
    )


# sign-in ----------------------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(request: Request) -> Response:
    import secrets

    nonce = secrets.token_urlsafe(16)
    response = render(
        request,
        "signin.html",
        title="Sign in",
        nonce=nonce,
        next=safe_next(request.query_params.get("next")),
        error="",
    )
    _set_cookie(request, response, SIGNIN_COOKIE, nonce, max_age=3600)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    import hmac

    sessions = _sessions(request)
    form = await read_form(request)
    nonce = request.cookies.get(SIGNIN_COOKIE, "")
    target = safe_next(form.get("next"))
    digest = sessions.token_valid(form.get("token", ""))
    if not nonce or not hmac.compare_digest(nonce, form.get("nonce", "")) or digest is None:
        error = "That token is not valid." if nonce else "Your sign-in form expired; try again."
        return render(
            request, "signin.html", 401, title="Sign in", nonce=nonce, next=target, error=error
        )
    response = RedirectResponse(target, status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, sessions.new_session(digest))
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    await _sessions(request).checked_form(request)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
