"""``BatonAsync`` over its default transport (aiohttp behind httpx's API) against ``baton dev``
on a real port: requests, the event stream, errors and a server that is not there."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from baton import BatonAsync, ClientError
from baton.errors import ServerError, TaskRunError

DevServers = Callable[[Path], AbstractContextManager[str]]


async def test_runs_waits_streams_and_reports_errors(
    tmp_path: Path, dev_server_factory: DevServers
) -> None:
    with dev_server_factory(tmp_path / "x.db") as url:
        async with BatonAsync(base_url=url) as client:
            details = await client.workflows.run_task("squares/sum_squares", [3, 4], timeout=30)
            assert details.results == [25]

            runs = await asyncio.gather(
                *(client.workflows.start_task("squares/calculate_square", [i]) for i in range(8))
            )
            ended = [e async for e in client.workflows.task_run_events([r.id for r in runs])]
            assert sorted(e.results[0] for e in ended) == sorted(i * i for i in range(8))

            with pytest.raises(ClientError) as info:
                await client.workflows.start_task("squares/nope", [])
            assert info.value.status == 404

            with pytest.raises((ClientError, TaskRunError)):
                await client.workflows.run_task("squares/sum_squares", [3], timeout=30)


async def test_no_server_is_a_network_error_not_a_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    async with BatonAsync(base_url=f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ServerError, match="network error"):
            await client.workflows.start_task("squares/calculate_square", [2])
