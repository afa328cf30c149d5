"""The Unix-socket HTTP client: headers, JSON, retries of transient failures, 4xx errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import tempfile
import threading
from collections.abc import AsyncIterator
from typing import Any

import h11
import pytest

from baton.errors import ClientError, RateLimitError, ServerError
from baton.sdk.sockclient import SocketClient


class Scripted:
    """Answers each request with the next ``(status, body)``; records requests."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.answers: list[tuple[int, bytes]] = []
        self.seen: list[tuple[h11.Request, bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        request: Any = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        self.seen.append((request, body))
        status, data = self.answers.pop(0)
        if status == 0:  # drop the connection without answering
            writer.close()
            return
        headers = [("Content-Length", str(len(data)))]
        out = conn.send(h11.Response(status_code=status, headers=headers))
        writer.write(out + conn.send(h11.Data(data=data)) + conn.send(h11.EndOfMessage()))
        await writer.drain()
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    with tempfile.TemporaryDirectory(prefix="baton-sc-") as directory:
        scripted = Scripted(os.path.join(directory, "s.sock"))
        async with await asyncio.start_unix_server(scripted.handle, scripted.path):
            yield scripted


def client(path: str, tries: int = 5) -> SocketClient:
    return SocketClient(path, tries=tries, backoff_s=0.001)


async def test_post_sends_json_with_host_and_content_length(server: Scripted) -> None:
    server.answers = [(200, b'{"task_run_id": "trn-1"}')]
    answer = await client(server.path).request("POST", "/run-subtask", {"a": 1})
    assert answer == {"task_run_id": "trn-1"}
    request, body = server.seen[0]
    headers = dict(request.headers)
    assert (request.method, request.target) == (b"POST", b"/run-subtask")
    assert headers[b"host"] == b"localhost"
    assert headers[b"content-length"] == str(len(body)).encode()
    assert json.loads(body) == {"a": 1}


async def test_empty_answer_is_an_empty_object(server: Scripted) -> None:
    server.answers = [(200, b"")]
    assert await client(server.path).request("GET", "/input") == {}


async def test_5xx_429_and_dropped_connections_are_retried(server: Scripted) -> None:
    server.answers = [(500, b"{}"), (429, b"{}"), (0, b""), (200, b'{"ok": true}')]
    assert await client(server.path).request("POST", "/callback", {}) == {"ok": True}
    assert len(server.seen) == 4


async def test_4xx_raises_client_error_at_once(server: Scripted) -> None:
    server.answers = [(404, b'{"message": "task \'x\' not found"}')]
    with pytest.raises(ClientError) as info:
        await client(server.path).request("POST", "/run-subtask", {})
    assert info.value.status == 404
    assert str(info.value) == "POST /run-subtask failed with status 404: task 'x' not found"
    assert type(info.value) is ClientError and len(server.seen) == 1


async def test_persistent_failures_raise_after_the_last_try(server: Scripted) -> None:
    server.answers = [(503, b'{"message": "down"}')] * 3
    with pytest.raises(ServerError, match="status 503: down") as info:
        await client(server.path, tries=3).request("GET", "/input")
    assert info.value.status == 503
    server.answers = [(429, b"slow down")] * 2
    with pytest.raises(RateLimitError, match="slow down"):
        await client(server.path, tries=2).request("GET", "/input")


async def test_non_json_success_is_a_server_error(server: Scripted) -> None:
    server.answers = [(200, b"<html>")]
    with pytest.raises(ServerError, match="invalid JSON"):
        await client(server.path).request("GET", "/input")


async def test_missing_socket_is_retried_until_it_appears() -> None:
    with tempfile.TemporaryDirectory(prefix="baton-sc-") as directory:
        scripted = Scripted(os.path.join(directory, "late.sock"))
        scripted.answers = [(200, b'{"late": 1}')]

        async def open_later() -> asyncio.Server:
            await asyncio.sleep(0.05)
            return await asyncio.start_unix_server(scripted.handle, scripted.path)

        opening = asyncio.create_task(open_later())
        sc = SocketClient(scripted.path, tries=10, backoff_s=0.01)
        assert await sc.request("GET", "/input") == {"late": 1}
        async with await opening:
            pass
    with pytest.raises(ServerError, match="FileNotFoundError"):
        await SocketClient(scripted.path, tries=2, backoff_s=0.001).request("GET", "/input")


class KeepAlive:
    """A blocking engine on its own thread; keeps connections open unless ``close_each``."""

    def __init__(self, path: str, *, close_each: bool = False) -> None:
        self.path = path
        self.close_each = close_each
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn_sock, _ = self.listener.accept()
                self.connections += 1
                with conn_sock:
                    self.answer(conn_sock)

    def answer(self, conn_sock: socket.socket) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(conn_sock.recv(65536))
            elif isinstance(event, h11.Request):
                self.requests.append((event.method, event.target))
            elif isinstance(event, h11.Data):
                pass
            elif isinstance(event, h11.EndOfMessage):
                data = json.dumps({"n": len(self.requests)}).encode()
                headers = [("Content-Length", str(len(data)))]
                out = conn.send(h11.Response(status_code=200, headers=headers))
                conn_sock.sendall(
                    out + conn.send(h11.Data(data=data)) + conn.send(h11.EndOfMessage())
                )
                if self.close_each or conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
            else:
                return

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("close_each", [False, True])
def test_async_request_after_a_blocking_one_reuses_its_connection_while_open(
    close_each: bool,
) -> None:
    with tempfile.TemporaryDirectory(prefix="baton-sc-") as directory:
        engine = KeepAlive(os.path.join(directory, "k.sock"), close_each=close_each)
        sc = SocketClient(engine.path, tries=3, backoff_s=0.001)
        try:
            assert sc.request_sync("GET", "/input") == {"n": 1}
            assert asyncio.run(sc.request("POST", "/callback", {})) == {"n": 2}
            assert sc.request_sync("POST", "/callback", {}) == {"n": 3}
        finally:
            sc.close()
            engine.close()
    assert [method for method, _ in engine.requests] == [b"GET", b"POST", b"POST"]
    assert engine.connections == (3 if close_each else 1)
