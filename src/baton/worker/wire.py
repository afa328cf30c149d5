"""JSON forms of what travels between a remote worker and the server (``/v1/workers``).

Readers ignore unknown fields, so either side may add some.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from baton.core.models import Claim, Run, RunStatus, WorkflowVersion
from baton.core.retry import Retry
from baton.store import Outcome


def _ts(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _dt(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def run_to_json(run: Run) -> dict[str, Any]:
    """A run without its attempts (a worker never needs them)."""
    return {
        "id": run.id,
        "task_id": run.task_id,
        "workflow": run.workflow,
        "task_name": run.task_name,
        "version_id": run.version_id,
        "status": str(run.status),
        "input": run.input,
        "parent_id": run.parent_id,
        "root_id": run.root_id,
        "parent_attempt": run.parent_attempt,
        "created_at": _ts(run.created_at),
        "retry": run.retry.to_wire(),
        "timeout_s": run.timeout_s,
        "plan": run.plan,
        "attempt_count": run.attempt_count,
        "started_at": _ts(run.started_at),
        "completed_at": _ts(run.completed_at),
        "output": run.output,
        "error": run.error,
        "error_type": run.error_type,
    }


def run_from_json(data: dict[str, Any]) -> Run:
    created = _dt(data.get("created_at"))
    assert created is not None, "a run always has created_at"
    return Run(
        id=data["id"],
        task_id=data["task_id"],
        workflow=data["workflow"],
        task_name=data["task_name"],
        version_id=data["version_id"],
        status=RunStatus(data["status"]),
        input=data.get("input"),
        parent_id=data.get("parent_id"),
        root_id=data["root_id"],
        parent_attempt=data.get("parent_attempt"),
        created_at=created,
        retry=Retry.from_wire(data.get("retry") or {}),
        timeout_s=int(data["timeout_s"]),
        plan=data["plan"],
        attempt_count=int(data.get("attempt_count") or 0),
        started_at=_dt(data.get("started_at")),
        completed_at=_dt(data.get("completed_at")),
        output=data.get("output"),
        error=data.get("error"),
        error_type=data.get("error_type"),
    )


def version_to_json(version: WorkflowVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "workflow": version.workflow,
        "target": version.target,
        "kind": version.kind,
        "code_dir": version.code_dir,
        "status": version.status,
        "created_at": _ts(version.created_at),
        "error": version.error,
    }


def version_from_json(data: dict[str, Any]) -> WorkflowVersion:
    created = _dt(data.get("created_at"))
    assert created is not None, "a version always has created_at"
    return WorkflowVersion(
        id=data["id"],
        workflow=data["workflow"],
        target=data["target"],
        kind=data["kind"],
        code_dir=data["code_dir"],
        status=data["status"],
        created_at=created,
        error=data.get("error"),
    )


def claim_to_json(claim: Claim) -> dict[str, Any]:
    return {
        "run": run_to_json(claim.run),
        "attempt": claim.attempt,
        "worker_id": claim.worker_id,
        "lease_expires_at": _ts(claim.lease_expires_at),
        "version": version_to_json(claim.version),
    }


def claim_from_json(data: dict[str, Any]) -> Claim:
    expires = _dt(data.get("lease_expires_at"))
    assert expires is not None, "a claim always has lease_expires_at"
    return Claim(
        run=run_from_json(data["run"]),
        attempt=int(data["attempt"]),
        worker_id=data["worker_id"],
        lease_expires_at=expires,
        version=version_from_json(data["version"]),
    )


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)


def outcome_from_json(data: dict[str, Any]) -> Outcome:
    fields = Outcome.__dataclass_fields__
    return Outcome(**{k: v for k, v in data.items() if k in fields})
