"""`make demo`: start Baton on embedded SQLite, run every example through the REST API.

Runs the API, scheduler and worker in this process (what `baton dev` does),
registers the example workflows, triggers each example with the async Python client, prints
the results, and then keeps serving until Ctrl-C when run from a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time
from pathlib import Path

from rich.console import Console

from baton import BatonAsync, TaskRunError
from baton.server import Engine, Target, serve_http

HERE = Path(__file__).resolve().parent
EXAMPLES = {
    "squares": "squares.py",
    "photos": "photos.py",
    "coin": "coin.py",
    "agent": "agent.py",
}
RUNS = [
    ("squares/sum_squares", [3, 4]),
    ("photos/process_photo_upload", [[f"IMG_{i:04d}" for i in range(1, 9)]]),
    ("coin/flip_coin", []),
    ("agent/research_agent", {"question": "How do queues, retries and chains work?"}),
]
console = Console(highlight=False, width=100)


def _free_port(preferred: int = 8000) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port on 127.0.0.1")


async def _run_examples(url: str) -> bool:
    ok = True
    async with BatonAsync(base_url=url) as client:
        started = [(slug, await client.workflows.start_task(slug, args)) for slug, args in RUNS]
        for slug, awaitable in started:
            t0 = time.perf_counter()
            try:
                details = await awaitable
            except TaskRunError as exc:
                console.print(f"[red]✗[/] {slug}: {exc.message}")
                ok = False
                continue
            result = details.results[0] if len(details.results) == 1 else details.results
            tree = await client.workflows.list_task_runs(root_task_run_id=details.id, limit=100)
            console.print(
                f"[green]✓[/] [bold]{slug}[/] → {json.dumps(result)}\n"
                f"    {details.id}: {len(details.attempts)} attempt(s), "
                f"{len(tree) - 1} chained run(s), waited {time.perf_counter() - t0:.2f}s"
            )
    return ok


async def main() -> int:
    db = HERE.parent / ".baton" / "demo.db"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    engine = Engine(f"sqlite:///{db}")
    async with engine:
        for slug, filename in EXAMPLES.items():
            tasks = await engine.register(Target.app(str(HERE / filename)), slug)
            console.print(f"registered [bold]{slug}[/]: {', '.join(t.name for t in tasks)}")
        server = asyncio.create_task(serve_http(engine, "127.0.0.1", port, require_token=False))
        for _ in range(100):  # wait until uvicorn accepts connections
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            await asyncio.sleep(0.05)
        console.print(f"\nRunning the examples through the REST API at {url}/v1 …\n")
        ok = await _run_examples(url)
        console.print(
            f"\nDashboard: [bold]{url}/[/]   runs, timelines and logs; also {url}/tasks, "
            f"{url}/workers, {url}/metrics"
        )
        console.print(f"Server: [bold]{url}[/]   browse the API: {url}/docs   database: {db}")
        console.print("Try it:  .venv/bin/baton run squares/sum_squares '[5, 12]' --url " + url)
        if sys.stdin.isatty():
            console.print("Serving until Ctrl-C …")
            with contextlib.suppress(asyncio.CancelledError):
                await server
        else:  # not a terminal (CI, a pipe): stop, and say how to browse these runs later
            console.print(
                "Not a terminal, so the server stops now. To browse these runs: "
                f".venv/bin/baton dev examples/squares.py --db sqlite:///{db}"
            )
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
    return 0 if ok else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
