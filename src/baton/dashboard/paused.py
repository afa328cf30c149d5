"""What the pages need to mark paused things and show checkpoints (``docs/durable.md``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from baton.core.durable import Pause
from baton.core.models import JSON
from baton.services import Services

CHECKPOINT_CHARS = 200


@dataclass(frozen=True)
class Paused:
    """What is paused, read once per page from ``Services.list_pauses``."""

    queue: bool
    tasks: frozenset[str]
    trees: frozenset[str]

    @classmethod
    def of(cls, pauses: list[Pause]) -> Paused:
        return cls(
            queue=any(p.scope == "queue" for p in pauses),
            tasks=frozenset(p.target for p in pauses if p.scope == "task"),
            trees=frozenset(p.target for p in pauses if p.scope == "tree"),
        )


def paused(services: Services) -> Paused:
    return Paused.of(services.list_pauses())


def checkpoint_rows(values: dict[str, JSON]) -> list[tuple[str, str, bool]]:
    """``(key, JSON text, truncated)`` per checkpoint, the text cut at ``CHECKPOINT_CHARS``."""
    rows = []
    for key, value in sorted(values.items()):
        text = json.dumps(value, ensure_ascii=False)
        cut = len(text) > CHECKPOINT_CHARS
        rows.append((key, text[:CHECKPOINT_CHARS] + ("…" if cut else ""), cut))
    return rows
