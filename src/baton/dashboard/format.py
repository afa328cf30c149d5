"""How the pages show times, durations, sizes and statuses (Jinja2 filters)."""

from __future__ import annotations

import json
from datetime import datetime

from baton.core.models import utcnow

#: A symbol per status, so a status never depends on colour alone.
STATUS_ICONS = {
    "pending": "◷",
    "running": "▶",
    "completed": "✓",
    "failed": "✕",
    "canceled": "⊘",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def span(start: datetime | None, end: datetime | None) -> str:
    """The time from ``start`` to ``end`` (to now while it is still going)."""
    if start is None:
        return "—"
    return duration(((end or utcnow()) - start).total_seconds())


def when(at: datetime | None) -> str:
    if at is None:
        return "—"
    return at.strftime("%Y-%m-%d %H:%M:%S") + f".{at.microsecond // 1000:03d}"


def iso(at: datetime | None) -> str:
    return "" if at is None else at.isoformat()


def memory(kb: int | None) -> str:
    if kb is None:
        return "—"
    return f"{kb / 1024:.1f} MiB"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def pretty_json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


FILTERS = {
    "duration": duration,
    "span": span,
    "when": when,
    "iso": iso,
    "memory": memory,
    "seconds": seconds,
    "pretty_json": pretty_json,
    "percent": percent,
}
