"""``LocalProcessExecutor`` with real processes: every way an attempt ends is a ``RunResult``."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from baton.executor.process import LocalProcessExecutor, RunRequest
from baton.executor.protocol import AttemptServer, Request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KILL_AT_SPAWN_TRIES = 20


async def poll(check: Callable[[], object], *, what: str, timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() >= deadline:
            raise AssertionError(f"gave up after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Not tmp_path: a Unix socket path must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="baton-exe-") as directory:
        yield Path(directory)


@pytest.fixture
async def executor() -> AsyncIterator[LocalProcessExecutor]:
    executor = LocalProcessExecutor()
    try:
        yield executor
    finally:
        await executor.close()


def command(workdir: Path, code: str, *, timeout_s: float = 60.0) -> RunRequest:
    """A cold-started attempt running ``python -c code``."""
    return RunRequest(
        run_id="trn-command",
        attempt=0,
        version_id="ver-command",
        kind="command",
        target=f"python -c {code!r}",
        code_dir=str(workdir),
        socket_path=str(workdir / "a.sock"),
        stdout_path=str(workdir / "a.out"),
        stderr_path=str(workdir / "a.err"),
        timeout_s=timeout_s,
        argv=(sys.executable, "-c", code),
    )


def workflow(workdir: Path, target: str) -> RunRequest:
    """An attempt of a Baton workflow in tests/fixtures, forked from its zygote."""
    return RunRequest(
        run_id="trn-workflow",
        attempt=0,
        version_id=f"ver-{target}",
        kind="baton",
        target=target,
        code_dir=str(FIXTURES),
        socket_path=str(workdir / "w.sock"),
        stdout_path=str(workdir / "w.out"),
        stderr_path=str(workdir / "w.err"),
    )


async def test_crashed_command_yields_exited_with_its_status(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    spawned: list[int] = []

    result = await executor.start(command(workdir, "import os; os._exit(3)"), spawned.append)

    assert result.reason == "exited"
    assert result.exit_code == 3
    assert result.signal is None
    assert result.pid is not None
    assert spawned == [result.pid]


async def test_command_killed_by_a_signal_yields_exited_with_the_signal(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"

    result = await executor.start(command(workdir, code), lambda pid: None)

    assert result.reason == "exited"
    assert result.signal == 9
    assert result.exit_code == -9


async def test_command_that_cannot_be_executed_yields_a_result(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    req = command(workdir, "unused")
    missing = RunRequest(**{**req.__dict__, "argv": (str(workdir / "no-such-program"),)})

    result = await executor.start(missing, lambda pid: None)

    assert result.reason == "exited"
    assert result.exit_code not in (None, 0)
    assert "no-such-program" in (workdir / "a.err").read_text()


async def test_workflow_task_exiting_hard_yields_exited_with_its_status(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    async def attempt_input(request: Request) -> dict[str, Any]:
        return {
            "task_name": "exits_hard",
            "input": base64.b64encode(json.dumps([]).encode()).decode(),
            "task_run_id": "trn-workflow",
            "root_task_run_id": "trn-workflow",
        }

    req = workflow(workdir, "bad_flows.py")
    server = AttemptServer(req.socket_path, {("GET", "/input"): attempt_input})
    await server.start()
    try:
        result = await executor.start(req, lambda pid: None)
    finally:
        await server.close()

    assert result.reason == "exited"
    assert result.exit_code == 3


async def test_workflow_that_fails_to_import_yields_spawn_failed(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    result = await executor.start(workflow(workdir, "broken_flows.py"), lambda pid: None)

    assert result.reason == "spawn_failed"
    assert result.pid is None
    assert "broken on purpose" in (result.error or "")


async def test_attempt_past_its_timeout_is_killed_with_reason_timeout(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    req = command(workdir, "import time; time.sleep(60)", timeout_s=0.5)

    result = await executor.start(req, lambda pid: None)

    assert result.reason == "timeout"
    assert result.signal == 9
    assert result.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(result.pid, 0)


async def test_killed_attempt_yields_reason_canceled(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    ready = workdir / "ready"
    code = f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    req = command(workdir, code)
    attempt = asyncio.create_task(executor.start(req, lambda pid: None))
    await poll(ready.exists, what="the attempt process to start its code")
    pid = executor.pid_of(req.run_id)
    assert pid is not None

    assert executor.kill(req.run_id)
    result = await asyncio.wait_for(attempt, 10)

    assert result.reason == "canceled"
    assert result.pid == pid
    assert result.signal == 9
    assert executor.pid_of(req.run_id) is None
    assert not executor.kill(req.run_id)


async def test_kill_issued_as_soon_as_the_attempt_spawns_stops_it(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    # on_spawn fires when the zygote reports the fork, which can be before the child has
    # moved into its own process group; a kill at that moment must not be lost. The window
    # is narrow, so the test tries it several times.
    for attempt in range(KILL_AT_SPAWN_TRIES):
        req = replace(command(workdir, "import time; time.sleep(60)"), attempt=attempt)
        killed: list[bool] = []

        def kill_now(pid: int, run_id: str = req.run_id, killed: list[bool] = killed) -> None:
            killed.append(executor.kill(run_id))

        try:
            result = await asyncio.wait_for(executor.start(req, kill_now), 5)
        except TimeoutError:
            pytest.fail(f"try {attempt}: a kill issued at spawn was lost; the process lived on")

        assert killed == [True]
        assert result.reason == "canceled"
        assert result.signal == 9


ISOLATION_FLOWS = """
import json, os, random, resource, signal, sys
from baton import Workflows

