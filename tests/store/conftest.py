"""The ``kit`` fixture: a workflow ``wf`` with tasks ``square`` and ``total`` on ``store``."""

from __future__ import annotations

import pytest
from store_kit import Kit, register

from baton.store import Store


@pytest.fixture
def kit(store: Store) -> Kit:
    return Kit(store, register(store, "wf", ["square", "total"]))
