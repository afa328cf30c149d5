"""The blocking ``Baton`` client against ``baton dev`` served by uvicorn on a real port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from baton import Baton, ClientError

DevServers = Callable[[Path], AbstractContextManager[str]]


@pytest.fixture
def client(tmp_path: Path, dev_server_factory: DevServers) -> Iterator[Baton]:
    with dev_server_factory(tmp_path / "x.db") as url, Baton(base_url=url) as baton:
        yield baton


def test_run_task_waits_for_chained_result(client: Baton) -> None:
    details = client.workflows.run_task("squares/sum_squares", [3, 4], timeout=20)

    assert details.status == "completed"
    assert details.results == [25]
    tree = client.workflows.list_task_runs(root_task_run_id=details.id)
    assert len(tree) == 3
    assert {row.task_run.root_task_run_id for row in tree} == {details.id}


def test_start_task_then_get_and_wait(client: Baton) -> None:
    run = client.workflows.start_task("squares/calculate_square", [5])

    done = client.workflows.wait(run.id, timeout=20)

    assert run.status == "pending"
    assert done.results == [25]
    assert client.workflows.get_task_run(run.id).results == [25]


def test_input_that_does_not_bind_raises_client_error(client: Baton) -> None:
    with pytest.raises(ClientError, match="missing a required argument") as info:
        client.workflows.run_task("squares/sum_squares", [3], timeout=20)

    assert info.value.status == 400


def test_unknown_task_raises_client_error_404(client: Baton) -> None:
    with pytest.raises(ClientError) as info:
        client.workflows.start_task("squares/nope", [])

    assert info.value.status == 404


def test_list_tasks_sees_both_tasks(client: Baton) -> None:
    slugs = {t.slug for t in client.workflows.list_tasks()}

    assert slugs == {"squares/calculate_square", "squares/sum_squares"}
