"""Real ``baton serve`` and ``baton worker`` processes on 127.0.0.1 for the distributed tests.

Every wait is bounded; every process is killed at the end (``Cluster.close``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from baton.api.app import hash_token
from baton.store import open_store

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
BATON_BIN = str(Path(sys.executable).parent / "baton")
START_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Cluster:
    """Servers and workers sharing one database."""

    def __init__(self, tmp: Path, db_url: str, *, lease_s: float = 4.0) -> None:
        self.tmp = tmp
        self.db_url = db_url
        self.lease_s = lease_s
        self.procs: list[Proc] = []
        self.token = "bat_" + secrets.token_urlsafe(16)
        store = open_store(db_url)
        try:
            store.add_token("tests", hash_token(self.token))
        finally:
            store.close()
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.cache_dir = tmp / "cache"

    def _spawn(self, name: str, args: list[str]) -> Proc:
        log = self.tmp / f"{name}.log"
        env = {**os.environ, "NO_COLOR": "1", "BATON_API_KEY": self.token}
        env["BATON_CACHE_DIR"] = str(self.tmp / f"{name}-cache")  # never the user's own cache
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [BATON_BIN, *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def server(self, *extra: str, name: str | None = None) -> Proc:
        port = free_port()
        args = ["serve", "--no-worker", "--port", str(port), "--db", self.db_url]
        args += ["--lease-s", str(self.lease_s), *extra]
        proc = self._spawn(name or f"server{len(self.procs)}", args)
        proc.url = f"http://127.0.0.1:{port}"
        self._wait_healthy(proc)
        return proc

    def worker(
        self, *servers: Proc, slots: int = 8, name: str | None = None, plans: str | None = None
    ) -> Proc:
        args = ["worker", "--slots", str(slots), "--heartbeat-s", str(self.lease_s / 4)]
        args += ["--cache-dir", str(self.cache_dir)]
        if plans is not None:
            args += ["--plans", plans]
        for server in servers:
            args += ["--server", server.url]
        return self._spawn(name or f"worker{len(self.procs)}", args)

    def _wait_healthy(self, proc: Proc) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited:\n{proc.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{proc.url}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"{proc.name} did not become healthy:\n{proc.output()}")

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.kill9()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in self.procs)


def start_run(client: httpx.Client, task: str, value: Any) -> str:
    response = client.post("/v1/task-runs", json={"task": task, "input": value})
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    return run_id


def wait_until(check: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s} s waiting for {what}")
        time.sleep(0.1)
