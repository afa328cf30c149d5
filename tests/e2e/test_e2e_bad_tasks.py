"""Misbehaving tasks fail cleanly with a recorded cause; the engine carries on."""

from __future__ import annotations

from e2e_support import StartEngine, final_run, poll

from baton.core.models import RunStatus


async def test_task_returning_a_set_fails_as_not_json_serializable(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("bad_flows")

    run = engine.services.start_run("bad_flows/returns_a_set", [])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.FAILED
    assert "not JSON serializable" in (done.error or "")
    assert "set" in (done.error or "")
    assert len(done.attempts) == 1


async def test_calling_an_unknown_task_fails_with_a_recorded_client_error(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("bad_flows")

    run = engine.services.start_run("bad_flows/calls_unknown_task", [])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.FAILED
    assert done.error_type == "ClientError"
    assert "ghost" in (done.error or "")
    assert done.traceback is not None
    assert engine.store.children(run.id) == []


async def test_process_exiting_without_a_result_fails_with_its_exit_status(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine("bad_flows")

    run = engine.services.start_run("bad_flows/exits_hard", [])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.FAILED
    assert done.error_type == "ProcessExited"
    assert "exited with status 3" in (done.error or "")
    assert done.attempts[0].exit_code == 3


async def test_engine_keeps_running_tasks_after_a_crash(start_engine: StartEngine) -> None:
    engine = await start_engine("bad_flows")
    crashed = engine.services.start_run("bad_flows/exits_hard", [])
    await final_run(engine, crashed.id)

    run = engine.services.start_run("bad_flows/chatty", [])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.COMPLETED
    assert done.results == ["done"]


async def test_task_output_is_stored_as_log_lines_by_stream(start_engine: StartEngine) -> None:
    engine = await start_engine("bad_flows")

    run = engine.services.start_run("bad_flows/chatty", [])
    done = await final_run(engine, run.id)
    assert done.status == RunStatus.COMPLETED

    # The lines reach the store when the attempt's process has exited, which can be just
    # after the run completes.
    def all_lines() -> list[tuple[str, str]]:
        lines = [(log.stream, log.line) for log in engine.store.get_logs(run.id)]
        return lines if len(lines) >= 3 else []

    lines = await poll(all_lines, timeout_s=10, what="the chatty task's log lines")
    stdout = [line for stream, line in lines if stream == "stdout"]
    stderr = [line for stream, line in lines if stream == "stderr"]
    assert stdout == ["hello from stdout", "second stdout line"]
    assert stderr == ["trouble on stderr"]
    assert {log.attempt for log in engine.store.get_logs(run.id)} == {0}
