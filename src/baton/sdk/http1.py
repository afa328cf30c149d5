"""The few parts of HTTP/1.1 the SDK needs to talk to its engine over a Unix socket.

The engine is Baton's own worker (``executor/protocol.py``), so requests are always
``Content-Length``-framed JSON. Answers are read the way RFC 9112 §6.3 frames them: interim
``1xx`` answers are skipped; a body is delimited by ``Transfer-Encoding: chunked``, by
``Content-Length``, or by the end of the connection. Anything else is ``MalformedResponse``.

This replaces a general HTTP library on the hot path of an attempt process: a freshly forked
process pays a page fault for every page of shared memory it writes, and reference counting
writes to every object it touches, so the less code a request runs the cheaper it is.
"""

from __future__ import annotations

__all__ = ["MalformedResponse", "ResponseReader", "request_bytes"]

_MAX_HEAD = 64 * 1024
_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()  # not "²", which isdigit() also accepts


class MalformedResponse(ValueError):
    """The engine's answer is not HTTP/1.1 that this reader understands."""


def request_bytes(
    method: str, target: str, payload: bytes | None, user_agent: str, *, keep_alive: bool
) -> bytes:
    """One request: the head and, for a JSON body, the body."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {user_agent}\r\n"
        "Accept: application/json\r\n"
    )
    if not keep_alive:
        head += "Connection: close\r\n"
    if payload is None:
        return (head + "\r\n").encode("latin-1")
    head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode("latin-1") + payload


class ResponseReader:
    """Parses one response from the bytes fed to it.

    ``feed`` returns ``(status, body)`` once the response is complete, else ``None``; feed it
    ``b""`` at the end of the connection. ``reusable`` then says whether the connection may
    carry another request.
    """

    def __init__(self) -> None:
        self.reusable = False
        self._buffer = b""
        self._status = 0
        self._length = -1  # the body's length; -1 before the head, -2: until the connection ends
        self._chunked = False
        self._chunks: list[bytes] = []

    def feed(self, data: bytes) -> tuple[int, bytes] | None:
        """Take the next bytes read from the connection (``b""``: it ended)."""
        self._buffer += data
        while self._length == -1:
            if not self._head(ended=not data):
                return None
        if self._chunked:
            return self._chunked_body(ended=not data)
        if self._length == -2:
            return (self._status, self._buffer) if not data else None
        if len(self._buffer) >= self._length:
            if len(self._buffer) > self._length:
                raise MalformedResponse("more bytes than the Content-Length")
            return self._status, self._buffer
        if not data:
            raise MalformedResponse("the connection ended inside the body")
        return None

    def _head(self, *, ended: bool) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if ended:
                raise MalformedResponse("the connection ended before an answer")
            if len(self._buffer) > _MAX_HEAD:
                raise MalformedResponse("the answer's head is too long")
            return False
        lines = self._buffer[:end].decode("latin-1").split("\r\n")
        self._buffer = self._buffer[end + 4 :]
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if version not in ("HTTP/1.1", "HTTP/1.0") or not _is_decimal(code) or len(code) != 3:
            raise MalformedResponse(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        status = int(code)
        if status < 200:  # an interim answer (100 Continue, ...): the real one follows
            return True
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise MalformedResponse(f"malformed header line: {line[:80]!r}")
            name = name.lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self._status = status
        self._frame(headers, version)
        return True

    def _frame(self, headers: dict[str, str], version: str) -> None:
        closing = "close" in headers.get("connection", "").lower()
        self.reusable = version == "HTTP/1.1" and not closing
        if self._status in (204, 304):
            self._length = 0
        elif "transfer-encoding" in headers:
            if headers["transfer-encoding"].lower().replace(" ", "") != "chunked":
                raise MalformedResponse(
                    f"unsupported Transfer-Encoding: {headers['transfer-encoding']}"
                )
            self._chunked = True
            self._length = 0
        elif "content-length" in headers:
            raw = headers["content-length"]
            if not _is_decimal(raw):
                raise MalformedResponse(f"bad Content-Length: {raw!r}")
            self._length = int(raw)
        else:
            self._length = -2
            self.reusable = False

    def _chunked_body(self, *, ended: bool) -> tuple[int, bytes] | None:
        while True:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                break
            size_text = self._buffer[:end].split(b";", 1)[0].strip()
            if not size_text or size_text.strip(_HEX_DIGITS):
                raise MalformedResponse(f"bad chunk size: {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                if self._buffer.find(b"\r\n\r\n", end) >= 0:  # the end of the trailers
                    return self._status, b"".join(self._chunks)
                break
            if len(self._buffer) < end + 2 + size + 2:
                break
            self._chunks.append(self._buffer[end + 2 : end + 2 + size])
            if self._buffer[end + 2 + size : end + 4 + size] != b"\r\n":
                raise MalformedResponse("a chunk does not end with CRLF")
            self._buffer = self._buffer[end + 4 + size :]
        if ended:
            raise MalformedResponse("the connection ended inside a chunked body")
        return None
