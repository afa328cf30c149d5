"""A small asyncio HTTP/1.1 client for the engine's Unix socket (spec §1.3).

One connection per request, ``Host: localhost``, JSON bodies with ``Content-Length``. Transient
failures (refused connection, missing socket file, malformed HTTP, timeouts, 429 and 5xx) are
retried with a short doubling backoff; any other 4xx raises ``ClientError`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import socket
import sys
import time
from typing import Any, cast

from baton.errors import BatonError, ClientError, RateLimitError, ServerError
from baton.sdk.http1 import MalformedResponse, ResponseReader, request_bytes

__all__ = ["SocketClient"]

_USER_AGENT = "baton-sdk-python ({}/{}.{}.{})".format(
    sys.implementation.name, *sys.version_info[:3]
)
DEFAULT_TIMEOUT_S = 15.0
DEFAULT_TRIES = 10
DEFAULT_BACKOFF_S = 0.05
_KEEP_ALIVE_S = 1.0  # reuse a blocking connection only this soon after its last answer


def _max_connections() -> int:
    # A parent gathering N children holds N long polls; stay well inside the fd limit.
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(8, min(4096, soft - 64))


class _Transient(Exception):
    """A failure worth another try; ``error`` is what to raise when the tries run out."""

    def __init__(self, error: BatonError) -> None:
        super().__init__(str(error))
        self.error = error


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        for key in ("message", "error"):
            if data.get(key):
                return str(data[key])
    return body.decode("utf-8", "replace").strip()


class SocketClient:
    """JSON requests to the engine over ``socket_path``; safe for many concurrent requests.

    Args:
        socket_path: the Unix socket the engine serves HTTP/1.1 on.
        tries: attempts per request before a transient failure is raised (default 10).
        backoff_s: the delay after the first failed try, doubling after each further one
            (default 0.05 s).
        timeout_s: connect-and-read limit of one try (default 15 s).
    """

    def __init__(
        self,
        socket_path: str,
        *,
        tries: int | None = None,
        backoff_s: float | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.tries = max(1, DEFAULT_TRIES if tries is None else tries)
        self.backoff_s = DEFAULT_BACKOFF_S if backoff_s is None else backoff_s
        self.timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        self._slots: asyncio.Semaphore | None = None  # made on the first async request
        self._kept: tuple[socket.SocketType, float] | None = None

    def close(self) -> None:
        """Close the connection kept open between blocking requests, if any."""
        kept, self._kept = self._kept, None
        if kept is not None:
            kept[0].close()

    async def request(
        self,
        method: str,
        target: str,
        body: object = None,
        *,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Send one request and return the JSON object of its 2xx answer (``{}`` when empty).

        Raises:
            ClientError: the engine refused the request (4xx other than 429).
            RateLimitError: 429 on every try.
            ServerError: 5xx or no usable connection on every try, or a 2xx body that is not
                a JSON object.
        """
        payload = None if body is None else json.dumps(body).encode()
        label = f"{method} {target.partition('?')[0]}"
        for attempt in range(self.tries):
            try:
                status, data = await self._exchange(
                    method, target, payload, timeout_s or self.timeout_s
                )
                return _parse(label, status, data)
            except _Transient as exc:
                if attempt + 1 >= self.tries:
                    raise exc.error from exc
            await asyncio.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self, method: str, target: str, payload: bytes | None, timeout_s: float
    ) -> tuple[int, bytes]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(_max_connections())
        async with self._slots:
            try:
                async with asyncio.timeout(timeout_s):
                    return await self._send(method, target, payload)
            except (OSError, TimeoutError, MalformedResponse) as exc:
                error = ServerError(f"{method} {target} failed: {type(exc).__name__}: {exc}")
                raise _Transient(error) from exc

    async def _send(self, method: str, target: str, payload: bytes | None) -> tuple[int, bytes]:
        # Bare sockets and the loop's sock_* calls: cheaper than streams in a fresh fork.
        loop = asyncio.get_running_loop()
        kept, self._kept = self._kept, None
        if kept is not None:
            # The blocking requests' connection (an async task's attempt read its input on
            # it): one connection and one accept less for its callback. A connection the
            # engine has closed meanwhile is replaced at once (nothing was sent).
            if time.monotonic() - kept[1] < _KEEP_ALIVE_S:
                with contextlib.suppress(OSError, MalformedResponse):
                    return await self._send_on(loop, kept[0], method, target, payload)
            kept[0].close()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, self.socket_path)
            await loop.sock_sendall(
                sock, request_bytes(method, target, payload, _USER_AGENT, keep_alive=False)
            )
            return await _read_response(sock)

    async def _send_on(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.SocketType,
        method: str,
        target: str,
        payload: bytes | None,
    ) -> tuple[int, bytes]:
        """One request on a kept connection; keep it again if the answer allows."""
        # The loop's sock_* calls use only the methods the C socket type has.
        loop_sock = cast(socket.socket, sock)
        try:
            sock.setblocking(False)
            await loop.sock_sendall(
                loop_sock, request_bytes(method, target, payload, _USER_AGENT, keep_alive=True)
            )
            reader = ResponseReader()
            while (done := reader.feed(await loop.sock_recv(loop_sock, 65536))) is None:
                pass
        except BaseException:
            sock.close()
            raise
        if reader.reusable:
            self._kept = (sock, time.monotonic())
        else:
            sock.close()
        return done

    def request_sync(
        self,
        method: str,
        target: str,
        body: object = None,
        *,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """``request`` for a thread with no event loop (blocking; same retries and errors)."""
        payload = None if body is None else json.dumps(body).encode()
        label = f"{method} {target.partition('?')[0]}"
        for attempt in range(self.tries):
            try:
                status, data = self._exchange_sync(
                    method, target, payload, timeout_s or self.timeout_s
                )
                return _parse(label, status, data)
            except _Transient as exc:
                if attempt + 1 >= self.tries:
                    raise exc.error from exc
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _exchange_sync(
        self, method: str, target: str, payload: bytes | None, timeout_s: float
    ) -> tuple[int, bytes]:
        # A plain task makes two requests in a row (/input, /callback): the second reuses the
        # first's connection when it is fresh, which saves a connect and an accept. A kept
        # connection the engine has closed meanwhile is replaced at once (nothing was sent).
        kept, self._kept = self._kept, None
        if kept is not None:
            if time.monotonic() - kept[1] < _KEEP_ALIVE_S:
                try:
                    return self._exchange_on(kept[0], method, target, payload, timeout_s)
                except _Transient:
                    pass
            kept[0].close()
        # The C socket type: its Python subclass adds nothing used here but an __init__ call.
        sock = socket.SocketType(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout_s)
            sock.connect(self.socket_path)
        except OSError as exc:
            sock.close()
            error = ServerError(f"{method} {target} failed: {type(exc).__name__}: {exc}")
            raise _Transient(error) from exc
        return self._exchange_on(sock, method, target, payload, timeout_s)

    def _exchange_on(
        self,
        sock: socket.SocketType,
        method: str,
        target: str,
        payload: bytes | None,
        timeout_s: float,
    ) -> tuple[int, bytes]:
        try:
            if sock.gettimeout() != timeout_s:
                sock.settimeout(timeout_s)
            sock.sendall(request_bytes(method, target, payload, _USER_AGENT, keep_alive=True))
            reader = ResponseReader()
            while (done := reader.feed(sock.recv(65536))) is None:
                pass
        except (OSError, MalformedResponse) as exc:
            sock.close()
            error = ServerError(f"{method} {target} failed: {type(exc).__name__}: {exc}")
            raise _Transient(error) from exc
        if reader.reusable:
            self._kept = (sock, time.monotonic())
        else:
            sock.close()
        return done


async def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    loop = asyncio.get_running_loop()
    reader = ResponseReader()
    while (done := reader.feed(await loop.sock_recv(sock, 65536))) is None:
        pass
    return done


def _parse(label: str, status: int, data: bytes) -> dict[str, Any]:
    if 200 <= status < 300:
        if not data.strip():
            return {}
        try:
            value = json.loads(data)
        except ValueError as exc:
            raise ServerError(f"{label}: the engine answered with invalid JSON") from exc
        if not isinstance(value, dict):
            raise ServerError(f"{label}: the engine answered with {type(value).__name__}")
        return value
    message = f"{label} failed with status {status}: {_message(data)}"
    if status == 429:
        raise _Transient(RateLimitError(message, status=status))
    if status >= 500:
        raise _Transient(ServerError(message, status=status))
    raise ClientError(message, status=status)
