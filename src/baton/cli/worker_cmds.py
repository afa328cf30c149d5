"""``baton worker`` (a remote worker over HTTP) and ``baton deploy`` (upload a code bundle)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from baton import aio
from baton.bundles.cache import CodeCache
from baton.bundles.pack import MAX_BUNDLE_BYTES, BundleError, bundle_digest, pack_dir
from baton.core.plans import PLANS
from baton.errors import BatonError
from baton.worker.agent import Worker
from baton.worker.http_link import HttpLink

console = Console(stderr=True, highlight=False)
server_option = click.option(
    "--server",
    "servers",
    multiple=True,
    envvar="BATON_URL",
    help="A Baton server's address (repeat for several; the worker moves on when one is down).",
)
token_option = click.option("--token", envvar="BATON_API_KEY", help="API token.")
APP_FILES = ("main.py", "app.py", "workflows.py", "workflow.py")


@click.command()
@server_option
@token_option
@click.option(
    "--slots",
    default=8,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Attempts this worker computes at once (waiting parents do not count).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BATON_CACHE_DIR",
    help="Where deployed code and its virtual environments are cached "
    "[default: ~/.cache/baton/bundles].",
)
@click.option(
    "--heartbeat-s",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.1, 600),
    help="How often leases are renewed (keep it well under the server's --lease-s).",
)
@click.option(
    "--drain-s",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0, 86_400),
    help="On SIGTERM, how long running attempts may finish before they are killed.",
)
@click.option("--worker-id", help="A stable name for this worker (default: a random id).")
@click.option(
    "--plans",
    "plans_text",
    envvar="BATON_WORKER_PLANS",
    metavar="PLAN,...",
    help="Claim only runs on these plans, e.g. starter,standard (default: every plan).",
)
def worker(
    servers: tuple[str, ...],
    token: str | None,
    slots: int,
    cache_dir: Path | None,
    heartbeat_s: float,
    drain_s: float,
    worker_id: str | None,
    plans_text: str | None,
) -> None:
    """Run attempts for a Baton server (or several sharing one PostgreSQL database).

    The worker claims attempts under a lease it renews every --heartbeat-s, runs each in its
    own process and reports back over HTTP. Deployed code is fetched once per version and
    cached in --cache-dir. SIGTERM or Ctrl-C stops claiming and drains; a second one kills.
    """
    if not servers:
        raise click.UsageError("give the server: baton worker --server http://HOST:8000")
    plans = parse_plans(plans_text)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    try:
        aio.run(
            _run_worker(
                servers, token, slots, cache_dir, heartbeat_s, drain_s, worker_id, plans=plans
            )
        )
    except BatonError as exc:
        raise click.ClickException(exc.message) from exc
    except KeyboardInterrupt:
        pass


def parse_plans(text: str | None) -> tuple[str, ...] | None:
    """``--plans starter,standard`` as plan names (``None``: every plan)."""
    if text is None or not text.strip():
        return None
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [p for p in names if p not in PLANS]
    if unknown:
        raise click.BadParameter(
            f"unknown plan {', '.join(map(repr, unknown))}; choose from: {', '.join(PLANS)}",
            param_hint="--plans",
        )
    return names


async def _run_worker(
    servers: tuple[str, ...],
    token: str | None,
    slots: int,
    cache_dir: Path | None,
    heartbeat_s: float,
    drain_s: float,
    worker_id: str | None,
    *,
    plans: tuple[str, ...] | None = None,
) -> None:
    link = HttpLink(servers, token)
    agent = Worker(
        link,
        slots=slots,
        plans=plans,
        worker_id=worker_id,
        code_cache=CodeCache(cache_dir),
        heartbeat_s=heartbeat_s,
    )
    try:
        await link.heartbeat(agent.worker_id)  # fails fast on a bad token or no server
        console.print(
            f"[bold]Baton worker[/] {agent.worker_id}: {slots} slots"
            + (f", plans {','.join(plans)}" if plans is not None else "")
            + ", serving "
            + ", ".join(link.servers)
        )
        loop = asyncio.get_running_loop()
        drain = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, drain.set)
        runner = asyncio.create_task(agent.run())
        await drain.wait()
        console.print(f"draining: waiting up to {drain_s:.0f} s for running attempts")
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.cancel)
        await agent.drain(drain_s)
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    finally:
        await agent.stop()
        await link.aclose()


def _target(path: Path, app: str | None, command: str | None) -> tuple[Path, str, str]:
    """``(code dir, kind, target)`` for ``baton deploy``."""
    if path.is_file():
        if command:
            raise click.UsageError("--command needs a directory, not a file")
        return path.parent, "baton", path.name + (f":{app}" if app and ":" not in app else "")
    if not path.is_dir():
        raise click.BadParameter(f"{path} does not exist", param_hint="PATH")
    if command:
        return path, "command", command
    if app:
        return path, "baton", app
    found = [name for name in APP_FILES if (path / name).is_file()]
    if len(found) != 1:
        raise click.UsageError(
            f"cannot tell which file in {path} defines the Workflows app: pass --app FILE.py "
            "(or --command 'CMD' for a start command)"
        )
    return path, "baton", found[0]


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Workflow slug (tasks become NAME/<task>).")
@click.option("--app", help="The file or module defining the Workflows app, inside PATH.")
@click.option("--command", help="A start command (e.g. 'render-workflows main:app') instead.")
@server_option
@token_option
def deploy(
    path: Path,
    name: str,
    app: str | None,
    command: str | None,
    servers: tuple[str, ...],
    token: str | None,
) -> None:
    """Upload PATH's code as a new version of workflow NAME and make it current.

    PATH is a directory (packed whole, minus .git, caches and virtual environments) or a
    single .py file (its directory is packed). A requirements.txt in it is installed into a
    virtual environment per version, on the server and on each worker. Runs already started
    keep running the version they started with.
    """
    server = (servers or ("http://127.0.0.1:8000",))[0].rstrip("/")
    code_dir, kind, target = _target(path.resolve(), app, command)
    try:
        data = pack_dir(code_dir, max_bytes=MAX_BUNDLE_BYTES)
    except BundleError as exc:
        raise click.ClickException(exc.message) from exc
    digest = bundle_digest(data)
    console.print(f"packed {code_dir} ({len(data) / 1024:.1f} KiB, sha256 {digest[:12]})")
    headers = {"X-Bundle-Sha256": digest, "Content-Type": "application/gzip"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("uploading", total=len(data))

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(data), 256 * 1024):
                piece = data[i : i + 256 * 1024]
                progress.advance(bar, len(piece))
                yield piece

        async def upload() -> httpx.Response:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=900.0)) as client:
                return await client.post(
                    f"{server}/v1/bundles",
                    params={"workflow": name, "kind": kind, "target": target},
                    content=chunks(),
                    headers={**headers, "Content-Length": str(len(data))},
                )

        try:
            response = asyncio.run(upload())
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach {server}: {exc}") from exc
    if response.status_code != 201:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise click.ClickException(f"deploy failed ({response.status_code}): {message}")
    body = response.json()
    console.print(
        f"[green]deployed[/] {name} version {body['version_id']}: " + ", ".join(body["tasks"])
    )
    click.echo(body["version_id"])
