"""``baton dev``, ``baton serve`` and ``baton token create``: commands that own a store."""

from __future__ import annotations

import ipaddress
import secrets
import socket

import click
from rich.console import Console

from baton import aio
from baton.api.app import hash_token
from baton.errors import BatonError
from baton.server import Engine, Target, serve_http
from baton.services import EngineConfig
from baton.store import DEFAULT_URL, open_store

console = Console(stderr=True, highlight=False)

db_option = click.option(
    "--db",
    "db_url",
    default=DEFAULT_URL,
    envvar="BATON_DATABASE_URL",
    show_default=True,
    show_envvar=True,
    help="Database URL: sqlite:///path.db, or postgresql://user@host:5432/dbname for several "
    "servers and workers (pip install 'baton-workflows[postgres]').",
)
concurrency_option = click.option(
    "--concurrency",
    default=20,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Attempts computing at once (parents waiting on children do not count).",
)
otel_option = click.option(
    "--otel/--no-otel",
    default=False,
    envvar="BATON_OTEL",
    show_envvar=True,
    help="Export one OpenTelemetry span per attempt over OTLP/HTTP (endpoint from "
    "OTEL_EXPORTER_OTLP_ENDPOINT; pip install 'baton-workflows[otel]'; docs/dashboard.md).",
)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def _check_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror}. Is another Baton running? "
                "Pick another port with --port."
            ) from exc


async def _run_server(
    engine: Engine, targets: list[tuple[Target, str | None]], host: str, port: int, open_: bool
) -> None:
    async with engine:
        for target, slug in targets:
            tasks = await engine.register(target, slug)
            name = slug or target.default_slug()
            console.print(
                f"[green]registered[/] workflow [bold]{name}[/]: "
                + ", ".join(f"{name}/{t.name}" for t in tasks)
            )
        url = f"http://{host}:{port}"
        console.print(f"[bold]Baton[/] dashboard {url}/   API {url}/v1   API docs {url}/docs")
        if open_:
            console.print("[yellow]auth off[/]: anyone who can reach this port can run tasks")
        await serve_http(engine, host, port, require_token=not open_)


def _targets(
    app_spec: str | None, command: str | None, name: str | None
) -> list[tuple[Target, str | None]]:
    if command:
        return [(Target.command(command, app_spec or "."), name)]
    if app_spec:
        return [(Target.app(app_spec), name)]
    return []


@click.command()
@click.argument("app_spec", metavar="FILE_OR_MODULE[:APP]", required=False)
@click.option("--name", help="Workflow slug (default: the file or directory name).")
@click.option(
    "--command",
    help="A start command (e.g. 'render-workflows main:app') run in FILE_OR_MODULE's directory.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@db_option
@concurrency_option
@otel_option
def dev(
    app_spec: str | None,
    name: str | None,
    command: str | None,
    host: str,
    port: int,
    db_url: str,
    concurrency: int,
    otel: bool,
) -> None:
    """Run everything on this machine: API, scheduler and a worker.

    Registers FILE_OR_MODULE[:APP] (a file or module defining a Workflows app) as workflow
    NAME. On 127.0.0.1 the API is open; on any other address it requires a token.
    """
    if not app_spec and not command:
        raise click.UsageError("give the workflow code: baton dev examples/squares.py")
    _start(
        _targets(app_spec, command, name),
        host,
        port,
        db_url,
        concurrency,
        open_=_is_loopback(host),
        no_token=f"{host} is reachable from other machines, so the API needs a token",
        otel=otel,
    )


@click.command()
@click.argument("code_dir", metavar="[DIR]", required=False)
@click.option("--app", "app_spec", help="Workflow code to register at start-up.")
@click.option("--name", help="Workflow slug for --app or --command.")
@click.option(
    "--command",
    help="A start command to register instead of --app (e.g. 'render-workflows main:app'), "
    "run in DIR (default: the current directory).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@db_option
@concurrency_option
@click.option(
    "--worker/--no-worker",
    "embedded_worker",
    default=True,
    show_default=True,
    help="Run attempts in this process too; --no-worker leaves them to `baton worker`s.",
)
@click.option(
    "--lease-s",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1.0, 3600.0),
    help="How long a worker's claim lasts without a heartbeat (then the attempt is retried).",
)
@otel_option
def serve(
    code_dir: str | None,
    app_spec: str | None,
    name: str | None,
    command: str | None,
    host: str,
    port: int,
    db_url: str,
    concurrency: int,
    embedded_worker: bool,
    lease_s: float,
    otel: bool,
) -> None:
    """Run the API server (and scheduler), by default with an embedded worker; every API call
    needs a token. Several servers may share one PostgreSQL database (docs/deploy.md)."""
    if code_dir and not command:
        raise click.UsageError("DIR is the directory of a --command; give Baton apps with --app")
    _start(
        _targets(code_dir or app_spec, command, name),
        host,
        port,
        db_url,
        concurrency,
        open_=False,
        no_token="no API token exists yet",
        worker=embedded_worker,
        lease_s=lease_s,
        otel=otel,
    )


def _start(
    targets: list[tuple[Target, str | None]],
    host: str,
    port: int,
    db_url: str,
    concurrency: int,
    *,
    open_: bool,
    no_token: str,
    worker: bool = True,
    lease_s: float = 30.0,
    otel: bool = False,
) -> None:
    """Open the store, refuse to run closed without a token, then serve until Ctrl-C."""
    _check_port(host, port)
    engine: Engine | None = None
    try:
        engine = Engine(
            db_url,
            config=EngineConfig(concurrency=concurrency, lease_s=lease_s),
            worker=worker,
            otel=otel,
        )
        if not open_ and engine.store.count_tokens() == 0:
            engine.store.close()
            raise click.ClickException(
                f"{no_token}: run `baton token create --db {db_url}` and pass it to clients "
                "as BATON_API_KEY"
            )
        aio.run(_run_server(engine, targets, host, port, open_))
    except BatonError as exc:
        raise click.ClickException(exc.message) from exc
    except KeyboardInterrupt:
        pass


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--name", default="default", show_default=True, help="A label for the token.")
@db_option
def token_create(name: str, db_url: str) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    secret = "bat_" + secrets.token_urlsafe(32)
    try:
        store = open_store(db_url)
        store.add_token(name, hash_token(secret))
        store.close()
    except BatonError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(secret)
    console.print("Keep it safe: it is not shown again. Clients read it from BATON_API_KEY.")
