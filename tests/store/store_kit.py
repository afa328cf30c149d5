"""Helpers for the Store contract suite: a registered workflow and a run factory.

Everything goes through the public ``Store`` methods; nothing reads the database directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from baton.core.ids import new_id
from baton.core.models import JSON, Claim, NewRun, Param, Run, Task, TaskDef
from baton.core.retry import Retry
from baton.store import ChildCall, Outcome, Store

WORKER = "wrk-one"
LEASE_S = 30.0
NO_RETRY = Retry(max_retries=0, wait_duration_ms=0)


def utc(seconds_from_now: float = 0.0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds_from_now)


def ok(output: str = "WzQyXQ==") -> Outcome:
    """A successful outcome; the default output is base64 of ``[42]``."""
    return Outcome(ok=True, output=output)


def failed(message: str = "boom", *, retryable: bool = True) -> Outcome:
    return Outcome(ok=False, error=message, error_type="ValueError", retryable=retryable)


@dataclass
class Kit:
    """Creates runs on ``store`` with as little ceremony as a test needs."""

    store: Store
    tasks: dict[str, Task]

    def new(
        self,
        name: str = "square",
        value: JSON = None,
        *,
        retry: Retry = NO_RETRY,
        key: str | None = None,
        parent: Run | None = None,
        parent_attempt: int | None = None,
    ) -> NewRun:
        return NewRun(
            id=new_id("trn"),
            task=self.tasks[name],
            input=[3] if value is None else value,
            retry=retry,
            timeout_s=60,
            plan="standard",
            parent_id=parent.id if parent else None,
            root_id=parent.root_id if parent else None,
            parent_attempt=parent_attempt,
            idempotency_key=key,
        )

    def enqueue(self, name: str = "square", value: JSON = None, **kw: object) -> Run:
        run, created = self.store.enqueue(self.new(name, value, **kw))  # type: ignore[arg-type]
        assert created
        return run

    def claim(
        self, slots: int = 1, *, worker: str = WORKER, limit: int = 100, at: float = 0.0
    ) -> list[Claim]:
        return self.store.claim(worker, slots, limit=limit, lease_s=LEASE_S, now=utc(at))

    def claim_one(self, **kw: float | str | int) -> Claim:
        claims = self.claim(1, **kw)  # type: ignore[arg-type]
        assert len(claims) == 1, claims
        return claims[0]

    def child(
        self,
        parent: Claim,
        name: str = "square",
        *,
        key: str | None = None,
        created_key: str | None = None,
    ) -> tuple[Run, bool]:
        call = ChildCall(name, [2], key, created_key)
        new = self.new(name, [2], parent=parent.run, parent_attempt=parent.attempt)
        return self.store.create_child(parent.run.id, parent.attempt, call, new)

    def running_root_with_child(self) -> tuple[Claim, Run]:
        """A running root and the pending child its first attempt started."""
        root = self.enqueue("total", [1, 2])
        claim = self.claim_one()
        assert claim.run.id == root.id
        child, _ = self.child(claim)
        return claim, child


def register(store: Store, workflow: str, names: list[str]) -> dict[str, Task]:
    version = store.add_version(workflow, "app.py", "baton", "/tmp")
    defs = [TaskDef(name, parameters=(Param("a", has_default=False),)) for name in names]
    return {t.name: t for t in store.register_tasks(version.id, defs)}
