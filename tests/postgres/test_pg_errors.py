"""Driver errors become Baton's: bad input where the caller sent what PostgreSQL cannot hold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from baton.errors import InvalidInput
from baton.store import Store, open_store

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    opened = open_store(pg_url)
    try:
        yield opened
    finally:
        opened.close()


def test_a_text_value_with_a_nul_is_bad_input_and_the_store_carries_on(store: Store) -> None:
    # PostgreSQL's text has no NUL: the caller's bad input (HTTP 400), not a store outage (503).
    with pytest.raises(InvalidInput, match="NUL"):
        store.get_run("trn-\x00")
    [refused] = store.batch([lambda: store.get_run("trn-\x00")])

    assert isinstance(refused, InvalidInput)
    assert store.final_ids(["trn-unknown"]) == []
