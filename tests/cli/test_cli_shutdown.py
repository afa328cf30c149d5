"""``baton dev`` on SIGTERM: stops serving, shuts the engine down, exits 0 (systemd's stop)."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BATON_BIN = Path(sys.executable).parent / "baton"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_path.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"baton dev did not start:\n{log_path.read_text()}")


def _pids_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


def test_sigterm_shuts_the_engine_down_and_exits_0(tmp_path: Path) -> None:
    port = _free_port()
    db = tmp_path / "baton.db"
    db_url = f"sqlite:///{db}"
    log_path = tmp_path / "dev.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                BATON_BIN,
                "dev",
                ROOT / "examples" / "squares.py",
                "--port",
                str(port),
                "--db",
                db_url,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc, log_path)
            answer = httpx.post(
                f"{url}/v1/task-runs", json={"task": "squares/calculate_square", "input": [3]}
            )
            assert answer.status_code == 202
            zygotes = [p for p in _pids_with("baton.executor.zygote") if _parent(p) == proc.pid]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in zygotes) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in zygotes if Path(f"/proc/{p}").exists()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])
