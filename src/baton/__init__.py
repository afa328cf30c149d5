"""Baton: self-hosted, durable task workflows for Python (Render Workflows compatible)."""

from __future__ import annotations

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
from baton.sdk import TaskContext, TaskInstance, TaskRunMetadata, Workflows

__all__ = [
    "BatonError",
    "ClientError",
    "NonRetryableError",
    "RateLimitError",
    "Retry",
    "ServerError",
    "TaskCanceled",
    "TaskContext",
    "TaskInstance",
    "TaskRunError",
    "TaskRunMetadata",
    "TimeoutError",
    "Workflows",
]
