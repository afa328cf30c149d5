"""A small engine for SDK tests: serves the worker protocol on a real Unix socket (h11)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import sys
import tempfile
import traceback
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import h11
import pytest

from baton.sdk.runtime import run_attempt
from baton.sdk.task import TaskSpec


def b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def unb64(text: str) -> Any:
    return json.loads(base64.b64decode(text))


@dataclass
class Child:
    name: str
    input: Any
    ready_at: float
    answer: dict[str, Any]


@dataclass
class FakeEngine:
    """Plays the engine's side of one attempt; children are answered by ``child_results``."""

    path: str
    input: dict[str, Any] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    registered: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    children: dict[str, Child] = field(default_factory=dict)
    #: name -> function of the decoded input returning the child's result, or raising.
    child_results: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    child_delay_s: float = 0.0
    refuse_subtask: tuple[int, str] | None = None
    #: what ``GET /checkpoints`` answers (Baton's extension); None: the route is unknown (404)
    checkpoints: dict[str, Any] | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def attempt(self, registry: Mapping[str, TaskSpec]) -> int:
        """Run one attempt in a real forked process; return its exit status."""
        return await self.forked(lambda: run_attempt(registry, self.path))

    async def forked(self, main: Callable[[], int]) -> int:
        """Run ``main`` in a forked process; return its exit status."""
        return await wait_child(fork(main))

    def set_input(self, task_name: str, value: Any = None, **extra: Any) -> None:
        self.input = {"task_name": task_name, "input": b64([] if value is None else value)}
        self.input |= {"task_run_id": "trn-root", "root_task_run_id": "trn-root"} | extra

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            conn = h11.Connection(h11.SERVER)
            request: h11.Request | None = None
            body = b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
            assert request is not None
            status, answer = await self.route(
                request.method.decode(), request.target.decode(), json.loads(body or b"null")
            )
            data = json.dumps(answer).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
            out = conn.send(h11.Response(status_code=status, headers=headers))
            writer.write(out + conn.send(h11.Data(data=data)) + conn.send(h11.EndOfMessage()))
            await writer.drain()
        finally:
            self.in_flight -= 1
            writer.close()

    async def route(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        path = target.partition("?")[0]
        self.requests.append((method, target, body))
        if (method, path) == ("GET", "/input"):
            return 200, self.input
        if (method, path) == ("POST", "/callback"):
            self.callbacks.append(body)
            return 200, {}
        if (method, path) == ("POST", "/register-tasks"):
            self.registered.append(body)
            return 200, {}
        if (method, path) == ("GET", "/checkpoints") and self.checkpoints is not None:
            return 200, {"checkpoints": self.checkpoints}
        if (method, path) == ("POST", "/run-subtask"):
            return self.run_subtask(body)
        if (method, path) == ("POST", "/get-subtask-result"):
            return await self.subtask_result(body)
        return 404, {"message": f"no route {method} {path}"}

    def run_subtask(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        if self.refuse_subtask is not None:
            status, message = self.refuse_subtask
            return status, {"message": message}
        behaviour = self.child_results.get(body["task_name"])
        if behaviour is None:
            return 404, {"message": f"task {body['task_name']!r} not found"}
        run_id = f"trn-child-{next(self._ids)}"
        value = unb64(body["input"])
        try:
            result = behaviour(value)
            answer: dict[str, Any] = {"still_running": False, "complete": {"output": b64(result)}}
        except Exception as exc:
            error = {"details": str(exc), "type": type(exc).__name__, "task_run_id": run_id}
            answer = {"still_running": False, "error": error}
        ready_at = asyncio.get_running_loop().time() + self.child_delay_s
        self.children[run_id] = Child(body["task_name"], value, ready_at, answer)
        return 200, {"task_run_id": run_id}

    async def subtask_result(self, body: Mapping[str, Any]) -> tuple[int, Any]:
        child = self.children.get(body["task_run_id"])
        if child is None:
            return 404, {"message": "no such run"}
        loop = asyncio.get_running_loop()
        wait_s = body.get("wait_ms", 0) / 1000
        await asyncio.sleep(max(0.0, min(child.ready_at - loop.time(), wait_s)))
        if loop.time() < child.ready_at:
            return 200, {"still_running": True}
        return 200, child.answer


@pytest.fixture
async def fake_engine() -> AsyncIterator[FakeEngine]:
    # Not tmp_path: a Unix socket path must stay under 107 bytes.
    with tempfile.TemporaryDirectory(prefix="baton-sdk-") as directory:
        fake = FakeEngine(os.path.join(directory, "a.sock"))
        server = await asyncio.start_unix_server(fake.handle, fake.path)
        async with server:
            yield fake


async def wait_child(pid: int, timeout_s: float = 10.0) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        await asyncio.sleep(0.005)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the attempt process did not exit in time")


def fork(main: Callable[[], int]) -> int:
    """Run ``main`` in a forked child that exits with its return value (or SystemExit code)."""
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 71
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
