"""Opening stores: migrations run once, data survives reopening, bad URLs are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_kit import Kit, register

from baton.errors import StoreUnavailable
from baton.store import open_store


def test_reopening_same_database_keeps_data_and_does_not_reapply_migrations(
    kit: Kit, store_url: str
) -> None:
    run = kit.enqueue()
    kit.store.add_token("t", "hash")
    kit.store.close()

    reopened = open_store(store_url)
    try:
        assert reopened.get_run(run.id).id == run.id
        assert reopened.has_token("hash")
        assert reopened.get_task("wf", "square").id == kit.tasks["square"].id
    finally:
        reopened.close()


def test_two_stores_open_on_one_database_see_each_others_writes(store_url: str) -> None:
    first = open_store(store_url)
    try:
        second = open_store(store_url)
        try:
            tasks = register(first, "wf", ["square"])
            kit = Kit(first, tasks)
            run = kit.enqueue()

            [claim] = Kit(second, tasks).claim(5)

            assert claim.run.id == run.id
            assert Kit(first, tasks).claim(5) == []
        finally:
            second.close()
    finally:
        first.close()


def test_open_store_creates_missing_parent_directories(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a' / 'b' / 'baton.db'}")
    try:
        assert store.count_tokens() == 0
    finally:
        store.close()
    assert (tmp_path / "a" / "b" / "baton.db").exists()


@pytest.mark.parametrize("url", ["mysql://localhost/db", "baton.db", "sqlite://relative.db"])
def test_open_store_refuses_unsupported_urls(url: str) -> None:
    with pytest.raises(StoreUnavailable):
        open_store(url)
