"""Every public exception Baton raises.

Tree::

    BatonError
    ├── TaskNotFound          a task slug or name that no workflow version defines
    ├── RunNotFound           a run id the store does not know
    ├── ScheduleNotFound      a schedule id the store does not know
    ├── InvalidInput          input that does not bind to the task's signature, or is not JSON
    ├── InvalidTransition     an action the run's state does not allow (cancel a finished run)
    ├── StoreUnavailable      the database cannot be reached or answered with an error
    ├── QueueFull             too many runs waiting; try again later
    ├── RegistrationFailed    a workflow's code could not be imported or registered
    ├── NonRetryableError     raised by a task to fail its run without further retries
    ├── TaskRunError          a run ended failed or canceled (client waits, chained awaits)
    └── ClientError           the API refused a request (4xx)
        ├── RateLimitError    429
        ├── ServerError       5xx or a network failure
        └── TimeoutError      the request timed out

``TaskCanceled`` derives from ``BaseException`` on purpose: a task's ``except Exception``
must not swallow the cancellation of its own run.
"""

from __future__ import annotations

__all__ = [
    "BatonError",
    "ClientError",
    "InvalidInput",
    "InvalidTransition",
    "NonRetryableError",
    "QueueFull",
    "RateLimitError",
    "RegistrationFailed",
    "RunNotFound",
    "ScheduleNotFound",
    "ServerError",
    "StoreUnavailable",
    "TaskCanceled",
    "TaskNotFound",
    "TaskRunError",
    "TimeoutError",
]


class BatonError(Exception):
    """Baton failed to do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class TaskNotFound(BatonError):
    """No workflow version defines that task."""


class RunNotFound(BatonError):
    """No task run has that id."""


class ScheduleNotFound(BatonError):
    """No schedule has that id."""


class InvalidInput(BatonError):
    """The input does not match the task's signature or is not JSON."""


class InvalidTransition(BatonError):
    """The run's current state does not allow that action."""


class StoreUnavailable(BatonError):
    """The database could not be reached or failed the operation."""


class QueueFull(BatonError):
    """Too many runs are waiting in the queue; try again later."""


class RegistrationFailed(BatonError):
    """The workflow's code could not be imported or did not register its tasks."""


class NonRetryableError(BatonError):
    """Raised inside a task to fail the run at once, skipping any remaining retries."""


class TaskRunError(BatonError):
    """A task run ended without a result: it failed, or it was canceled.

    Attributes:
        run_id: the id of the run that ended (for a chained call, the child run).
        error_type: the exception class name recorded for the failure (``"ValueError"``,
            ``"Timeout"``, ``"OutOfMemory"``, ``"Canceled"``...), or ``""`` when unknown.
    """

    def __init__(self, message: str, *, run_id: str = "", error_type: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id
        self.error_type = error_type


class ClientError(BatonError):
    """The API refused the request."""

    def __init__(self, message: str | None = None, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RateLimitError(ClientError):
    """The API asked the client to slow down (HTTP 429)."""


class ServerError(ClientError):
    """The API failed (HTTP 5xx) or could not be reached."""


class TimeoutError(ClientError):
    """The request to the API timed out."""


class TaskCanceled(BaseException):
    """The run this code belongs to was canceled."""
