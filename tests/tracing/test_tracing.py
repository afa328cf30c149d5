"""OpenTelemetry spans of a real engine's runs, exported to the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from baton.core.models import Run
from baton.server import Engine, Target
from baton.services import EngineConfig
from baton.store.base import RunFilter
from baton.tracing import (
    AttemptTracer,
    TracingUnavailable,
    attempt_span_id,
    run_span_id,
    start_tracing,
    trace_id_for,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> AsyncIterator[Callable[[str], Any]]:
    """``engine, tracer = await traced("chain_flows")``: an engine exporting to ``exporter``."""
    engines: list[Engine] = []

    async def start(flows: str) -> tuple[Engine, AttemptTracer]:
        engine = Engine(f"sqlite:///{tmp_path / 'baton.db'}", config=EngineConfig(concurrency=8))
        engine.tracing = start_tracing(engine.services, exporter)
        engines.append(engine)
        await engine.start()
        await engine.register(Target.app(str(FIXTURES / f"{flows}.py")), flows)
        return engine, engine.tracing

    yield start
    for engine in engines:
        await engine.stop()


async def _final(engine: Engine, run_id: str) -> Run:
    run = await engine.services.wait_final(run_id, 30.0)
    assert run.status.is_final, f"run {run_id} still {run.status}"
    return engine.services.get_run(run_id)


async def _exported(tracer: AttemptTracer, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Every span once no attempt waits for its process's exit report any more."""
    deadline = time.monotonic() + 15.0
    while tracer.waiting_for_exit and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not tracer.waiting_for_exit, "exit reports did not arrive"
    assert await asyncio.to_thread(tracer.flush)
    return list(exporter.get_finished_spans())


def _by_id(spans: Sequence[ReadableSpan]) -> dict[int, ReadableSpan]:
    out = {}
    for span in spans:
        assert span.context is not None
        out[span.context.span_id] = span
    return out


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_fan_out_spans_share_one_trace_parented_along_the_chain(
    traced: Callable[[str], Any], exporter: InMemorySpanExporter
) -> None:
    engine, tracer = await traced("chain_flows")
    root = await _final(engine, engine.services.start_run("chain_flows/fan_sum", [3]).id)
    listed = engine.services.list_runs(RunFilter(parent_id=[root.id]), limit=10)
    children = [engine.services.get_run(r.id) for r, _ in listed]
    assert len(children) == 3

    spans = await _exported(tracer, exporter)

    assert len(spans) == 8  # a run span and an attempt span per run
    assert {s.context.trace_id for s in spans if s.context} == {trace_id_for(root.id)}
    by_id = _by_id(spans)
    root_run, root_attempt = by_id[run_span_id(root.id)], by_id[attempt_span_id(root.id, 0)]
    assert root_run.name == "run chain_flows/fan_sum" and root_run.parent is None
    assert root_attempt.name == "chain_flows/fan_sum"
    assert _parent_id(root_attempt) == run_span_id(root.id)
    for child in children:
        run_span = by_id[run_span_id(child.id)]
        attempt_span = by_id[attempt_span_id(child.id, 0)]
        assert _parent_id(run_span) == attempt_span_id(root.id, 0)
        assert _parent_id(attempt_span) == run_span_id(child.id)
        assert attempt_span.name == "chain_flows/identity"
        attempt = child.attempts[0]
        assert attempt_span.start_time == int(attempt.started_at.timestamp() * 1e9)
        assert attempt.completed_at is not None
        assert attempt_span.end_time == int(attempt.completed_at.timestamp() * 1e9)
        attrs = attempt_span.attributes or {}
        assert attrs["baton.run_id"] == child.id
        assert attrs["baton.parent_run_id"] == root.id
        assert attrs["baton.attempt"] == 0
        assert attrs["baton.status"] == "completed"
        assert attrs["baton.plan"] == child.plan
        assert attrs["process.pid"] == attempt.pid
        assert attrs["process.exit_code"] == 0
        assert isinstance(attrs["baton.cpu_s"], float)
        assert isinstance(attrs["baton.peak_rss_kb"], int)
        assert isinstance(attrs["baton.queued_s"], float) and attrs["baton.queued_s"] >= 0


async def test_retried_run_yields_one_span_per_attempt(
    traced: Callable[[str], Any], exporter: InMemorySpanExporter, tmp_path: Path
) -> None:
    engine, tracer = await traced("flaky_flows")
    run = engine.services.start_run("flaky_flows/flaky", [str(tmp_path / "attempts")])
    done = await _final(engine, run.id)
    assert done.attempt_count == 3

    spans = await _exported(tracer, exporter)

    attempts = sorted(
        (s for s in spans if s.name == "flaky_flows/flaky"),
        key=lambda s: (s.attributes or {})["baton.attempt"],
    )
    assert [(s.attributes or {})["baton.attempt"] for s in attempts] == [0, 1, 2]
    assert [(s.attributes or {})["baton.status"] for s in attempts] == [
        "failed",
        "failed",
        "completed",
    ]
    assert [(s.attributes or {}).get("baton.error_type") for s in attempts] == [
        "RuntimeError",
        "RuntimeError",
        None,
    ]
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert {_parent_id(s) for s in attempts} == {run_span_id(run.id)}
    assert [s.context.span_id for s in attempts if s.context] == [
        attempt_span_id(run.id, n) for n in range(3)
    ]
    # the retry's queued time counts from the failed attempt's end, not the run's creation
    assert all((s.attributes or {})["baton.queued_s"] < 30 for s in attempts)
    assert len([s for s in spans if s.name == "run flaky_flows/flaky"]) == 1


def test_span_ids_are_derived_from_run_ids() -> None:
    assert trace_id_for("trn-a") == trace_id_for("trn-a") != trace_id_for("trn-b")
    assert 0 < trace_id_for("trn-a") < 2**128
    assert 0 < run_span_id("trn-a") < 2**64
    assert attempt_span_id("trn-a", 0) != attempt_span_id("trn-a", 1) != run_span_id("trn-a")


def test_enabling_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed

    with pytest.raises(TracingUnavailable, match=r"pip install 'baton-workflows\[otel\]'"):
        Engine(f"sqlite:///{tmp_path / 'baton.db'}", otel=True)


def test_unknown_exporter_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")

    with pytest.raises(TracingUnavailable, match="use otlp or console"):
        Engine(f"sqlite:///{tmp_path / 'baton.db'}", otel=True)
