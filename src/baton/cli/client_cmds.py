"""Commands that talk to a running server through the REST client."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from baton.client import Baton, TaskRun, TaskRunDetails
from baton.errors import BatonError, TaskRunError

out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False)

url_option = click.option(
    "--url",
    envvar="BATON_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Baton server address.",
)
token_option = click.option("--token", envvar="BATON_API_KEY", help="API token.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


class CommandError(click.ClickException):
    exit_code = 1


@contextmanager
def _client(url: str, token: str | None) -> Iterator[Baton]:
    try:
        with Baton(token=token, base_url=url) as client:
            yield client
    except TaskRunError:
        raise
    except BatonError as exc:
        raise CommandError(exc.message) from exc


def _parse_input(raw: str | None) -> Any:
    if raw is None:
        return []
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise click.BadParameter(
            f"not valid JSON ({exc}); pass an array like '[3, 4]' or an object like '{{\"a\": 3}}'",
            param_hint="ARGS_JSON",
        ) from exc
    if not isinstance(value, list | dict):
        value = [value]  # `baton run wf/square 7` means one positional argument
    return value


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _print_json(value: Any) -> None:
    click.echo(json.dumps(_jsonable(value), indent=2))


def _result_text(details: TaskRunDetails) -> str:
    results = details.results
    value = results[0] if len(results) == 1 else results
    return json.dumps(value)


def _duration(run: TaskRun) -> str:
    if run.started_at is None:
        return "-"
    end = run.completed_at or datetime.now(run.started_at.tzinfo)
    return f"{(end - run.started_at).total_seconds():.2f}s"


@click.command("run")
@click.argument("task")
@click.argument("args_json", required=False)
@click.option("--timeout", type=float, help="Give up waiting after this many seconds.")
@url_option
@token_option
@json_option
def run_cmd(
    task: str,
    args_json: str | None,
    timeout: float | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Start TASK (workflow/task) with ARGS_JSON, wait for it, print its result."""
    value = _parse_input(args_json)
    with _client(url, token) as client:
        run = client.workflows.start_task(task, value)
        started = time.monotonic()
        stop = threading.Event()
        try:
            with err.status(f"{task} {run.id} running…") as status:

                def tick() -> None:
                    while not stop.wait(0.2):
                        status.update(
                            f"{task} [dim]{run.id}[/] running… {time.monotonic() - started:.1f}s"
                        )

                ticker = threading.Thread(target=tick, daemon=True)
                ticker.start()
                try:
                    details = client.workflows.wait(run.id, timeout=timeout)
                finally:
                    stop.set()
        except TaskRunError as exc:
            if as_json:
                _print_json(client.workflows.get_task_run(run.id))
            err.print(f"[red]failed[/] {run.id}: {exc.message}")
            raise SystemExit(1) from exc
    if as_json:
        _print_json(details)
        return
    err.print(
        f"[green]{details.status}[/] {run.id} in {_duration(details)} "
        f"({len(details.attempts)} attempt{'s' if len(details.attempts) != 1 else ''})"
    )
    click.echo(_result_text(details))


