"""Encodings of the worker protocol: base64 JSON inputs and outputs (spec §1.5)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from baton.core.models import JSON

__all__ = ["decode_input", "encode_input", "encode_output", "unwrap_output"]


def _b64_json(value: object) -> str:
    # binascii rather than base64's wrappers: less code to run in a freshly forked attempt
    return binascii.b2a_base64(json.dumps(value).encode(), newline=False).decode("ascii")


def encode_input(args: Sequence[object], kwargs: Mapping[str, object]) -> str:
    """Encode a call's arguments: positional as a JSON array, keyword as a JSON object.

    Raises:
        ValueError: both positional and keyword arguments were given.
        TypeError: an argument is not JSON-serializable.
    """
    if args and kwargs:
        raise ValueError("a task call takes positional or keyword arguments, not both")
    return _b64_json(dict(kwargs) if kwargs else list(args))


def decode_input(raw: object) -> tuple[list[JSON], dict[str, JSON]]:
    """Decode ``/input``'s ``input`` into ``(args, kwargs)``; ``""`` or ``None`` is no arguments.

    Raises:
        ValueError: the text is not base64 of a JSON array or object.
    """
    if raw is None or raw == "":
        return [], {}
    if not isinstance(raw, str):
        raise ValueError(f"input must be a base64 string, got {type(raw).__name__}")
    try:
        value = json.loads(binascii.a2b_base64(raw))
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"input is not base64 of JSON: {exc}") from exc
    if value is None:
        return [], {}
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict):
        return [], value
    raise ValueError(f"input must be a JSON array or object, got {type(value).__name__}")


def encode_output(result: object) -> str:
    """Encode a task's return value, always as a one-element array ``[result]``.

    Render's Python SDK sends a returned list as is, so a child returning ``["a"]`` reaches
    its parent as ``"a"``. Baton always wraps (as Render's TypeScript SDK does), so a Baton
    parent gets back exactly what the child returned.

    Raises:
        TypeError: the value is not JSON-serializable (message as ``json`` words it).
    """
    return _b64_json([result])


def unwrap_output(output: str | None) -> Any:
    """Decode a child's output for its parent: ``[x]`` gives ``x``, anything else is whole.

    Outputs written by Baton's SDK are always ``[x]``; the other shapes come from children
    written with Render's Python SDK, which sends lists unwrapped.
    """
    if not output:
        return None
    value = json.loads(base64.b64decode(output))
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value
