"""When the worker records an attempt's process start: with the outcome of a short attempt
(one write), a moment after the start for a longer one (its pid shows while it runs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import StartEngine, final_run, poll

from baton.core.models import RunStatus
from baton.server import Engine
from baton.worker import agent
from baton.worker.link import Report


def _record_reports(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Report]]:
    assert engine.worker is not None
    link = engine.worker.link
    seen: list[tuple[str, Report]] = []
    report = link.report

    async def recording(run_id: str, attempt: int, worker_id: str, batch: Report) -> bool:
        seen.append((run_id, batch))
        return await report(run_id, attempt, worker_id, batch)

    monkeypatch.setattr(link, "report", recording)
    return seen


async def test_a_short_attempt_sends_its_start_with_its_outcome(
    start_engine: StartEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The outcome surely comes first: before the start's own report, and before the log flush
    # (which would carry the pid along) on a machine slow enough to take half a second.
    monkeypatch.setattr(agent, "START_REPORT_DELAY_S", 60.0)
    monkeypatch.setattr(agent, "LOG_FLUSH_S", 60.0)
    engine = await start_engine("chain_flows")
    seen = _record_reports(engine, monkeypatch)

    run = engine.services.start_run("chain_flows/calculate_square", [3])
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.COMPLETED
    [(_, report)] = [(r, b) for r, b in seen if r == run.id]
    assert report.outcome is not None and report.outcome.ok
    [attempt] = done.attempts
    assert report.pid == attempt.pid is not None
    assert attempt.timings is not None and "forked_at" in attempt.timings


async def test_a_longer_attempt_shows_its_pid_while_it_runs(
    start_engine: StartEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(agent, "START_REPORT_DELAY_S", 0.05)
    engine = await start_engine("durable_flows")
    gate = tmp_path / "gate"

    run = engine.services.start_run("durable_flows/gated_double", [1, str(gate)])
    pid = await poll(
        lambda: (a := engine.store.get_run(run.id).attempts) and a[0].pid,
        timeout_s=30,
        what="the running attempt's pid",
    )
    assert engine.store.get_run(run.id).status == RunStatus.RUNNING
    gate.write_text("open")
    done = await final_run(engine, run.id)

    assert done.status == RunStatus.COMPLETED
    assert done.attempts[0].pid == pid
