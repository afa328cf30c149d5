"""``baton deploy``: bundles stored in the database, fetched and cached by workers, with a
virtual environment per version; runs keep the version they started with."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest
from cluster import BATON_BIN, Cluster, start_run, wait_until

pytestmark = pytest.mark.slow

APP = """
import time
import tinydep
from baton import Workflows

app = Workflows()

@app.task
def which(delay: float) -> str:
    time.sleep(delay)
    return "{tag}-" + str(tinydep.VALUE)
"""


def _wheel(dest: Path, value: int) -> str:
    name = "tinydep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(dest / name, "w") as whl:
        whl.writestr("tinydep/__init__.py", f"VALUE = {value}\n")
        whl.writestr(
            "tinydep-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n"
        )
        whl.writestr(
            "tinydep-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr("tinydep-1.0.dist-info/RECORD", "")
    return name


def _project(root: Path, tag: str, value: int, requirement: str | None = None) -> Path:
    root.mkdir()
    (root / "main.py").write_text(APP.replace("{tag}", tag))
    wheel = _wheel(root, value)
    (root / "requirements.txt").write_text((requirement or f"./{wheel}") + "\n")
    return root


def _deploy(cluster: Cluster, url: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            BATON_BIN,
            "deploy",
            str(path),
            "--name",
            "proj",
            "--server",
            url,
            "--token",
            cluster.token,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _result(client: httpx.Client, run_id: str) -> object:
    body = client.get(f"/v1/task-runs/{run_id}").json()
    return body if body["status"] in ("completed", "failed") else None


def test_runs_keep_their_version_while_a_new_one_deploys(
    sqlite_cluster: Cluster, tmp_path: Path
) -> None:
    server = sqlite_cluster.server()
    sqlite_cluster.worker(server, slots=2)
    first = _deploy(sqlite_cluster, server.url, _project(tmp_path / "v1", "v1", 1))
    assert first.returncode == 0, first.stderr
    with httpx.Client(base_url=server.url, headers=sqlite_cluster.headers, timeout=30) as client:
        old = start_run(client, "proj/which", [3.0])
        wait_until(
            lambda: client.get(f"/v1/task-runs/{old}").json()["status"] == "running",
            timeout_s=120,
            what="the v1 run to start",
        )
        second = _deploy(sqlite_cluster, server.url, _project(tmp_path / "v2", "v2", 2))
        assert second.returncode == 0, second.stderr
        new = start_run(client, "proj/which", [0.0])
        old_body = wait_until(lambda: _result(client, old), timeout_s=120, what="v1 run")
        new_body = wait_until(lambda: _result(client, new), timeout_s=120, what="v2 run")
    assert old_body["results"] == ["v1-1"], (old_body, sqlite_cluster.logs())
    assert new_body["results"] == ["v2-2"], (new_body, sqlite_cluster.logs())
    cached = [p for p in (sqlite_cluster.cache_dir).iterdir() if p.is_dir()]
    assert len(cached) == 2 and all((p / "venv").is_dir() for p in cached)


def test_deploy_with_an_uninstallable_requirement_fails_with_pips_output(
    sqlite_cluster: Cluster, tmp_path: Path
) -> None:
    server = sqlite_cluster.server()
    bad = _project(tmp_path / "bad", "x", 0, requirement="./no-such-package-here.whl")

    done = _deploy(sqlite_cluster, server.url, bad)

    assert done.returncode == 1
    assert "installing requirements.txt failed" in done.stderr
    assert "no-such-package-here" in done.stderr
