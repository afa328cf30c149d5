"""The runs page's filters: query string ↔ ``RunQuery``, and matching live run changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from baton.core.models import Run, RunStatus, utcnow
from baton.store.base import RunQuery

PAGE_SIZE = 50
SINCE = {"15m": 15 * 60, "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
KEYS = ("workflow", "task", "status", "q", "since", "from", "to", "scope")


def _parse_local(value: str) -> datetime | None:
    """A ``datetime-local`` input, read as UTC; ``None`` if empty or malformed."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@dataclass(frozen=True)
class RunsFilter:
    """The runs page's filter form, as submitted."""

    values: dict[str, str]
    statuses: tuple[RunStatus, ...]
    before: int | None
    after: int | None

    @classmethod
    def parse(cls, params: QueryParams) -> RunsFilter:
        values = {k: params.get(k, "").strip() for k in KEYS}
        values["scope"] = values["scope"] if values["scope"] in ("all", "roots") else "roots"
        statuses = tuple(
            RunStatus(s) for s in params.getlist("status") if s in RunStatus._value2member_map_
        )
        values["status"] = ",".join(statuses)
        return cls(values, statuses, _int(params.get("before")), _int(params.get("after")))

    def query(self) -> RunQuery:
        v = self.values
        workflow, task = v["workflow"] or None, v["task"] or None
        if task and "/" in task:
            workflow, _, task = task.partition("/")
        after = _parse_local(v["from"]) if v["from"] else None
        if v["since"] in SINCE:
            since = utcnow() - timedelta(seconds=SINCE[v["since"]])
            after = max(after, since) if after else since
        return RunQuery(
            workflow=workflow,
            task_name=task,
            status=self.statuses,
            id_prefix=v["q"] or None,
            created_after=after,
            created_before=_parse_local(v["to"]) if v["to"] else None,
            roots_only=v["scope"] == "roots",
        )

    def matches(self, run: Run, query: RunQuery) -> bool:
        """Whether a live run change belongs on this page."""
        return (
            (not query.workflow or run.workflow == query.workflow)
            and (not query.task_name or run.task_name == query.task_name)
            and (not query.status or run.status in query.status)
            and (not query.id_prefix or run.id.startswith(query.id_prefix))
            and (not query.roots_only or run.parent_id is None)
            and (query.created_after is None or run.created_at >= query.created_after)
            and (query.created_before is None or run.created_at < query.created_before)
        )

    def link(self, **extra: object) -> str:
        """This filter's query string, plus ``extra`` (e.g. a paging cursor)."""
        pairs: list[tuple[str, str]] = []
        for key, value in self.values.items():
            if key == "status":
                pairs.extend(("status", s) for s in self.statuses)
            elif value and not (key == "scope" and value == "roots"):
                pairs.append((key, value))
        pairs.extend((k, str(v)) for k, v in extra.items() if v is not None)
        return "?" + urlencode(pairs) if pairs else ""
