"""The blocking REST client: ``Baton``."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from types import TracebackType
from typing import TypeVar

import httpx

from baton.client import _calls, _http, _wait
from baton.client.durable import DurableAPI
from baton.client.sse import SSEDecoder
from baton.client.types import LogLine, Task, TaskRun, TaskRunDetails, TaskRunWithCursor
from baton.errors import BatonError

__all__ = ["Baton", "WorkflowsAPI"]

T = TypeVar("T")


class WorkflowsAPI:
    """Task-run operations, reached as ``Baton(...).workflows``."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def _send(self, call: _calls.Call[T]) -> T:
        with _http.translate(call.op):
            response = self._http.request(
                call.method, call.path, params=tuple(call.params), json=call.body
            )
        return call.finish(response)

    def start_task(
        self,
        task_slug: str,
        input: Sequence[object] | Mapping[str, object] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> TaskRun:
        """Starts a run of a task and returns at once.

        Args:
            task_slug: ``"<workflow>/<task>"``, optionally with ``":<version>"``.
            input: positional arguments as a list, or keyword arguments as a dict.
            idempotency_key: a repeated key returns the run the first request started.

        Returns:
            The new run, usually ``pending``.

        Raises:
            ClientError: the API refused the request (unknown task, bad input...).
        """
        return self._send(_calls.start_task(task_slug, input, idempotency_key))

    def run_task(
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
        run = self.start_task(task_slug, input)
        if run.is_terminal:
            return _wait.outcome(self.get_task_run(run.id))
        return self._await_run(run.id, deadline)

    def wait(self, task_run_id: str, timeout: float | None = None) -> TaskRunDetails:
        """Waits for a run to end, over the event stream.

        Args:
            task_run_id: the run to wait for.
            timeout: seconds to wait in all, or ``None`` to wait as long as the run lasts.

        Returns:
            The ended run.

        Raises:
            TaskRunError: the run failed or was canceled; the message is the run's error.
            TimeoutError: ``timeout`` passed first. The deadline is checked whenever data
                arrives; a silent stream is cut when its read timeout (set to the time left
                at connection) expires.
        """
        return self._await_run(
            task_run_id, _wait.Deadline(f"wait for task run {task_run_id}", timeout)
        )

    def _await_run(self, task_run_id: str, deadline: _wait.Deadline) -> TaskRunDetails:
        last: BatonError = _wait.no_event(task_run_id)
        for attempt in range(len(_wait.BACKOFF_S) + 1):
            if attempt:
                deadline.sleep(_wait.BACKOFF_S[attempt - 1])
            try:
                return self._wait_once(task_run_id, deadline)
            except _wait.RETRYABLE as exc:
                last = exc
        deadline.remaining()
        raise last

    def _wait_once(self, task_run_id: str, deadline: _wait.Deadline) -> TaskRunDetails:
        with closing(self._events(_calls.events_params(task_run_id), deadline)) as events:
            for details in events:
                if details.id == task_run_id:
                    return _wait.outcome(details)
        raise _wait.no_event(task_run_id)

    def get_task_run(self, task_run_id: str) -> TaskRunDetails:
        """Fetches a run with its input, results and error.

        Raises:
            ClientError: no run has that id (status 404).
        """
        return self._send(_calls.get_task_run(task_run_id))

    def list_task_runs(
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
        return self._send(
            _calls.list_task_runs(
                limit=limit,
                cursor=cursor,
                task_slug=task_slug,
                root_task_run_id=root_task_run_id,
                status=status,
            )
        )

    def cancel_task_run(self, task_run_id: str) -> None:
        """Cancels a root run and every active run in its tree.

        Raises:
            ClientError: unknown run (404), a child run or a run that already ended (409).
        """
        self._send(_calls.cancel_task_run(task_run_id))

    def task_run_events(self, task_run_ids: str | Iterable[str]) -> Iterator[TaskRunDetails]:
        """Streams runs as they end; ends when all of them have ended.

        Runs that ended before the call are reported at once. Close the iterator (or use
        ``contextlib.closing``) if you stop early, to release the connection.

        Args:
            task_run_ids: one run id or several.

        Yields:
            Each run's details once it reaches a terminal status.
        """
        return self._events(_calls.events_params(task_run_ids), None)

    def _events(
        self, params: _calls.Params, deadline: _wait.Deadline | None
    ) -> Generator[TaskRunDetails, None, None]:
        read_s = deadline.remaining() if deadline else None
        timeout = httpx.Timeout(_http.SSE_CONNECT_S, read=read_s)
        decoder = SSEDecoder()
        with (
            _http.translate(_calls.EVENTS_OP),
            self._http.stream(
                "GET",
                _calls.EVENTS_PATH,
                params=tuple(params),
                headers=_http.SSE_HEADERS,
                timeout=timeout,
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                _http.check(_calls.EVENTS_OP, response)
            for chunk in response.iter_bytes():
                for event in decoder.feed(chunk):
                    details = _wait.parse_event(event)
                    if details is not None:
                        yield details
                if deadline:
                    deadline.remaining()

    def list_tasks(self) -> list[Task]:
        """Lists the tasks of every workflow's latest ready version (Baton extension).

        Returns:
            Every task, following the API's pages.
        """
        pages = _calls.TaskPages()
        cursor: str | None = None
        while True:
            cursor = pages.add(self._send(_calls.list_tasks_page(cursor)))
            if cursor is None:
                return list(pages.tasks.values())

    def get_logs(
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
        return self._send(_calls.get_logs(task_run_id, attempt, after))


class Baton:
    """A blocking client for Baton's REST API (wire-compatible with Render's ``Render``).

    Args:
        token: API key sent as ``Authorization: Bearer``; defaults to ``$BATON_API_KEY``.
            Without one, no ``Authorization`` header is sent.
        base_url: the server root (``/v1`` is appended unless present); defaults to
            ``$BATON_URL``, then ``http://127.0.0.1:8000``.
        timeout: seconds for ordinary requests (``None``: no limit). Event streams read
            without a limit.
        transport: an httpx transport, for tests or to embed the server in-process.

    Example::

        with Baton() as client:
            details = client.workflows.run_task("my-workflow/square", [3])
            print(details.results)
    """

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = _http.resolve_base_url(base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=_http.headers(_http.resolve_token(token)),
            timeout=timeout,
            transport=transport,
        )
        self.workflows = WorkflowsAPI(self._http)
        self.durable = DurableAPI(self.workflows._send)  # schedules, pauses, checkpoints

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    def __enter__(self) -> Baton:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
