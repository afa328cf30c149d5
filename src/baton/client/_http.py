"""What the sync and async clients share about HTTP: settings, headers, error mapping."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx

from baton.errors import ClientError, RateLimitError, ServerError, TimeoutError

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
TOKEN_ENV = "BATON_API_KEY"
URL_ENV = "BATON_URL"
USER_AGENT = "baton-client/0.1"
_LOCAL_HOSTS = frozenset({"localhost", "::1", "0.0.0.0"})
_UNKNOWN = "Unknown error occurred"

# The event stream allows 5 s to connect and to send, and reads as long as the run lasts.
SSE_CONNECT_S = 5.0


def resolve_token(token: str | None) -> str | None:
    """The token argument, else ``$BATON_API_KEY``; ``None`` when neither is set."""
    return token or os.environ.get(TOKEN_ENV) or None


def resolve_base_url(base_url: str | None) -> str:
    """The API root ending in ``/v1``, from the argument, ``$BATON_URL`` or the default."""
    url = (base_url or os.environ.get(URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
    if "://" not in url:
        host = urlsplit("//" + url).hostname or ""
        local = host in _LOCAL_HOSTS or host.startswith("127.")
        url = ("http://" if local else "https://") + url
    if not urlsplit(url).path.endswith("/v1"):
        url += "/v1"
    return url


def headers(token: str | None) -> dict[str, str]:
    """Headers sent with every call; ``Authorization`` only when a token is set."""
    out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}


def error_from_response(op: str, response: httpx.Response) -> ClientError:
    """The exception for an error response whose body has been read (spec §2.6)."""
    status = response.status_code
    message, code = _error_body(response)
    text = f"{op} failed: {message}" if message else f"{op} failed: HTTP {status}"
    if status == 429:
        return RateLimitError(text, status=status, code=code)
    if status >= 500:
        return ServerError(text, status=status, code=code)
    return ClientError(text, status=status, code=code)


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        snippet = response.text.strip()[:200]
        reason = f"HTTP {response.status_code} with a non-JSON body"
        return (f"{reason}: {snippet}" if snippet else reason), ""
    message = body.get("message")
    message = message if isinstance(message, str) and message else _UNKNOWN
    if isinstance(body.get("id"), str) and body["id"]:
        message = f"{message} (ID: {body['id']})"
    code = body.get("code")
    return message, code if isinstance(code, str) else ""


def check(op: str, response: httpx.Response) -> None:
    """Raises the mapped exception unless the (read) response is a success."""
    if response.status_code >= 400:
        raise error_from_response(op, response)


def error_from_transport(op: str, exc: httpx.HTTPError) -> ClientError:
    """The exception for a request that got no response."""
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(f"{op} timed out: {exc or type(exc).__name__}")
    if isinstance(exc, httpx.TransportError):
        return ServerError(f"{op} failed due to network error: {exc or type(exc).__name__}")
    return ClientError(f"{op} failed: {exc or type(exc).__name__}")


@contextmanager
def translate(op: str) -> Iterator[None]:
    """Turns httpx's request errors raised inside the block into Baton's."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise error_from_transport(op, exc) from exc


def decode_json(op: str, response: httpx.Response) -> object:
    """The JSON body of a success response; ``None`` for an empty body."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        raise ServerError(
            f"{op} failed: server returned a non-JSON response (HTTP {response.status_code})",
            status=response.status_code,
        ) from None
