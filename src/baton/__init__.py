"""Baton: self-hosted, durable task workflows for Python (Render Workflows compatible)."""

from __future__ import annotations

from baton.client import AwaitableTaskRun, Baton, BatonAsync, TaskRun, TaskRunDetails
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
