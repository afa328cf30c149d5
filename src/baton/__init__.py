"""Baton: self-hosted, durable task workflows for Python (Render Workflows compatible)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from baton.core.retry import Retry
from baton.errors import (
    BatonError,
    ClientError,
    NonRetryableError,
    RateLimitError,
    ServerError,
    TaskCanceled,
    TaskRunError,
    TimeoutError,
)
from baton.sdk import TaskContext, TaskInstance, TaskRunMetadata, Workflows, checkpoint, restore

if TYPE_CHECKING:
    from baton.client import AwaitableTaskRun, Baton, BatonAsync, TaskRun, TaskRunDetails

# The REST clients (httpx) load on first use: task code and the zygote that forks every
# attempt never pay for them.
_CLIENT_NAMES = frozenset({"AwaitableTaskRun", "Baton", "BatonAsync", "TaskRun", "TaskRunDetails"})

__all__ = [
    "AwaitableTaskRun",
    "Baton",
    "BatonAsync",
    "BatonError",
    "ClientError",
    "NonRetryableError",
    "RateLimitError",
    "Retry",
    "ServerError",
    "TaskCanceled",
    "TaskContext",
    "TaskInstance",
    "TaskRun",
    "TaskRunDetails",
    "TaskRunError",
    "TaskRunMetadata",
    "TimeoutError",
    "Workflows",
    "checkpoint",
    "restore",
]


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        value = getattr(importlib.import_module("baton.client"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'baton' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _CLIENT_NAMES)
