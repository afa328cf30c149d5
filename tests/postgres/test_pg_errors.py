"""Driver errors become Baton's: bad input where the caller sent what PostgreSQL cannot hold."""

from __future__ import annotations

import pytest

from baton.errors import InvalidInput
from baton.store import Store

pytestmark = pytest.mark.postgres


def test_a_text_value_with_a_nul_is_bad_input_and_the_store_carries_on(pg_store: Store) -> None:
    store = pg_store
    # PostgreSQL's text has no NUL: the caller's bad input (HTTP 400), not a store outage (503).
    with pytest.raises(InvalidInput, match="NUL"):
        store.get_run("trn-\x00")
    [refused] = store.batch([lambda: store.get_run("trn-\x00")])

    assert isinstance(refused, InvalidInput)
    assert store.final_ids(["trn-unknown"]) == []
