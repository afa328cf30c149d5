"""Start commands with the real Render SDK (1.5.0): warm and cold starts, a broken module, and
``baton serve --command DIR`` behind a real API token."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from compat_support import BATON_BIN, HERE, TOKEN, WORKFLOW, command_server

from baton.api.schemas import task_run
from baton.errors import RegistrationFailed
from baton.server import Engine, Target

V1 = "render-1.5.0"
FIXTURE = HERE / "fixtures" / "v1"
pytestmark = pytest.mark.timeout(900)  # a first run creates the SDK environments


@pytest.fixture
def venv(sdk_venvs: dict[str, Path]) -> Path:
    return sdk_venvs[V1]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    started = Engine(f"sqlite:///{tmp_path / 'baton.db'}")
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


async def _square(engine: Engine, target: Target) -> dict[str, Any]:
    await engine.register(target, WORKFLOW)
    run = engine.services.start_run(f"{WORKFLOW}/square", [6])
    ended = await engine.services.wait_final(run.id, 60)
    assert ended.status.is_final
    return task_run(engine.services.get_run(run.id), details=True)


async def test_render_workflows_command_starts_attempts_from_a_warm_zygote(
    engine: Engine, venv: Path
) -> None:
    run = await _square(engine, Target.command(f"{venv}/bin/render-workflows main:app", FIXTURE))

    assert run["results"] == [36]
    startup = run["attempts"][0]["startup"]
    assert startup["preloaded"] is True  # the SDK was imported before the fork
    assert startup["sdkImportS"] == 0.0


async def test_any_other_command_is_spawned_cold_with_the_sdk_imported_per_attempt(
    engine: Engine, venv: Path
) -> None:
    run = await _square(engine, Target.command(f"{venv}/bin/python main.py", FIXTURE))

    assert run["results"] == [36]
    startup = run["attempts"][0]["startup"]
    assert startup["preloaded"] is False
    assert startup["sdkImportS"] > 0
    assert set(run["attempts"][0]["timings"]) >= {
        "forked_at",
        "sdk_import_started_at",
        "sdk_import_finished_at",
        "sdk_started_at",
        "input_at",
    }


async def test_module_that_fails_to_import_fails_registration_with_its_output(
    engine: Engine, venv: Path, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("raise RuntimeError('broken at import')\n")

    with pytest.raises(RegistrationFailed) as failed:
        await engine.register(Target.command(f"{venv}/bin/render-workflows main:app", code), "x")

    assert "broken at import" in failed.value.message
    assert "exited with status 1" in failed.value.message


def test_serve_with_command_and_dir_answers_render_clients_with_a_real_token(
    venv: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'baton.db'}"
    token = subprocess.run(
        [str(BATON_BIN), "token", "create", "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()

    with command_server(venv, FIXTURE, tmp_path, serve=True) as url:
        good = _drive(venv, url, token, tmp_path)
        bad = _drive(venv, url, TOKEN, tmp_path)

    assert good["plain_result"]["value"]["results"] == [49]
    assert bad["plain_result"]["error"]["type"] == "ClientError"
    assert "missing or invalid API token" in bad["plain_result"]["error"]["message"]


def _drive(venv: Path, url: str, token: str, scratch: Path) -> dict[str, Any]:
    args = [str(venv / "bin" / "python"), str(HERE / "driver.py"), "render", url, token]
    args += [WORKFLOW, "v1", str(scratch)]
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "COMPAT_ONLY": "plain_result"},
    )
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed
