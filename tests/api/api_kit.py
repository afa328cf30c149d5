"""Helpers for API tests: start runs and wait for them with a bounded deadline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

DEADLINE_S = 20.0
FINAL = {"completed", "failed", "canceled"}


async def start(client: httpx.AsyncClient, task: str, value: Any, **extra: Any) -> dict[str, Any]:
    response = await client.post("/v1/task-runs", json={"task": task, "input": value, **extra})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_final(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """Poll ``GET /v1/task-runs/{id}`` until the run is final; fail after the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while True:
        response = await client.get(f"/v1/task-runs/{run_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["status"] in FINAL:
            return run
        if loop.time() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {DEADLINE_S}s")
        await asyncio.sleep(0.05)


def assert_json_error(response: httpx.Response, status: int, *fragments: str) -> str:
    """The response is ``status`` with a JSON ``{"message": ...}`` containing ``fragments``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["message"]
    assert isinstance(message, str)
    assert message
    for fragment in fragments:
        assert fragment in message, message
    return message


def sse_events(text: str) -> list[tuple[str, str]]:
    """``(event, data)`` of each complete event in an SSE body (comments and retry skipped)."""
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        if "event" in fields or "data" in fields:
            assert len(fields.get("data", [])) == 1, f"data must be one line: {block!r}"
            out.append((fields["event"][0], fields["data"][0]))
    return out


def parse_data(data: str) -> dict[str, Any]:
    assert data.isascii(), data
    value: dict[str, Any] = json.loads(data)
    return value
