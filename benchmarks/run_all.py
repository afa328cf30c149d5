"""`make bench`: runs every benchmark and prints its numbers next to the targets."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fanout
import latency
import render_sdk
import throughput

import dashboard
import distributed
import postgres

TARGETS = {
    "latency_p50_ms": ("<", 10.0),
    "throughput_runs_per_s": (">", 300.0),
    "fanout_500_s": ("<", 3.0),
    "dashboard_runs_page_p95_ms": ("<", 100.0),
    "dashboard_run_page_p95_ms": ("<", 100.0),
}


def main() -> int:
    results: dict[str, float] = {}
    for module in (latency, throughput, fanout, render_sdk, postgres, distributed):
        results.update(asyncio.run(module.main()))
    results.update(dashboard.main())
    print("\nvs targets (2-core machine; embedded SQLite unless the name starts with pg_):")
    for key, value in results.items():
        op, target = TARGETS.get(key, ("", 0.0))
        verdict = ""
        if op:
            met = value < target if op == "<" else value > target
            verdict = f"target {op} {target:g}: {'met' if met else 'MISSED'}"
        elif key == "dist_2w_runs_per_s" and "throughput_runs_per_s" in results:
            sqlite = results["throughput_runs_per_s"]  # measured in this same run
            met = value >= sqlite
            verdict = f"target >= SQLite's {sqlite:.0f}: {'met' if met else 'MISSED'}"
        print(f"  {key:24s} {value:10.2f}   {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
