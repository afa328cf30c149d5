"""Starts `baton dev` with the benchmark workflows in its own process on a free port."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
BATON = str(Path(sys.executable).with_name("baton"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    concurrency: int = 20, workflow: str = "workflows.py", db_url: str | None = None
) -> Iterator[tuple[str, str]]:
    """Yields ``(url, db)`` of a running ``baton dev`` (SQLite in a temp dir unless
    ``db_url`` names another database)."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        db = f"{tmp}/bench.db"
        proc = subprocess.Popen(
            [
                BATON,
                "dev",
                str(HERE / workflow),
                "--name",
                "bench",
                "--port",
                str(port),
                "--db",
                db_url or f"sqlite:///{db}",
                "--concurrency",
                str(concurrency),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "server.log"), "w"),  # noqa: SIM115
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/v1/tasks").json():
                        break
                if proc.poll() is not None:
                    raise RuntimeError(Path(tmp, "server.log").read_text())
                time.sleep(0.05)
            yield url, db_url or db
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.1f} ms  p99 {percentile(values, 99):.1f} ms  "
        f"mean {statistics.fmean(values):.1f} ms"
    )
