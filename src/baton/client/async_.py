"""The asyncio REST client: ``BatonAsync``, and ``AwaitableTaskRun``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterable, Mapping, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import TypeVar

import httpx

from baton.client import _calls, _http, _wait
from baton.client._transport import fast_transport
from baton.client.durable import DurableAPIAsync
from baton.client.sse import SSEDecoder
from baton.client.types import LogLine, Task, TaskRun, TaskRunDetails, TaskRunWithCursor
from baton.errors import BatonError

__all__ = ["AwaitableTaskRun", "BatonAsync", "WorkflowsAPIAsync"]

T = TypeVar("T")


class AwaitableTaskRun:
    """A run just started by ``BatonAsync.workflows.start_task``.

    Awaiting it waits for the run to end and returns its ``TaskRunDetails``, raising
    ``TaskRunError`` if the run failed or was canceled.

    Attributes:
        task_run: the run as the start request returned it.
    """

    def __init__(self, task_run: TaskRun, api: WorkflowsAPIAsync) -> None:
        self.task_run = task_run
        self._api = api

    @property
    def id(self) -> str:
        """The run's id."""
        return self.task_run.id

    @property
    def status(self) -> str:
        """The run's status when it was started (not refreshed)."""
        return self.task_run.status

    def __await__(self) -> Generator[object, None, TaskRunDetails]:
        return self._api._finish(self.task_run, None).__await__()

    def __repr__(self) -> str:
        return f"AwaitableTaskRun(id={self.id!r}, status={self.status!r})"