app = Workflows()


@app.task
def report() -> None:
    print(json.dumps({
        "random": random.random(),
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "env": os.environ.get("BATON_TEST_ENV_X"),
        "env_socket": os.environ.get("RENDER_SDK_SOCKET_PATH"),
        "rlimit_data": resource.getrlimit(resource.RLIMIT_DATA)[0],
        "sigint": signal.getsignal(signal.SIGINT) == signal.SIG_DFL,
        "sigterm": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
        "stdin": sys.stdin.read(),
    }))
    print("to stderr", file=sys.stderr)
"""


async def test_each_forked_attempt_is_isolated_and_freshly_seeded(
    executor: LocalProcessExecutor, workdir: Path
) -> None:
    (workdir / "isolation_flows.py").write_text(ISOLATION_FLOWS)

    async def attempt_input(request: Request) -> dict[str, Any]:
        return {"task_name": "report", "input": "", "task_run_id": "t", "root_task_run_id": "t"}

    async def callback(request: Request) -> dict[str, Any]:
        return {}

    reports = []
    for attempt in range(2):
        req = RunRequest(
            run_id=f"trn-iso-{attempt}",
            attempt=attempt,
            version_id="ver-isolation",
            kind="baton",
            target="isolation_flows.py:app",
            code_dir=str(workdir),
            socket_path=str(workdir / f"{attempt}.sock"),
            stdout_path=str(workdir / f"{attempt}.out"),
            stderr_path=str(workdir / f"{attempt}.err"),
            memory_bytes=1 << 30,
            env={"BATON_TEST_ENV_X": f"value-{attempt}"},
        )
        routes = {("GET", "/input"): attempt_input, ("POST", "/callback"): callback}
        server = AttemptServer(req.socket_path, routes)
        await server.start()
        try:
            result = await executor.start(req, lambda pid: None)
        finally:
            await server.close()
        assert (result.reason, result.exit_code) == ("exited", 0)
        report = json.loads((workdir / f"{attempt}.out").read_text())
        assert report["pid"] == result.pid
        assert "to stderr" in (workdir / f"{attempt}.err").read_text()
        reports.append(report)

    assert reports[0]["random"] != reports[1]["random"]
    for attempt, report in enumerate(reports):
        assert report["pgid"] == report["pid"]
        assert report["env"] == f"value-{attempt}"
        assert report["env_socket"] == str(workdir / f"{attempt}.sock")
        assert report["rlimit_data"] == 1 << 30
        assert report["sigint"] and report["sigterm"]
        assert report["stdin"] == ""
