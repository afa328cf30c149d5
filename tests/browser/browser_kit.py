"""Helpers for the browser tests: screenshots and ``baton dev``/``baton serve`` subprocesses."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def shoot(page: Any, name: str) -> None:
    """Save a full-page screenshot as a test artifact (test-artifacts/, gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


BATON = str(Path(sys.executable).with_name("baton"))
FLOWS = ROOT / "tests" / "fixtures" / "dashboard_flows.py"
DEADLINE_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def baton_server(command: str, db_path: Path) -> Iterator[str]:
    """``baton dev`` or ``baton serve`` with ``dashboard_flows.py`` on a free port; its URL."""
    port = _free_port()
    db_url = f"sqlite:///{db_path}"
    args = [BATON, command]
    args += [str(FLOWS)] if command == "dev" else ["--app", str(FLOWS)]
    args += ["--name", "flows", "--port", str(port), "--db", db_url, "--concurrency", "8"]
    log_path = db_path.with_suffix(".log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + DEADLINE_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"baton {command} exited:\n{log_path.read_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"baton {command} did not start:\n{log_path.read_text()}")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def create_token(db_path: Path) -> str:
    """``baton token create`` on the database; the printed token."""
    out = subprocess.run(
        [BATON, "token", "create", "--db", f"sqlite:///{db_path}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip().splitlines()[0]
