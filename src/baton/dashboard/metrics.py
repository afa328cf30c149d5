"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

Gauges (runs by status, queue depth, running attempts, workers) are read from the store at
scrape time, so every server of a cluster reports the same totals. Counters and histograms
(attempts, retries, timeouts, out-of-memory kills, queue wait, run duration) count the run
changes this server process saw, as Prometheus counters do: they restart at zero with the
process and ``rate()`` handles that. No client library is needed for a dozen series, and no
process-global registry leaks between engines in one process (tests, benchmarks).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable

from baton.core.models import ErrorType, Run, RunStatus
from baton.services import Services

_Family = Callable[[str, str, str, list[str]], None]

#: Seconds; from a fast hand-off to a long batch task.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        value = max(0.0, value)
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += 1
        self.sum += value

    def lines(self, name: str) -> list[str]:
        out, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            out.append(f'{name}_bucket{{le="{_num(bound)}"}} {running}')
        out.append(f'{name}_bucket{{le="+Inf"}} {self.total}')
        out.append(f"{name}_sum {_num(self.sum)}")
        out.append(f"{name}_count {self.total}")
        return out


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counts run changes published by ``services`` and renders ``/metrics``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.runs_created = 0
        self.attempts_started = 0
        self.attempts_ended: Counter[str] = Counter()
        self.retries = 0
        self.timeouts = 0
        self.oom_kills = 0
        self.runs_finished: Counter[str] = Counter()
        self.queue_wait = Histogram()
        self.run_duration = Histogram()
        services.events.listen(self.observe)

    def observe(self, run: Run) -> None:
        """One published run change (see ``Services._publish``)."""
        last = run.attempts[-1] if run.attempts else None
        if run.status == RunStatus.PENDING:
            if run.attempt_count == 0:
                self.runs_created += 1
            else:  # an attempt failed and the run waits for its retry
                self.retries += 1
                self._attempt_ended("failed", last.error_type if last else None)
            return
        if run.status == RunStatus.RUNNING:
            self.attempts_started += 1
            if run.attempt_count == 1 and run.started_at is not None:
                self.queue_wait.observe((run.started_at - run.created_at).total_seconds())
            return
        self.runs_finished[str(run.status)] += 1
        if run.started_at is not None and run.completed_at is not None:
            self.run_duration.observe((run.completed_at - run.started_at).total_seconds())
        if last is not None and (run.status != RunStatus.CANCELED or last.status == "canceled"):
            self._attempt_ended(str(last.status), last.error_type)

    def _attempt_ended(self, outcome: str, error_type: str | None) -> None:
        self.attempts_ended[outcome] += 1
        if error_type == ErrorType.TIMEOUT:
            self.timeouts += 1
        elif error_type == ErrorType.OUT_OF_MEMORY:
            self.oom_kills += 1

    def render(self) -> str:
        stats = self.services.queue_stats()
        workers = self.services.workers.list()
        lines: list[str] = []

        def family(name: str, kind: str, help_: str, samples: list[str]) -> None:
            lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *samples])

        family(
            "baton_runs",
            "gauge",
            "Runs in the store by status.",
            [f'baton_runs{{status="{s}"}} {stats.by_status.get(str(s), 0)}' for s in RunStatus],
        )
        family(
            "baton_queue_depth",
            "gauge",
            "Runs pending (queued or retrying).",
            [f"baton_queue_depth {stats.pending}"],
        )
        family(
            "baton_running_attempts",
            "gauge",
            "Attempts computing now (parents waiting on children excluded).",
            [f"baton_running_attempts {stats.running - stats.waiting}"],
        )
        family(
            "baton_waiting_attempts",
            "gauge",
            "Attempts waiting on their children.",
            [f"baton_waiting_attempts {stats.waiting}"],
        )
        family(
            "baton_concurrency_limit",
            "gauge",
            "Attempts that may compute at once.",
            [f"baton_concurrency_limit {self.services.config.concurrency}"],
        )
        family(
            "baton_workers",
            "gauge",
            "Workers that reported to this server.",
            [f"baton_workers {len(workers)}"],
        )
        family(
            "baton_worker_slots",
            "gauge",
            "Slots of the workers that reported to this server.",
            [f"baton_worker_slots {sum(w.slots for w in workers)}"],
        )
        self._render_counters(family)
        return "\n".join(lines) + "\n"

    def _render_counters(self, family: _Family) -> None:
        family(
            "baton_runs_created_total",
            "counter",
            "Runs created.",
            [f"baton_runs_created_total {self.runs_created}"],
        )
        family(
            "baton_runs_finished_total",
            "counter",
            "Runs that reached a final state, by status.",
            [
                f'baton_runs_finished_total{{status="{_label(k)}"}} {v}'
                for k, v in sorted(self.runs_finished.items())
            ],
        )
        family(
            "baton_attempts_started_total",
            "counter",
            "Attempts started.",
            [f"baton_attempts_started_total {self.attempts_started}"],
        )
        family(
            "baton_attempts_total",
            "counter",
            "Attempts ended, by outcome (completed, failed, canceled).",
            [
                f'baton_attempts_total{{outcome="{_label(k)}"}} {v}'
                for k, v in sorted(self.attempts_ended.items())
            ],
        )
        family(
            "baton_retries_total",
            "counter",
            "Failed attempts followed by a retry.",
            [f"baton_retries_total {self.retries}"],
        )
        family(
            "baton_timeouts_total",
            "counter",
            "Attempts killed at their timeout.",
            [f"baton_timeouts_total {self.timeouts}"],
        )
        family(
            "baton_oom_kills_total",
            "counter",
            "Attempts killed for passing their plan's memory.",
            [f"baton_oom_kills_total {self.oom_kills}"],
        )
        family(
            "baton_queue_wait_seconds",
            "histogram",
            "From a run's creation to its first attempt's start.",
            self.queue_wait.lines("baton_queue_wait_seconds"),
        )
        family(
            "baton_run_duration_seconds",
            "histogram",
            "From a run's first start to its final state.",
            self.run_duration.lines("baton_run_duration_seconds"),
        )
