"""OpenTelemetry export: one span per attempt and one per run, parented along the chain.

Spans are made on the server from the run changes ``Services`` publishes (``RunEvents.listen``),
after the fact: an attempt's span starts when the attempt started and ends when it ended.
Every id is derived from Baton's own ids, so servers that never talk to each other still emit
spans that line up in one trace:

- trace id: a hash of the root run's id (every run of one chain shares the trace);
- a run's span: a hash of its id; its parent is the span of the parent's attempt that made
  the chained call (``Run.parent_attempt``), none for a root;
- an attempt's span: a hash of (run id, attempt); its parent is its run's span.

The SDK's ``BatchSpanProcessor`` exports on its own thread, so the event loop never waits on
the collector. The provider is private to the engine (no global tracer provider is set), so
an application's own OpenTelemetry setup is left alone. See docs/dashboard.md, "Traces".
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from baton.core.models import Attempt, AttemptStatus, ErrorType, Run, RunStatus
from baton.errors import BatonError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from baton.services import Services

log = logging.getLogger("baton.tracing")

#: ``BATON_OTEL=1`` turns export on, as ``--otel`` does.
ENV_FLAG = "BATON_OTEL"
#: How long an attempt's span waits for its process's exit report (exit code, peak memory,
#: CPU) when the task reported its result before the process exited.
EXIT_WAIT_S = 10.0
#: Attempts remembered as exported, so a run published twice yields one span.
_SEEN_MAX = 100_000
#: Engine-recorded errors after which no exit report follows.
_NO_EXIT_REPORT = frozenset({ErrorType.LEASE_EXPIRED, ErrorType.CANCELED})


class TracingUnavailable(BatonError):
    """OpenTelemetry export needs the ``otel`` extra: pip install 'baton-workflows[otel]'."""


def enabled_by_env() -> bool:
    return os.environ.get(ENV_FLAG, "").strip().lower() in ("1", "true", "yes", "on")


# deterministic ids ----------------------------------------------------------------------------


def _hash(kind: str, *parts: object, size: int) -> int:
    text = "\x1f".join([kind, *(str(p) for p in parts)])
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")
    return value or 1  # all-zero ids are invalid in OpenTelemetry


def trace_id_for(root_id: str) -> int:
    """The 128-bit trace id of the chain whose root run is ``root_id``."""
    return _hash("baton.trace", root_id, size=16)


def run_span_id(run_id: str) -> int:
    return _hash("baton.run", run_id, size=8)


def attempt_span_id(run_id: str, attempt: int) -> int:
    return _hash("baton.attempt", run_id, attempt, size=8)


# the exporter ---------------------------------------------------------------------------------


def default_exporter() -> SpanExporter:
    """The exporter the standard variables ask for: ``OTEL_TRACES_EXPORTER`` ``otlp`` (the
    default; OTLP over HTTP, endpoint and headers from ``OTEL_EXPORTER_OTLP_*``) or
    ``console`` (spans printed to stdout, for a quick look)."""
    _require_sdk()
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")[0].strip().lower()
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind not in ("otlp", ""):
        raise TracingUnavailable(
            f"OTEL_TRACES_EXPORTER={kind!r} is not supported by Baton: use otlp or console"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise TracingUnavailable() from exc
    return OTLPSpanExporter()


def _require_sdk() -> None:
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as exc:
        raise TracingUnavailable() from exc


class _PresetIds:
    """The ids the next span gets (the SDK asks its id generator for them)."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0


def _id_generator(preset: _PresetIds) -> Any:
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class PresetIdGenerator(IdGenerator):
        def generate_trace_id(self) -> int:
            return preset.trace_id

        def generate_span_id(self) -> int:
            return preset.span_id

    return PresetIdGenerator()


