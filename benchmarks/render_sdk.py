"""Render SDK start commands: trigger-to-result latency of a no-op task written with
``render==1.5.0``, started from a warm zygote (``render-workflows main:app``) and cold (the same
script run as ``python render-workflows main:app``, so every attempt starts a new interpreter),
and the part of a cold start spent importing the SDK, from the timestamps the SDK sends.

The SDK is installed from PyPI into the same cached environment the conformance tests use
(``~/.cache/baton-compat``); without PyPI the benchmark prints why and reports nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from harness import BATON, free_port, percentile, summary

from baton import BatonAsync

RUNS = 40
WARMUP = 3
SDK = "render==1.5.0"
CODE = Path(__file__).resolve().parent / "render_workflow"
INSTALL_TIMEOUT_S = 300


def sdk_venv() -> Path:
    """The cached environment with ``render==1.5.0`` (shared with tests/compat)."""
    root = Path(os.environ.get("BATON_COMPAT_CACHE") or Path.home() / ".cache" / "baton-compat")
    venv = root / f"render-1.5.0-py{sys.version_info.major}{sys.version_info.minor}"
    if not (venv / ".baton-compat-complete").exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", SDK],
            check=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        (venv / ".baton-compat-complete").write_text(SDK + "\n")
    return venv


@contextlib.contextmanager
def command_server(command: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        args = [BATON, "dev", "--command", command, str(CODE), "--name", "bench"]
        args += ["--port", str(port), "--db", f"sqlite:///{tmp}/bench.db"]
        with open(os.path.join(tmp, "server.log"), "w") as log:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
            url = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{url}/v1/tasks").json():
                            break
                    if proc.poll() is not None:
                        raise RuntimeError(Path(tmp, "server.log").read_text())
                    time.sleep(0.05)
                yield url
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


async def measure(command: str) -> tuple[list[float], list[dict[str, float]]]:
    """Latencies (ms) of sequential no-op runs and each run's start-up breakdown."""
    with command_server(command) as url:
        async with BatonAsync(base_url=url) as client:
            for _ in range(WARMUP):
                await client.workflows.run_task("bench/noop")
            latencies, ids = [], []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                run = await client.workflows.run_task("bench/noop")
                latencies.append((time.perf_counter() - t0) * 1000)
                ids.append(run.id)
        async with httpx.AsyncClient(base_url=url) as http:
            startups = [
                (await http.get(f"/v1/task-runs/{i}")).json()["attempts"][0].get("startup", {})
                for i in ids
            ]
    return latencies, startups


def mean_ms(startups: list[dict[str, float]], key: str) -> float:
    values = [s[key] * 1000 for s in startups if key in s]
    return statistics.fmean(values) if values else float("nan")


async def main() -> dict[str, float]:
    try:
        venv = sdk_venv()
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"render_sdk  skipped: cannot install {SDK} from PyPI ({exc})")
        return {}
    script = venv / "bin" / "render-workflows"
    warm, warm_startup = await measure(f"{script} main:app")
    cold, cold_startup = await measure(f"{venv / 'bin' / 'python'} {script} main:app")
    print(f"render_sdk  {RUNS} sequential no-op runs ({SDK}), trigger to result:")
    print(f"  warm zygote   {summary(warm)}")
    print(f"  cold command  {summary(cold)}")
    print("  start-up, fork to GET /input (mean): ")
    for name, startups in (("warm", warm_startup), ("cold", cold_startup)):
        parts = {k: mean_ms(startups, k) for k in ("totalS", "processS", "sdkImportS")}
        rest = {k: mean_ms(startups, k) for k in ("appImportS", "inputS")}
        print(
            f"    {name}  total {parts['totalS']:.1f} ms = process {parts['processS']:.1f}"
            f" + SDK import {parts['sdkImportS']:.1f} + app import {rest['appImportS']:.1f}"
            f" + run() to GET /input {rest['inputS']:.1f} ms"
        )
    return {
        "render_warm_p50_ms": percentile(warm, 50),
        "render_cold_p50_ms": percentile(cold, 50),
        "render_cold_sdk_import_ms": mean_ms(cold_startup, "sdkImportS"),
    }


if __name__ == "__main__":
    asyncio.run(main())
