"""The worker-protocol socket server survives garbage; each failure closes one connection."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from baton.errors import TaskNotFound
from baton.executor.protocol import AttemptServer, Request

RECV_TIMEOUT_S = 10.0


async def _input(request: Request) -> dict[str, Any]:
    return {"task_name": "square", "query": request.query}


async def _echo(request: Request) -> dict[str, Any]:
    return {"echo": request.body}


async def _missing(request: Request) -> dict[str, Any]:
    raise TaskNotFound("task not found: wf/ghost")


async def _broken(request: Request) -> dict[str, Any]:
    raise RuntimeError("handler bug")


SLOW_DONE: list[float] = []  # when each /slow answer was ready


async def _slow(request: Request) -> dict[str, Any]:
    await asyncio.sleep(0.2)
    SLOW_DONE.append(asyncio.get_running_loop().time())
    return {"late": True}


ROUTES = {
    ("POST", "/slow"): _slow,
    ("GET", "/input"): _input,
    ("POST", "/callback"): _echo,
    ("POST", "/run-subtask"): _missing,
    ("POST", "/get-subtask-result"): _broken,
}


@pytest.fixture
async def server_path() -> AsyncIterator[str]:
    # Not tmp_path: a Unix socket path must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="baton-srv-") as directory:
        server = AttemptServer(os.path.join(directory, "attempt.sock"), ROUTES)
        await server.start()
        try:
            yield server.path
        finally:
            await server.close()


def _exchange(path: str, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes on a new connection; return everything read until the server closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(RECV_TIMEOUT_S)
        sock.connect(path)
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def exchange(path: str, data: bytes, *, half_close: bool = False) -> bytes:
    return await asyncio.to_thread(_exchange, path, data, half_close=half_close)


def http(method: str, target: str, body: bytes | None = None) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


def parse(response: bytes) -> tuple[int, dict[str, Any]]:
    head, sep, body = response.partition(b"\r\n\r\n")
    assert sep, f"not an HTTP response: {response[:200]!r}"
    status = int(head.split(b" ", 2)[1])
    headers = dict(
        line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line
    )
    assert headers.get("Content-Type", headers.get("content-type")) == "application/json"
    return status, json.loads(body)


async def assert_still_serving(path: str) -> None:
    status, body = parse(await exchange(path, http("POST", "/callback", b'{"ok": true}')))
    assert (status, body) == (200, {"echo": {"ok": True}})


async def test_well_formed_request_gets_the_handler_answer(server_path: str) -> None:
    status, body = parse(await exchange(server_path, http("GET", "/input?sdk_started_at=7")))

    assert status == 200
    assert body == {"task_name": "square", "query": {"sdk_started_at": "7"}}


async def test_bytes_that_are_not_http_close_only_that_connection(server_path: str) -> None:
    answer = await exchange(server_path, b"\x00\xff\xfe not http at all \x01\x02\r\n\r\n")

    assert b"200 OK" not in answer
    await assert_still_serving(server_path)


async def test_unknown_path_gets_404_json(server_path: str) -> None:
    status, body = parse(await exchange(server_path, http("POST", "/no-such-thing", b"{}")))

    assert status == 404
    assert "/no-such-thing" in body["message"]
    await assert_still_serving(server_path)


async def test_body_that_is_not_json_gets_400_json(server_path: str) -> None:
    status, body = parse(await exchange(server_path, http("POST", "/callback", b"{not json")))

    assert status == 400
    assert "not valid JSON" in body["message"]
    await assert_still_serving(server_path)


async def test_json_body_that_is_not_an_object_gets_400_json(server_path: str) -> None:
    status, body = parse(await exchange(server_path, http("POST", "/callback", b"[1, 2]")))

    assert status == 400
    assert "JSON object" in body["message"]
    await assert_still_serving(server_path)


async def test_body_over_4_mib_gets_413_json(server_path: str) -> None:
    payload = b'{"output": "' + b"a" * (5 * 1024 * 1024) + b'"}'

    status, body = parse(await exchange(server_path, http("POST", "/callback", payload)))

    assert status == 413
    assert "4 MiB" in body["message"]
    await assert_still_serving(server_path)


async def test_connection_closed_mid_request_leaves_the_server_serving(server_path: str) -> None:
    partial = http("POST", "/callback", b'{"complete": {"output": "WzFd"}}')[:-10]

    answer = await exchange(server_path, partial, half_close=True)

    assert answer == b""
    await assert_still_serving(server_path)


async def test_connection_closed_inside_the_headers_leaves_the_server_serving(
    server_path: str,
) -> None:
    answer = await exchange(server_path, b"POST /callback HTTP/1.1\r\nHost: lo", half_close=True)

    assert answer == b""
    await assert_still_serving(server_path)


async def test_handler_raising_a_domain_error_maps_to_its_status(server_path: str) -> None:
    status, body = parse(await exchange(server_path, http("POST", "/run-subtask", b"{}")))

    assert status == 404
    assert body == {"message": "task not found: wf/ghost"}
    await assert_still_serving(server_path)


async def test_handler_crash_gets_500_json(server_path: str, caplog) -> None:
    status, body = parse(await exchange(server_path, http("POST", "/get-subtask-result", b"{}")))

    assert status == 500
    assert body == {"message": "handler bug"}
    assert "worker protocol handler failed" in caplog.text
    await assert_still_serving(server_path)


async def test_keep_alive_connection_serves_several_requests(server_path: str) -> None:
    keep_alive = (
        b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n"
        b'{"n": 1}'
        b"POST /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n"
        b'{"n": 2}'
    )

    answer = await exchange(server_path, keep_alive)

    assert answer.count(b"HTTP/1.1 200") == 2
    assert b'{"echo": {"n": 1}}' in answer
    assert b'{"echo": {"n": 2}}' in answer


async def test_client_leaving_while_its_answer_is_computed_leaves_the_server_serving(
    server_path: str,
) -> None:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))

    def send_and_leave() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(server_path)
            sock.sendall(http("POST", "/slow", b"{}"))

    SLOW_DONE.clear()
    await asyncio.to_thread(send_and_leave)
    for _ in range(500):  # the handler finishes after its client is gone (bounded wait)
        if SLOW_DONE:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # and its answer, to nobody, has been dealt with

    gc.collect()  # a task that failed unseen reports its exception when collected

    assert SLOW_DONE
    assert errors == []
    await assert_still_serving(server_path)
