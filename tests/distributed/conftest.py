"""Fixtures for the distributed tests: a ``Cluster`` of real processes on one database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import Cluster


@pytest.fixture
def sqlite_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, f"sqlite:///{tmp_path / 'baton.db'}")
    try:
        yield cluster
    finally:
        cluster.close()
