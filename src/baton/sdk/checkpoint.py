"""Checkpoints: small JSON state a run keeps across its attempts (``docs/durable.md``).

``await checkpoint(key, value)`` stores the value with the run (``POST /checkpoint`` on the
attempt socket); ``restore(key)`` reads what the last attempt stored. A retried attempt gets
its run's checkpoints once, as it starts (``GET /checkpoints``), so ``restore`` is a plain,
synchronous lookup.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from baton.core.durable import CHECKPOINT_MAX_BYTES, CHECKPOINT_MAX_KEY_LEN
from baton.errors import ClientError
from baton.sdk.chain import RunState, current_run
from baton.sdk.sockclient import SocketClient

__all__ = ["checkpoint", "load_checkpoints", "load_checkpoints_sync", "restore"]


def encode(key: object, value: object) -> Any:
    """``value`` as the engine will store it (a JSON round trip), after the size checks.

    Raises:
        ValueError: the key is empty or longer than 200 characters, or the value's JSON is
            larger than 1 MiB.
        TypeError: the value is not JSON-serializable.
    """
    if not isinstance(key, str) or not key or len(key) > CHECKPOINT_MAX_KEY_LEN:
        raise ValueError(
            f"checkpoint key must be a non-empty string of at most {CHECKPOINT_MAX_KEY_LEN} "
            f"characters, got {key!r}"
        )
    text = json.dumps(value, allow_nan=False)
    size = len(text.encode())
    if size > CHECKPOINT_MAX_BYTES:
        raise ValueError(
            f"checkpoint {key!r} is {size} bytes of JSON; the limit is 1 MiB per key: store a "
            "reference (a file path, an object key) instead of the data"
        )
    return json.loads(text)


async def save(state: RunState, key: str, value: object) -> None:
    stored = encode(key, value)
    await state.client.request("POST", "/checkpoint", {"key": key, "value": stored})
    state.checkpoints[key] = stored


async def checkpoint(key: str, value: object) -> None:
    """Store ``value`` (JSON, at most 1 MiB) under ``key`` with the current run.

    A later attempt of the same run reads it back with ``restore(key)``. Outside a run (a
    unit test calling the task directly) it does nothing.

    Raises:
        ValueError: a bad key or a value over 1 MiB (nothing is stored).
        TypeError: the value is not JSON-serializable.
        ClientError: the engine refused it (e.g. the run has 64 keys already).
    """
    state = current_run.get()
    if state is None:
        encode(key, value)
        return
    await save(state, key, value)


def restore(key: str, default: Any = None) -> Any:
    """The value last stored under ``key`` by this run, or ``default``.

    Outside a run it returns ``default``.
    """
    state = current_run.get()
    if state is None or key not in state.checkpoints:
        return default
    return copy.deepcopy(state.checkpoints[key])


async def load_checkpoints(client: SocketClient) -> dict[str, Any]:
    """The run's checkpoints (``GET /checkpoints``); ``{}`` from an engine without them."""
    try:
        answer = await client.request("GET", "/checkpoints")
    except ClientError as exc:
        return _no_checkpoints(exc)
    return _found(answer)


def load_checkpoints_sync(client: SocketClient) -> dict[str, Any]:
    """``load_checkpoints`` for a plain (``def``) task, which runs without an event loop."""
    try:
        answer = client.request_sync("GET", "/checkpoints")
    except ClientError as exc:
        return _no_checkpoints(exc)
    return _found(answer)


def _no_checkpoints(exc: ClientError) -> dict[str, Any]:
    if exc.status == 404:
        return {}  # an engine that does not speak Baton's extension (Render)
    raise exc


def _found(answer: dict[str, Any]) -> dict[str, Any]:
    found = answer.get("checkpoints")
    return found if isinstance(found, dict) else {}
