"""The SDK's HTTP/1.1 framing: requests it writes and the answers it can read."""

from __future__ import annotations

import h11
import pytest

from baton.sdk.http1 import MalformedResponse, ResponseReader, request_bytes


def read(*parts: bytes) -> tuple[tuple[int, bytes] | None, ResponseReader]:
    reader = ResponseReader()
    done = None
    for part in parts:
        done = reader.feed(part)
        if done is not None:
            break
    return done, reader


def test_request_is_valid_http_with_host_and_content_length() -> None:
    server = h11.Connection(h11.SERVER)
    server.receive_data(request_bytes("POST", "/callback?x=1", b'{"a":1}', "ua/1", keep_alive=True))
    request = server.next_event()
    assert isinstance(request, h11.Request)
    assert (request.method, request.target) == (b"POST", b"/callback?x=1")
    headers = dict(request.headers)
    assert headers[b"host"] == b"localhost"
    assert headers[b"content-length"] == b"7"
    assert headers[b"user-agent"] == b"ua/1"
    assert b"connection" not in headers
    data = server.next_event()
    assert isinstance(data, h11.Data) and data.data == b'{"a":1}'
    assert isinstance(server.next_event(), h11.EndOfMessage)


def test_request_without_body_can_ask_to_close() -> None:
    raw = request_bytes("GET", "/input", None, "ua", keep_alive=False)
    assert raw.startswith(b"GET /input HTTP/1.1\r\n")
    assert b"Connection: close\r\n" in raw and raw.endswith(b"\r\n\r\n")
    assert b"Content-Length" not in raw


def test_content_length_answer_split_anywhere() -> None:
    raw = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}'
    for cut in range(1, len(raw)):
        done, reader = read(raw[:cut], raw[cut:])
        assert done == (200, b'{"a":1}')
        assert reader.reusable


def test_chunked_answer_with_trailers() -> None:
    raw = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
    for cut in range(1, len(raw)):
        done, _ = read(raw[:cut], raw[cut:])
        assert done == (201, b"abcde")


def test_answer_without_length_ends_with_the_connection() -> None:
    done, reader = read(b"HTTP/1.0 500 Oops\r\n\r\nboom", b"!", b"")
    assert done == (500, b"boom!")
    assert not reader.reusable


def test_interim_answers_are_skipped_and_close_is_honoured() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    done, reader = read(raw)
    assert done == (204, b"")
    assert not reader.reusable


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n",
        b"HTTP/1.1 2\xb2\xb2 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
    ],
)
def test_malformed_answers_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedResponse):
        read(raw)


@pytest.mark.parametrize(
    "parts",
    [
        (b"",),
        (b"HTTP/1.1 200 OK\r\n", b""),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", b""),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", b""),
    ],
)
def test_connection_ending_early_is_malformed(parts: tuple[bytes, ...]) -> None:
    with pytest.raises(MalformedResponse):
        read(*parts)


def test_oversized_head_is_refused() -> None:
    with pytest.raises(MalformedResponse, match="too long"):
        read(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000)
