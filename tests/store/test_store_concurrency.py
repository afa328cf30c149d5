"""Many claimers on one database (threads and processes, each with its own store): the
global limit holds and no run is claimed twice, on every backend."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from claimer import claim_until_empty
from store_kit import Kit, register

from baton.core.models import RunStatus
from baton.store import open_store

RUNS = 120
LIMIT = 3


def test_claimers_in_threads_and_processes_respect_limit_and_never_double_claim(
    store_url: str,
) -> None:
    store = open_store(store_url)
    try:
        kit = Kit(store, register(store, "wf", ["square", "total"]))
        runs = [kit.enqueue(value=[i]) for i in range(RUNS)]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("claimer.py")),
                    store_url,
                    f"p{i}",
                    str(LIMIT),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(3)
        ]
        results: list[dict[str, object]] = []

        def in_thread(name: str) -> None:
            own = open_store(store_url)
            try:
                results.append(claim_until_empty(own, name, LIMIT))
            finally:
                own.close()

        threads = [threading.Thread(target=in_thread, args=(f"t{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        for p in procs:
            out, _ = p.communicate(timeout=90)
            assert p.returncode == 0
            results.append(json.loads(out))

        claimed = Counter(run_id for r in results for run_id, _ in r["claimed"])  # type: ignore[attr-defined]
        assert set(claimed) == {r.id for r in runs}
        assert max(claimed.values()) == 1
        assert max(int(r["most_running"]) for r in results) <= LIMIT  # type: ignore[call-overload]
        assert all(r.status == RunStatus.COMPLETED for r in store.get_runs([r.id for r in runs]))
        assert all(len(r.attempts) == 1 for r in store.get_runs([r.id for r in runs]))
    finally:
        store.close()


def test_concurrent_claimers_never_exceed_a_concurrency_key_limit(store_url: str) -> None:
    from dataclasses import replace

    from store_kit import LEASE_S, utc

    store = open_store(store_url)
    try:
        kit = Kit(store, register(store, "wf", ["square", "total"]))
        for _ in range(12):
            store.enqueue(replace(kit.new(), concurrency_key="wf/square#k", concurrency_limit=2))
        free = {kit.enqueue("total").id for _ in range(6)}
        claimed: list[str] = []

        def in_thread(name: str) -> None:
            own = open_store(store_url)
            try:
                for _ in range(10):
                    claims = own.claim(name, 3, limit=100, lease_s=LEASE_S, now=utc())
                    claimed.extend(c.run.id for c in claims)
            finally:
                own.close()

        threads = [threading.Thread(target=in_thread, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)

        assert len(claimed) == len(set(claimed)) == 8
        assert free <= set(claimed)
        assert store.queue_stats().running == 8
    finally:
        store.close()
