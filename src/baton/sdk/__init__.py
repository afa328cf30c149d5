"""Baton's in-process SDK: define tasks with ``Workflows`` and chain them inside a run."""

from __future__ import annotations

from baton.core.retry import Retry
from baton.sdk.app import Workflows
from baton.sdk.chain import TaskInstance
from baton.sdk.checkpoint import checkpoint, restore
from baton.sdk.context import TaskContext, TaskRunMetadata

__all__ = [
    "Retry",
    "TaskContext",
    "TaskInstance",
    "TaskRunMetadata",
    "Workflows",
    "checkpoint",
    "restore",
]
