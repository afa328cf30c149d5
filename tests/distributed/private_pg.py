"""A throwaway PostgreSQL cluster (initdb + pg_ctl on a free port in a temp dir) that a test
may restart without disturbing the machine's shared server."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cluster import free_port

from pg_support import unavailable


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if not path:
        unavailable(f"{name} not found (install the PostgreSQL server package)")
    assert path is not None
    return path


class PrivatePostgres:
    def __init__(self) -> None:
        # Not under pytest's tmp_path: its parents are private to root, and initdb refuses
        # root, so the cluster belongs to the postgres user.
        self.base = Path(tempfile.mkdtemp(prefix="baton-pg-"))
        self.dir = self.base / "pgdata"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")

    def _run(self, *argv: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else list(argv)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            unavailable(f"{' '.join(argv[:2])} failed: {done.stderr.strip()[-500:]}")

    def start(self) -> None:
        if not self.dir.exists():
            self._run(_bin("initdb"), "-D", str(self.dir), "-U", "postgres", "-A", "trust")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str) -> None:
        opts = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _bin("pg_ctl"),
            action,
            "-D",
            str(self.dir),
            "-w",
            "-t",
            "60",
            "-m",
            "fast",
            "-l",
            str(self.dir.parent / "pg.log"),
            "-o",
            opts,
        )

    def restart(self) -> None:
        self._pg_ctl("restart")

    def stop(self) -> None:
        if (self.dir / "postmaster.pid").exists():
            self._run(
                _bin("pg_ctl"), "stop", "-D", str(self.dir), "-w", "-t", "30", "-m", "immediate"
            )
        shutil.rmtree(self.base, ignore_errors=True)
