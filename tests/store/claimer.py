"""A claimer process for the concurrency tests: claims and finishes runs until none are left.

``python claimer.py URL WORKER LIMIT`` prints one JSON object: the ``(run_id, attempt)`` pairs
it claimed and the most computing attempts it ever saw committed.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

from baton.store import Outcome, Store, open_store

DEADLINE_S = 60.0


def claim_until_empty(store: Store, worker: str, limit: int) -> dict[str, object]:
    claimed: list[tuple[str, int]] = []
    most = 0
    deadline = time.monotonic() + DEADLINE_S
    idle = 0
    while time.monotonic() < deadline and idle < 20:
        claims = store.claim(worker, 2, limit=limit, lease_s=60, now=datetime.now(UTC))
        most = max(most, store.queue_stats().running)
        if not claims:
            idle = idle + 1 if store.queue_stats().pending == 0 else 0
            time.sleep(0.005)
            continue
        idle = 0
        for c in claims:
            claimed.append((c.run.id, c.attempt))
            store.finish_attempt(
                c.run.id, c.attempt, worker, Outcome(ok=True, output=""), now=datetime.now(UTC)
            )
    return {"claimed": claimed, "most_running": most}


if __name__ == "__main__":
    url, worker, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    opened = open_store(url)
    try:
        print(json.dumps(claim_until_empty(opened, worker, limit)))
    finally:
        opened.close()
