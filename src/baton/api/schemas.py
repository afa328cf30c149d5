"""JSON shapes of the REST API (camelCase, as Render's clients expect)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton.core.models import Attempt, Run, Task, to_rfc3339
from baton.store import LogLine


class StartTaskRun(BaseModel):
    """Body of ``POST /v1/task-runs``."""

    model_config = ConfigDict(extra="ignore")

    task: str = Field(description="`<workflow>/<task>`, optionally `:<versionId>`", min_length=3)
    input: list[Any] | dict[str, Any] | None = Field(
        default=None, description="Positional arguments (array) or arguments by name (object)"
    )
    idempotencyKey: str | None = Field(
        default=None, max_length=255, description="Same key within 24 h returns the same run"
    )


def _attempt(a: Attempt, details: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attempt": a.attempt,
        "status": str(a.status),
        "taskRunId": a.run_id,
        "startedAt": to_rfc3339(a.started_at),
    }
    if a.completed_at is not None:
        out["completedAt"] = to_rfc3339(a.completed_at)
    if details:
        if a.error:
            out["error"] = a.error
            out["errorType"] = a.error_type
        if a.status == "completed":
            from baton.core.models import decode_output

            out["results"] = decode_output(a.output)
        out.update(
            {
                "pid": a.pid,
                "exitCode": a.exit_code,
                "peakRssKb": a.peak_rss_kb,
                "cpuSeconds": a.cpu_s,
                "plan": a.plan,
                "workerId": a.worker_id,
            }
        )
        if a.timings:
            out["timings"] = a.timings
            startup = startup_breakdown(a.timings)
            if startup:
                out["startup"] = startup
    return out


def startup_breakdown(t: dict[str, float]) -> dict[str, Any]:
    """Seconds from the fork of an attempt process to its ``GET /input``, by phase.

    ``processS``: fork to the SDK's first import (interpreter start-up, exec);
    ``sdkImportS``: importing Render's SDK; ``appImportS``: from there to the SDK's ``run()``
    (the user's module); ``inputS``: from ``run()`` to the engine receiving ``GET /input``.
    The SDK stamps come from Render's SDK 1.3+. An import that happened before the fork (in a
    warm zygote) counts as 0 s with ``preloaded: true``.
    """
    forked, asked = t.get("forked_at"), t.get("input_at")
    if forked is None or asked is None:
        return {}
    out: dict[str, Any] = {"totalS": round(asked - forked, 6)}
    i0, i1, run = (
        t.get(k) for k in ("sdk_import_started_at", "sdk_import_finished_at", "sdk_started_at")
    )
    if run is None:
        return out
    preloaded = i0 is not None and i0 < forked
    if i0 is not None and i1 is not None and not preloaded:
        out["processS"] = round(i0 - forked, 6)
        out["sdkImportS"] = round(i1 - i0, 6)
        out["appImportS"] = round(run - i1, 6)
    else:
        out["processS"] = round(run - forked, 6)
        out["sdkImportS"] = 0.0
        out["appImportS"] = 0.0
    out["inputS"] = round(asked - run, 6)
    out["preloaded"] = preloaded
    return out


def task_run(run: Run, *, details: bool = False) -> dict[str, Any]:
    """A ``TaskRun`` (or, with ``details``, a ``TaskRunDetails``) object."""
    out: dict[str, Any] = {
        "id": run.id,
        "taskId": run.task_id,
        "taskSlug": run.slug,
        "status": str(run.status),
        "parentTaskRunId": run.parent_id or "",
        "rootTaskRunId": run.root_id,
        "retries": run.retries,
        "attempts": [_attempt(a, details) for a in run.attempts],
        "createdAt": to_rfc3339(run.created_at),
    }
    if run.parent_attempt is not None:
        out["parentTaskAttempt"] = run.parent_attempt
    if run.started_at is not None:
        out["startedAt"] = to_rfc3339(run.started_at)
    if run.completed_at is not None:
        out["completedAt"] = to_rfc3339(run.completed_at)
    if details:
        out["results"] = run.results if run.status == "completed" else []
        out["input"] = run.input
        if run.error:
            out["error"] = run.error
            out["errorType"] = run.error_type
            if run.traceback:
                out["traceback"] = run.traceback
        out["plan"] = run.plan
        out["timeoutSeconds"] = run.timeout_s
        out["maxRetries"] = run.retry.max_retries
        # durable runs (docs/durable.md)
        if run.priority:
            out["priority"] = run.priority
        if run.concurrency_key:
            out["concurrencyKey"] = run.concurrency_key
        if run.schedule_id:
            out["scheduleId"] = run.schedule_id
    return out


def task(t: Task) -> dict[str, Any]:
    definition = t.definition.to_wire()
    return {
        "id": t.id,
        "name": t.name,
        "slug": t.slug,
        "workflow": t.workflow,
        "workflowVersionId": t.version_id,
        "createdAt": to_rfc3339(t.created_at),
        "options": definition["options"],
        "parameters": definition.get("parameters", []),
    }


def log_line(line: LogLine) -> dict[str, Any]:
    return {
        "seq": line.seq,
        "attempt": line.attempt,
        "stream": line.stream,
        "at": to_rfc3339(line.at),
        "line": line.line,
    }