@click.command("start")
@click.argument("task")
@click.argument("args_json", required=False)
@click.option(
    "--idempotency-key",
    help="Within 24 h, the same key returns the first run instead of starting another.",
)
@url_option
@token_option
@json_option
def start_cmd(
    task: str,
    args_json: str | None,
    idempotency_key: str | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Start TASK with ARGS_JSON and print the run id without waiting."""
    with _client(url, token) as client:
        run = client.workflows.start_task(
            task, _parse_input(args_json), idempotency_key=idempotency_key
        )
    if as_json:
        _print_json(run)
    else:
        click.echo(run.id)


@click.group()
def runs() -> None:
    """List, inspect and cancel task runs."""


@runs.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--task", "task_slug", multiple=True, help="Only runs of this workflow/task.")
@click.option("--status", multiple=True, help="Only runs in this status.")
@click.option("--root", "root_id", help="Only runs of this chain (root run id).")
@click.option("--cursor", help="Continue after this cursor.")
@url_option
@token_option
@json_option
def runs_list(
    limit: int,
    task_slug: tuple[str, ...],
    status: tuple[str, ...],
    root_id: str | None,
    cursor: str | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """List task runs, newest first."""
    with _client(url, token) as client:
        rows = client.workflows.list_task_runs(
            limit=limit,
            cursor=cursor,
            task_slug=list(task_slug) or None,
            status=list(status) or None,
            root_task_run_id=[root_id] if root_id else None,
        )
    if as_json:
        _print_json(rows)
        return
    table = Table("run", "task", "status", "attempts", "duration", "parent", "root")
    for row in rows:
        r = row.task_run
        table.add_row(
            r.id,
            r.task_slug or r.task_id,
            r.status,
            str(len(r.attempts)),
            _duration(r),
            r.parent_task_run_id or "-",
            r.root_task_run_id,
        )
    out.print(table)
    if rows and len(rows) == limit:
        err.print(f"more: baton runs list --cursor {rows[-1].cursor}")


@runs.command("get")
@click.argument("run_id")
@url_option
@token_option
@json_option
def runs_get(run_id: str, url: str, token: str | None, as_json: bool) -> None:
    """Show one run with its attempts, result or error."""
    with _client(url, token) as client:
        d = client.workflows.get_task_run(run_id)
    if as_json:
        _print_json(d)
        return
    out.print(f"[bold]{d.id}[/]  {d.status}  task {d.task_slug or d.task_id}")
    out.print(f"input   {json.dumps(d.input_)}")
    if d.parent_task_run_id:
        out.print(f"parent  {d.parent_task_run_id}   root {d.root_task_run_id}")
    if d.status == "completed":
        out.print(f"result  {_result_text(d)}")
    if d.error:
        out.print(f"[red]error[/]   {d.error}")
    table = Table("attempt", "status", "started", "duration", "error")
    for a in d.attempts:
        end = a.completed_at
        took = f"{(end - a.started_at).total_seconds():.2f}s" if end and a.started_at else "-"
        table.add_row(
            str(a.attempt),
            a.status,
            a.started_at.isoformat() if a.started_at else "-",
            took,
            a.error or "",
        )
    out.print(table)


@runs.command("cancel")
@click.argument("run_id")
@url_option
@token_option
def runs_cancel(run_id: str, url: str, token: str | None) -> None:
    """Cancel a root run and all its unfinished descendants."""
    with _client(url, token) as client:
        client.workflows.cancel_task_run(run_id)
    err.print(f"canceled {run_id}")


@runs.command("logs")
@click.argument("run_id")
@click.option("--attempt", type=int, help="Only this attempt (0-based).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@url_option
@token_option
def runs_logs(run_id: str, attempt: int | None, follow: bool, url: str, token: str | None) -> None:
    """Print what the run's processes wrote to stdout and stderr."""
    after = 0
    with _client(url, token) as client:
        while True:
            lines = client.workflows.get_logs(run_id, attempt=attempt, after=after)
            for line in lines:
                prefix = f"[{line.attempt}] " if attempt is None else ""
                click.echo(prefix + line.line, err=line.stream == "stderr")
                after = max(after, line.seq)
            if not follow:
                return
            if not lines:
                if client.workflows.get_task_run(run_id).status in (
                    "completed",
                    "failed",
                    "canceled",
                ):
                    return
                time.sleep(0.5)


@click.command("tasks")
@url_option
@token_option
@json_option
def tasks_cmd(url: str, token: str | None, as_json: bool) -> None:
    """List the tasks of every workflow."""
    with _client(url, token) as client:
        tasks = client.workflows.list_tasks()
    if as_json:
        _print_json(tasks)
        return
    table = Table("task", "retry", "timeout", "plan", "parameters")
    for t in tasks:
        opts = t.options or {}
        retry = opts.get("retry")
        table.add_row(
            t.slug,
            f"{retry.get('max_retries')}x {retry.get('wait_duration_ms')}ms ×{retry.get('factor')}"
            if isinstance(retry, dict)
            else "default",
            f"{opts.get('timeout_seconds', 7200)}s",
            str(opts.get("plan", "standard")),
            ", ".join(t.parameters),
        )
    out.print(table)
