"""Render SDK conformance fixtures: each SDK version in its own cached virtual environment,
one Baton server per version, and one driver run of Render's own clients per version.

If PyPI cannot be reached the tests skip with the reason, except under ``CI=true``, where they
fail (see ``compat_support.py`` for where the environments are cached).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from compat_support import (
    DRIVER_TIMEOUT_S,
    HERE,
    SDKS,
    TOKEN,
    WORKFLOW,
    CompatServer,
    Sdk,
    command_server,
    ensure_venv,
)


@pytest.fixture(scope="session")
def sdk_venvs() -> dict[str, Path]:
    """All SDK environments, created in parallel on first use."""
    with concurrent.futures.ThreadPoolExecutor(len(SDKS)) as pool:
        futures = {sdk.id: pool.submit(ensure_venv, sdk) for sdk in SDKS}
        try:
            return {key: fut.result() for key, fut in futures.items()}
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            why = f"cannot install the Render SDKs from PyPI: {exc}"
            if os.environ.get("CI") == "true":
                pytest.fail(why)
            pytest.skip(why)


@pytest.fixture(scope="session", params=SDKS, ids=lambda sdk: sdk.id)
def compat_server(
    request: pytest.FixtureRequest,
    sdk_venvs: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CompatServer]:
    """One ``baton dev --command`` server per SDK version, running that version's fixture."""
    sdk: Sdk = request.param
    venv = sdk_venvs[sdk.id]
    scratch = tmp_path_factory.mktemp(sdk.id)
    with command_server(venv, sdk.fixture_dir, scratch) as url:
        yield CompatServer(sdk, venv, url, scratch)


@pytest.fixture(scope="session")
def report(compat_server: CompatServer) -> dict[str, Any]:
    """Every driver scenario, run once per SDK version with Render's own clients."""
    server = compat_server
    args = [server.python, str(HERE / "driver.py"), server.sdk.module, server.url, TOKEN]
    args += [WORKFLOW, server.sdk.style, str(server.scratch)]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=DRIVER_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, f"driver failed:\n{done.stdout}\n{done.stderr}"
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed
