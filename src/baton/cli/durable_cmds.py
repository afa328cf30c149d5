"""``baton schedules``, ``baton pause``, ``baton resume`` and ``baton checkpoints``
(``docs/durable.md``)."""

from __future__ import annotations

import json

import click
from rich.table import Table

from baton.cli.client_cmds import (
    _client,
    _parse_input,
    _print_json,
    err,
    json_option,
    out,
    token_option,
    url_option,
)
from baton.client import Schedule


def _when(schedule: Schedule) -> str:
    return schedule.last_tick_at.isoformat() if schedule.last_tick_at else "-"


def _print_schedules(schedules: list[Schedule]) -> None:
    table = Table("schedule", "task", "cron", "timezone", "overlap", "state", "last tick")
    for s in schedules:
        table.add_row(
            s.id,
            s.task_slug,
            s.cron,
            s.timezone,
            s.overlap,
            "paused" if s.paused else "active",
            _when(s),
        )
    out.print(table)


@click.group()
def schedules() -> None:
    """Create, list, pause, resume and delete schedules."""


@schedules.command("create")
@click.argument("task")
@click.argument("cron")
@click.option("--input", "input_json", help="The runs' arguments as JSON: '[3, 4]'.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the cron.")
@click.option(
    "--overlap",
    type=click.Choice(["skip", "queue", "cancel"]),
    default="skip",
    show_default=True,
    help="What a tick does while the previous run is still active.",
)
@click.option("--catchup", type=float, help="After downtime, fire ticks at most this many s old.")
@url_option
@token_option
@json_option
def schedules_create(
    task: str,
    cron: str,
    input_json: str | None,
    timezone: str,
    overlap: str,
    catchup: float | None,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Start TASK (workflow/task) on CRON, e.g. '*/5 * * * *' (quote it)."""
    with _client(url, token) as client:
        made = client.durable.create_schedule(
            task,
            cron,
            _parse_input(input_json),
            timezone=timezone,
            overlap=overlap,
            catchup_seconds=catchup,
        )
    if as_json:
        _print_json(made)
    else:
        click.echo(made.id)


@schedules.command("list")
@url_option
@token_option
@json_option
def schedules_list(url: str, token: str | None, as_json: bool) -> None:
    """List every schedule."""
    with _client(url, token) as client:
        found = client.durable.list_schedules()
    if as_json:
        _print_json(found)
    else:
        _print_schedules(found)


@schedules.command("get")
@click.argument("schedule_id")
@url_option
@token_option
@json_option
def schedules_get(schedule_id: str, url: str, token: str | None, as_json: bool) -> None:
    """Show a schedule and its latest ticks."""
    with _client(url, token) as client:
        s = client.durable.get_schedule(schedule_id)
    if as_json:
        _print_json(s)
        return
    _print_schedules([s])
    table = Table("tick", "outcome", "run")
    for t in s.ticks:
        table.add_row(t.tick_at.isoformat() if t.tick_at else "-", t.outcome, t.task_run_id or "-")
    out.print(table)


def _set_paused(schedule_id: str, url: str, token: str | None, paused: bool) -> None:
    with _client(url, token) as client:
        if paused:
            client.durable.pause_schedule(schedule_id)
        else:
            client.durable.resume_schedule(schedule_id)
    err.print(f"{'paused' if paused else 'resumed'} {schedule_id}")


@schedules.command("pause")
@click.argument("schedule_id")
@url_option
@token_option
def schedules_pause(schedule_id: str, url: str, token: str | None) -> None:
    """Stop a schedule's ticks until it is resumed."""
    _set_paused(schedule_id, url, token, True)


@schedules.command("resume")
@click.argument("schedule_id")
@url_option
@token_option
def schedules_resume(schedule_id: str, url: str, token: str | None) -> None:
    """Let a paused schedule fire again."""
    _set_paused(schedule_id, url, token, False)


@schedules.command("delete")
@click.argument("schedule_id")
@url_option
@token_option
def schedules_delete(schedule_id: str, url: str, token: str | None) -> None:
    """Delete a schedule (runs it started are kept)."""
    with _client(url, token) as client:
        client.durable.delete_schedule(schedule_id)
    err.print(f"deleted {schedule_id}")


_SCOPES = {"queue": "queue", "task": "task", "run": "tree"}


def _scope_args(what: str, target: str | None) -> tuple[str, str]:
    if what != "queue" and not target:
        raise click.UsageError(f"name the {what}: baton pause {what} <{what}>")
    return _SCOPES[what], target or ""


@click.command("pause")
@click.argument("what", type=click.Choice(list(_SCOPES)))
@click.argument("target", required=False)
@url_option
@token_option
def pause_cmd(what: str, target: str | None, url: str, token: str | None) -> None:
    """Pause the whole queue, a task (workflow/task) or a run tree (root run id).

    Nothing new starts in what is paused; running attempts finish. It stays paused across
    restarts until `baton resume`.
    """
    scope, name = _scope_args(what, target)
    with _client(url, token) as client:
        changed = client.durable.pause(scope, name)
    label = f"{what} {name}".strip()
    err.print(f"paused {label}" if changed else f"{label} was already paused")


@click.command("resume")
@click.argument("what", type=click.Choice(list(_SCOPES)))
@click.argument("target", required=False)
@url_option
@token_option
def resume_cmd(what: str, target: str | None, url: str, token: str | None) -> None:
    """Resume what `baton pause` paused."""
    scope, name = _scope_args(what, target)
    with _client(url, token) as client:
        changed = client.durable.resume(scope, name)
    label = f"{what} {name}".strip()
    err.print(f"resumed {label}" if changed else f"{label} was not paused")


@click.command("checkpoints")
@click.argument("run_id")
@url_option
@token_option
def checkpoints_cmd(run_id: str, url: str, token: str | None) -> None:
    """Print a run's checkpoints as JSON."""
    with _client(url, token) as client:
        found = client.durable.get_checkpoints(run_id)
    click.echo(json.dumps(found, indent=2))


@click.command("pauses")
@url_option
@token_option
@json_option
def pauses_cmd(url: str, token: str | None, as_json: bool) -> None:
    """List what is paused."""
    with _client(url, token) as client:
        found = client.durable.list_pauses()
    if as_json:
        _print_json(found)
        return
    table = Table("scope", "target", "since")
    for p in found:
        table.add_row(
            "run" if p.scope == "tree" else p.scope,
            p.target or "-",
            p.created_at.isoformat() if p.created_at else "-",
        )
    out.print(table)
