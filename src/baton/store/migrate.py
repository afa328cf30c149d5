"""Applies the numbered ``migrations/<backend>/NNNN_name.sql`` files in order, once each."""

from __future__ import annotations

from importlib import resources


def migration_scripts(backend: str) -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for each migration of ``backend``, ascending."""
    folder = resources.files("baton.store") / "migrations" / backend
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text()))
    return sorted(out)
