"""Render SDK conformance helpers: cached SDK environments and Baton start-command servers.

The environments live in ``$BATON_COMPAT_CACHE`` (default ``~/.cache/baton-compat``), one per
SDK version and Python version, and are reused across runs. A missing one is created with
``python -m venv`` and ``pip install <sdk>==<version>`` from PyPI, bounded in time. If PyPI
cannot be reached the tests skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BATON_BIN = Path(sys.executable).parent / "baton"
INSTALL_TIMEOUT_S = 300.0
START_TIMEOUT_S = 60.0
DRIVER_TIMEOUT_S = 300.0
WORKFLOW = "compat"
TOKEN = "render-client-token"  # baton dev on 127.0.0.1 accepts any token
SECRET = "BATON_COMPAT_SECRET"  # set for the server; must never reach a task


@dataclass(frozen=True)
class Sdk:
    requirement: str  # what pip installs
    module: str  # what the clients import
    style: str  # "v0": tasks call each other; "v1": TaskContext first, ctx.run

    @property
    def id(self) -> str:
        return self.requirement.replace("==", "-")

    @property
    def fixture_dir(self) -> Path:
        return HERE / "fixtures" / self.style


SDKS = (
    Sdk("render_sdk==0.6.1", "render_sdk", "v0"),
    Sdk("render_sdk==0.8.0", "render_sdk", "v0"),
    Sdk("render==1.5.0", "render", "v1"),
)


def cache_root() -> Path:
    configured = os.environ.get("BATON_COMPAT_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "baton-compat"


def _venv_dir(sdk: Sdk) -> Path:
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    return cache_root() / f"{sdk.id}-{py}"


def _run(args: list[str], timeout_s: float) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")


def ensure_venv(sdk: Sdk) -> Path:
    """The virtual environment with ``sdk`` installed; created once, then reused."""
    venv = _venv_dir(sdk)
    done = venv / ".baton-compat-complete"
    if done.exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be creating the same one
        if done.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], 120)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        _run([*pip, "--disable-pip-version-check", sdk.requirement], INSTALL_TIMEOUT_S)
        done.write_text(sdk.requirement + "\n")
    return venv


@dataclass(frozen=True)
class CompatServer:
    sdk: Sdk
    venv: Path
    url: str
    scratch: Path

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def rest(self, path: str) -> Any:
        answer = httpx.get(f"{self.url}/v1{path}", timeout=10.0)
        answer.raise_for_status()
        return answer.json()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def command_server(
    venv: Path, code_dir: Path, scratch: Path, *, serve: bool = False
) -> Iterator[str]:
    """``baton dev`` (or ``baton serve``) ``--command "render-workflows main:app" DIR``."""
    port = free_port()
    db = f"sqlite:///{scratch / 'baton.db'}"
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "NO_COLOR": "1",
        SECRET: "must-not-leak",
    }
    cmd = "dev" if not serve else "serve"
    args = [str(BATON_BIN), cmd, "--command", "render-workflows main:app", str(code_dir)]
    args += ["--name", WORKFLOW, "--port", str(port), "--db", db]
    log_path = scratch / f"baton-{cmd}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=scratch, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc, log_path)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"baton exited with {proc.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    pytest.fail(f"baton did not answer within {START_TIMEOUT_S} s:\n{log_path.read_text()}")
