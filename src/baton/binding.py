"""Binding a run's JSON input to a task's registered signature, before the run is accepted."""

from __future__ import annotations

import inspect
import json

from baton.core.models import JSON, TaskDef
from baton.errors import InvalidInput

MAX_INPUT_BYTES = 4 * 1024 * 1024
#: The ``kind`` of a parameter whose SDK did not say (Render's list ``*args`` as plain names).
UNSPECIFIED_KIND = "unspecified"

_KINDS = {
    "positional_only": inspect.Parameter.POSITIONAL_ONLY,
    "positional_or_keyword": inspect.Parameter.POSITIONAL_OR_KEYWORD,
    "var_positional": inspect.Parameter.VAR_POSITIONAL,
    "keyword_only": inspect.Parameter.KEYWORD_ONLY,
    "var_keyword": inspect.Parameter.VAR_KEYWORD,
}


def input_size(value: JSON) -> int:
    return len(json.dumps(value, allow_nan=False).encode())


def check_input(task: TaskDef, value: JSON, *, slug: str) -> JSON:
    """Return the input as stored (``None`` becomes ``[]``) or raise ``InvalidInput``."""
    if value is None:
        value = []
    if not isinstance(value, list | dict):
        raise InvalidInput(
            f"input for {slug} must be a JSON array (positional arguments) or object "
            f"(arguments by name), got {type(value).__name__}"
        )
    try:
        size = input_size(value)
    except ValueError as exc:
        raise InvalidInput(f"input for {slug} is not valid JSON: {exc}") from exc
    if size > MAX_INPUT_BYTES:
        raise InvalidInput(f"input for {slug} is {size} bytes; the limit is 4 MiB")
    if task.parameters is None or any(p.kind == UNSPECIFIED_KIND for p in task.parameters):
        return value  # the SDK did not describe the signature fully: the SDK binds, as on Render
    params = [
        inspect.Parameter(
            p.name,
            _KINDS.get(p.kind, inspect.Parameter.POSITIONAL_OR_KEYWORD),
            default=None if p.has_default else inspect.Parameter.empty,
        )
        for p in task.parameters
    ]
    try:
        signature = inspect.Signature(params)
        if isinstance(value, list):
            signature.bind(*value)
        else:
            signature.bind(**value)
    except (TypeError, ValueError) as exc:
        names = ", ".join(p.name for p in task.parameters) or "no arguments"
        raise InvalidInput(f"input does not match {slug}({names}): {exc}") from exc
    return value
