"""Chained calls: starting a child run from inside an attempt and waiting for its result."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import os
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from baton.errors import ServerError, TaskRunError
from baton.sdk import wire

if TYPE_CHECKING:
    from baton.sdk.context import TaskRunMetadata
    from baton.sdk.sockclient import SocketClient

__all__ = ["RunState", "TaskInstance", "current_run", "start_child"]

#: How long the engine may hold one ``/get-subtask-result`` (Baton's long-poll extension).
WAIT_MS = 10_000
#: A poll answered sooner than this with ``still_running`` is spaced out (an engine without
#: long polls), so a gather of N children does not spin.
_MIN_POLL_S = 1.0


@dataclass(frozen=True)
class RunState:
    """What a running attempt shares with the code it calls: its socket and its identity."""

    client: SocketClient
    metadata: TaskRunMetadata
    # Each chained call's order in this attempt: a retried attempt making the same calls in
    # the same order gets the children the earlier attempt made (docs/durable.md).
    call_order: Iterator[int] = field(default_factory=itertools.count)
    # This run's checkpoints as the attempt started (filled on retries), updated as it saves.
    checkpoints: dict[str, Any] = field(default_factory=dict)


def _uuid4() -> str:
    """``str(uuid.uuid4())`` without the ``uuid`` module, which would load a C library and
    ``platform`` into the zygote's memory (more to map at every fork)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


current_run: contextvars.ContextVar[RunState | None] = contextvars.ContextVar(
    "baton_current_run", default=None
)


class TaskInstance:
    """A child run started by a chained call; ``await`` it for the child's result.

    The child is submitted at once (an asyncio task is scheduled when the task is called), so
    ``asyncio.gather`` over several instances runs the children in parallel. Awaiting gives the
    child's result (a one-element output array is unwrapped), or raises ``TaskRunError`` when
    the child failed or was canceled, or ``ClientError`` when the engine refused the submission.

    Attributes:
        name: the task name the child was submitted under.
    """

    def __init__(
        self, name: str, client: SocketClient, payload: str, call_index: int | None = None
    ) -> None:
        self.name = name
        self._call_index = call_index
        self._run_id: str | None = None
        self._submitted = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(client, payload))

    def __await__(self) -> Generator[Any, None, Any]:
        return self._task.__await__()

    def __repr__(self) -> str:
        return f"<TaskInstance {self.name!r} run_id={self._run_id!r}>"

    async def run_id(self) -> str:
        """The child's run id, once the engine has accepted the submission.

        Raises:
            ClientError: the engine refused the submission.
        """
        await self._submitted.wait()
        if self._run_id is None:
            await self._task  # re-raises the submission error
            raise AssertionError("unreachable")  # pragma: no cover
        return self._run_id

    async def _run(self, client: SocketClient, payload: str) -> Any:
        body: dict[str, object] = {
            "task_name": self.name,
            "input": payload,
            "idempotency_key": _uuid4(),
            "created_at": datetime.now(UTC).isoformat(),
        }
        if self._call_index is not None:
            body["call_index"] = self._call_index
        try:
            answer = await client.request("POST", "/run-subtask", body)
            run_id = answer.get("task_run_id")
            if not isinstance(run_id, str) or not run_id:
                raise ServerError("POST /run-subtask: the engine sent no task_run_id")
            self._run_id = run_id
        finally:
            self._submitted.set()
        return await _wait(client, run_id)


async def _wait(client: SocketClient, run_id: str) -> Any:
    loop = asyncio.get_running_loop()
    body = {"task_run_id": run_id, "wait_ms": WAIT_MS}
    while True:
        asked_at = loop.time()
        answer = await client.request(
            "POST", "/get-subtask-result", body, timeout_s=client.timeout_s + WAIT_MS / 1000
        )
        if answer.get("still_running"):
            await asyncio.sleep(max(0.0, _MIN_POLL_S - (loop.time() - asked_at)))
            continue
        error = answer.get("error")
        if isinstance(error, dict):
            raise TaskRunError(
                f"Subtask failed: {error.get('details', '')}",
                run_id=run_id,
                error_type=str(error.get("type") or ""),
            )
        complete = answer.get("complete")
        if isinstance(complete, dict):
            return wire.unwrap_output(complete.get("output"))
        raise ServerError(f"POST /get-subtask-result: unknown task status for {run_id}")


def start_child(
    state: RunState, name: str, args: Sequence[object], kwargs: Mapping[str, object]
) -> TaskInstance:
    """Submit ``name(*args)`` or ``name(**kwargs)`` as a child of the current attempt.

    Raises:
        ValueError: both positional and keyword arguments were given (nothing is sent).
        TypeError: an argument is not JSON-serializable (nothing is sent).
        RuntimeError: called where no event loop runs (a plain ``def`` task, or a thread).
    """
    payload = wire.encode_input(args, kwargs)
    try:
        return TaskInstance(name, state.client, payload, next(state.call_order))
    except RuntimeError as exc:
        raise RuntimeError(
            f"task {name!r} was called where no event loop runs: chained calls are made from "
            "an `async def` task (and awaited), in the task's own thread"
        ) from exc