class WorkflowsAPIAsync:
    """Task-run operations, reached as ``BatonAsync(...).workflows``."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _send(self, call: _calls.Call[T]) -> T:
        with _http.translate(call.op):
            response = await self._http.request(
                call.method, call.path, params=tuple(call.params), json=call.body
            )
        return call.finish(response)

    async def start_task(
        self,
        task_slug: str,
        input: Sequence[object] | Mapping[str, object] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> AwaitableTaskRun:
        """Starts a run of a task; await the result to wait for the run.

        Args:
            task_slug: ``"<workflow>/<task>"``, optionally with ``":<version>"``.
            input: positional arguments as a list, or keyword arguments as a dict.
            idempotency_key: a repeated key returns the run the first request started.

        Returns:
            The new run, usually ``pending``.

        Raises:
            ClientError: the API refused the request (unknown task, bad input...).
        """
        run = await self._send(_calls.start_task(task_slug, input, idempotency_key))
        return AwaitableTaskRun(run, self)

    async def run_task(
        self,
        task_slug: str,
        input: Sequence[object] | Mapping[str, object] | None = None,
        *,
        timeout: float | None = None,
    ) -> TaskRunDetails:
        """Starts a run and waits for it to end.

        Args:
            task_slug: ``"<workflow>/<task>"``, optionally with ``":<version>"``.
            input: positional arguments as a list, or keyword arguments as a dict.
            timeout: seconds to wait in all, or ``None`` to wait as long as the run lasts.

        Returns:
            The ended run, with its ``results``.

        Raises:
            TaskRunError: the run failed or was canceled; the message is the run's error.
            TimeoutError: ``timeout`` passed first (the run goes on).
        """
        deadline = _wait.Deadline(f"run_task({task_slug!r})", timeout)
        try:
            async with asyncio.timeout(timeout):
                run = await self._send(_calls.start_task(task_slug, input, None))
                return await self._finish(run, None)
        except TimeoutError:
            raise deadline.expired() from None

    async def wait(self, task_run_id: str, timeout: float | None = None) -> TaskRunDetails:
        """Waits for a run to end, over the event stream.

        Args:
            task_run_id: the run to wait for.
            timeout: seconds to wait in all, or ``None`` to wait as long as the run lasts.

        Returns:
            The ended run.

        Raises:
            TaskRunError: the run failed or was canceled; the message is the run's error.
            TimeoutError: ``timeout`` passed first (the run goes on).
        """
        deadline = _wait.Deadline(f"wait for task run {task_run_id}", timeout)
        try:
            async with asyncio.timeout(timeout):
                return await self._await_run(task_run_id)
        except TimeoutError:
            raise deadline.expired() from None

    async def _finish(self, run: TaskRun, timeout: float | None) -> TaskRunDetails:
        if run.is_terminal:
            return _wait.outcome(await self.get_task_run(run.id))
        return await self.wait(run.id, timeout)

    async def _await_run(self, task_run_id: str) -> TaskRunDetails:
        last: BatonError = _wait.no_event(task_run_id)
        for attempt in range(len(_wait.BACKOFF_S) + 1):
            if attempt:
                await asyncio.sleep(_wait.BACKOFF_S[attempt - 1])
            try:
                return await self._wait_once(task_run_id)
            except _wait.RETRYABLE as exc:
                last = exc
        raise last

    async def _wait_once(self, task_run_id: str) -> TaskRunDetails:
        async with aclosing(self._events(_calls.events_params(task_run_id))) as events:
            async for details in events:
                if details.id == task_run_id:
                    return _wait.outcome(details)
        raise _wait.no_event(task_run_id)

    async def get_task_run(self, task_run_id: str) -> TaskRunDetails:
        """Fetches a run with its input, results and error.

        Raises:
            ClientError: no run has that id (status 404).
        """
        return await self._send(_calls.get_task_run(task_run_id))

    async def list_task_runs(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        task_slug: str | Iterable[str] | None = None,
        root_task_run_id: str | Iterable[str] | None = None,
        status: str | Iterable[str] | None = None,
    ) -> list[TaskRunWithCursor]:
        """Lists runs, newest first, one page at a time.

        Args:
            limit: page size (the server's default is 20).
            cursor: the ``cursor`` of the last element of the previous page.
            task_slug: keep runs of these tasks (one slug or several).
            root_task_run_id: keep runs in these trees.
            status: keep runs in these statuses.

        Returns:
            The page; an empty list means there is nothing more.
        """
        return await self._send(
            _calls.list_task_runs(
                limit=limit,
                cursor=cursor,
                task_slug=task_slug,
                root_task_run_id=root_task_run_id,
                status=status,
            )
        )

    async def cancel_task_run(self, task_run_id: str) -> None:
        """Cancels a root run and every active run in its tree.

        Raises:
            ClientError: unknown run (404), a child run or a run that already ended (409).
        """
        await self._send(_calls.cancel_task_run(task_run_id))

    def task_run_events(self, task_run_ids: str | Iterable[str]) -> AsyncIterator[TaskRunDetails]:
        """Streams runs as they end; ends when all of them have ended.

        Runs that ended before the call are reported at once. Close the iterator
        (``contextlib.aclosing``) if you stop early, to release the connection.

        Args:
            task_run_ids: one run id or several.

        Returns:
            An async iterator of each run's details once it reaches a terminal status.
        """
        return self._events(_calls.events_params(task_run_ids))

    async def _events(self, params: _calls.Params) -> AsyncGenerator[TaskRunDetails, None]:
        timeout = httpx.Timeout(_http.SSE_CONNECT_S, read=None)
        decoder = SSEDecoder()
        with _http.translate(_calls.EVENTS_OP):
            async with self._http.stream(
                "GET",
                _calls.EVENTS_PATH,
                params=tuple(params),
                headers=_http.SSE_HEADERS,
                timeout=timeout,
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _http.check(_calls.EVENTS_OP, response)
                async for chunk in response.aiter_bytes():
                    for event in decoder.feed(chunk):
                        details = _wait.parse_event(event)
                        if details is not None:
                            yield details

    async def list_tasks(self) -> list[Task]:
        """Lists the tasks of every workflow's latest ready version (Baton extension).

        Returns:
            Every task, following the API's pages.
        """
        pages = _calls.TaskPages()
        cursor: str | None = None
        while True:
            cursor = pages.add(await self._send(_calls.list_tasks_page(cursor)))
            if cursor is None:
                return list(pages.tasks.values())

    async def get_logs(
        self, task_run_id: str, *, attempt: int | None = None, after: int | None = None
    ) -> list[LogLine]:
        """Fetches what a run's attempts printed (Baton extension).

        Args:
            task_run_id: the run.
            attempt: only this 0-based attempt; all attempts when ``None``.
            after: only lines whose ``seq`` is greater (pass the last line's ``seq``).

        Returns:
            The lines in order.
        """
        return await self._send(_calls.get_logs(task_run_id, attempt, after))


class BatonAsync:
    """An asyncio client for Baton's REST API (wire-compatible with ``RenderAsync``).

    Args:
        token: API key sent as ``Authorization: Bearer``; defaults to ``$BATON_API_KEY``.
            Without one, no ``Authorization`` header is sent.
        base_url: the server root (``/v1`` is appended unless present); defaults to
            ``$BATON_URL``, then ``http://127.0.0.1:8000``.
        timeout: seconds for ordinary requests (``None``: no limit). Event streams read
            without a limit.
        transport: an httpx async transport, for tests or to embed the server in-process
            (``httpx.ASGITransport(app)``); by default aiohttp's, behind httpx's API
            (``baton.client._transport``).

    Example::

        async with BatonAsync() as client:
            run = await client.workflows.start_task("my-workflow/square", [3])
            details = await run
    """

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = _http.resolve_base_url(base_url)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=_http.headers(_http.resolve_token(token)),
            timeout=timeout,
            transport=transport or fast_transport(),
        )
        self.workflows = WorkflowsAPIAsync(self._http)
        self.durable = DurableAPIAsync(self.workflows._send)  # schedules, pauses, checkpoints

    async def close(self) -> None:
        """Closes the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> BatonAsync:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