class AttemptTracer:
    """Turns published run changes into spans. Start it with :func:`start_tracing`."""

    def __init__(self, services: Services, exporter: SpanExporter) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "baton"}))
        self._ids = _PresetIds()
        self._lock = threading.Lock()
        self.provider: TracerProvider = TracerProvider(
            sampler=ALWAYS_ON,
            resource=resource,
            id_generator=_id_generator(self._ids),
            shutdown_on_exit=False,
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self.provider.get_tracer("baton")
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._waiting: dict[tuple[str, int], tuple[Run, Attempt, asyncio.TimerHandle]] = {}
        services.events.listen(self.observe)
        services.on_attempt_exit(self.attempt_exited)

    @property
    def waiting_for_exit(self) -> int:
        """Attempt spans held back until their process's exit report (at most ``EXIT_WAIT_S``)."""
        return len(self._waiting)

    # run changes ------------------------------------------------------------------------------

    def observe(self, run: Run) -> None:
        """One published run change: export what it ended (an attempt, the run)."""
        try:
            self._observe(run)
        except Exception:  # tracing must never break the engine's publishing
            log.exception("could not export spans of run %s", run.id)

    def _observe(self, run: Run) -> None:
        if run.status == RunStatus.RUNNING:
            return
        if not run.attempts:
            # a notification from another server carries no attempts: that server exports
            if run.status.is_final and run.attempt_count == 0:
                self._run_span(run)  # canceled before it ever started
            return
        last = run.attempts[-1]
        ended = last.completed_at is not None and last.status != AttemptStatus.RUNNING
        # a run canceled while waiting for a retry: its last attempt ended (failed) earlier
        if ended and (run.status != RunStatus.CANCELED or last.status == AttemptStatus.CANCELED):
            self._attempt_ended(run, last)
        if run.status.is_final:
            self._run_span(run)

    def _attempt_ended(self, run: Run, attempt: Attempt) -> None:
        key = (run.id, attempt.attempt)
        if key in self._seen or key in self._waiting:
            return
        exit_pending = (
            attempt.exit_code is None
            and attempt.cpu_s is None
            and attempt.status != AttemptStatus.CANCELED
            and attempt.error_type not in _NO_EXIT_REPORT
        )
        if exit_pending:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                timer = loop.call_later(EXIT_WAIT_S, self._flush_waiting, key)
                self._waiting[key] = (run, attempt, timer)
                return
        self._attempt_span(run, attempt)

    def attempt_exited(
        self,
        run_id: str,
        attempt: int,
        exit_code: int | None,
        peak_rss_kb: int | None,
        cpu_s: float | None,
    ) -> None:
        """The exit report of an attempt's process: its span can now say how it exited."""
        waiting = self._waiting.pop((run_id, attempt), None)
        if waiting is None:
            return
        run, att, timer = waiting
        timer.cancel()
        att = dataclasses.replace(att, exit_code=exit_code, peak_rss_kb=peak_rss_kb, cpu_s=cpu_s)
        try:
            self._attempt_span(run, att)
        except Exception:
            log.exception("could not export the span of %s attempt %d", run_id, attempt)

    def _flush_waiting(self, key: tuple[str, int]) -> None:
        waiting = self._waiting.pop(key, None)
        if waiting is not None:
            self._attempt_span(waiting[0], waiting[1])

    # spans ------------------------------------------------------------------------------------

    def _attempt_span(self, run: Run, attempt: Attempt) -> None:
        key = (run.id, attempt.attempt)
        self._seen[key] = None
        while len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)
        end = attempt.completed_at or attempt.started_at
        previous = (
            run.attempts[attempt.attempt - 1] if 0 < attempt.attempt <= len(run.attempts) else None
        )
        queued_from = previous.completed_at if previous is not None else run.created_at
        attrs: dict[str, str | int | float] = {
            **_run_attributes(run),
            "baton.attempt": attempt.attempt,
            "baton.status": str(attempt.status),
            "baton.plan": attempt.plan or run.plan,
        }
        if queued_from is not None:
            attrs["baton.queued_s"] = max(0.0, (attempt.started_at - queued_from).total_seconds())
        optional: dict[str, str | int | float | None] = {
            "baton.error_type": attempt.error_type,
            "baton.worker_id": attempt.worker_id,
            "process.pid": attempt.pid,
            "process.exit_code": attempt.exit_code,
            "baton.peak_rss_kb": attempt.peak_rss_kb,
            "baton.cpu_s": attempt.cpu_s,
        }
        attrs.update({k: v for k, v in optional.items() if v is not None})
        self._emit(
            name=run.slug,
            trace_id=trace_id_for(run.root_id),
            span_id=attempt_span_id(run.id, attempt.attempt),
            parent_id=run_span_id(run.id),
            start_ns=_ns(attempt.started_at),
            end_ns=_ns(end),
            attrs=attrs,
            error=attempt.error if attempt.status == AttemptStatus.FAILED else None,
        )

    def _run_span(self, run: Run) -> None:
        key = (run.id, -1)
        if key in self._seen:
            return
        self._seen[key] = None
        parent = (
            attempt_span_id(run.parent_id, run.parent_attempt)
            if run.parent_id is not None and run.parent_attempt is not None
            else None
        )
        attrs: dict[str, str | int | float] = {
            **_run_attributes(run),
            "baton.status": str(run.status),
            "baton.attempts": run.attempt_count,
            "baton.plan": run.plan,
        }
        if run.error_type:
            attrs["baton.error_type"] = run.error_type
        self._emit(
            name=f"run {run.slug}",
            trace_id=trace_id_for(run.root_id),
            span_id=run_span_id(run.id),
            parent_id=parent,
            start_ns=_ns(run.created_at),
            end_ns=_ns(run.completed_at or run.created_at),
            attrs=attrs,
            error=run.error if run.status == RunStatus.FAILED else None,
        )

    def _emit(
        self,
        *,
        name: str,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        start_ns: int,
        end_ns: int,
        attrs: dict[str, str | int | float],
        error: str | None,
    ) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode

        context = None
        if parent_id is not None:
            parent = SpanContext(
                trace_id,
                parent_id,
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
            )
            context = trace.set_span_in_context(NonRecordingSpan(parent))
        with self._lock:
            self._ids.trace_id, self._ids.span_id = trace_id, span_id
            span = self._tracer.start_span(
                name, context=context, attributes=attrs, start_time=start_ns
            )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error[:1000]))
        span.end(end_time=max(start_ns, end_ns))

    # lifecycle --------------------------------------------------------------------------------

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export every span made so far (blocks; call from a thread or at shutdown)."""
        return bool(self.provider.force_flush(int(timeout_s * 1000)))

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Export the spans still waiting for an exit report, flush, and stop the exporter."""
        for key in list(self._waiting):
            self._waiting[key][2].cancel()
            self._flush_waiting(key)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._shutdown, timeout_s), timeout_s + 1)
        except TimeoutError:
            log.warning("the trace exporter did not finish within %.0f s; spans dropped", timeout_s)

    def _shutdown(self, timeout_s: float) -> None:
        self.provider.force_flush(int(timeout_s * 1000))
        self.provider.shutdown()


def _run_attributes(run: Run) -> dict[str, str | int | float]:
    attrs: dict[str, str | int | float] = {
        "baton.run_id": run.id,
        "baton.root_run_id": run.root_id,
        "baton.workflow": run.workflow,
        "baton.task": run.task_name,
    }
    if run.parent_id is not None:
        attrs["baton.parent_run_id"] = run.parent_id
    return attrs


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000_000)


def start_tracing(services: Services, exporter: SpanExporter | None = None) -> AttemptTracer:
    """Export spans of ``services``' runs to ``exporter`` (default: :func:`default_exporter`).

    Raises:
        TracingUnavailable: the OpenTelemetry packages (the ``otel`` extra) are missing.
    """
    _require_sdk()
    return AttemptTracer(services, exporter if exporter is not None else default_exporter())
