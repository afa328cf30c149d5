"""Retries: flip_coin fails on tails; its Retry policy tries again with growing delays."""

from __future__ import annotations

import random

from baton import Retry, Workflows

app = Workflows()


@app.task(retry=Retry(max_retries=8, wait_duration_ms=100, backoff_scaling=1.5))
def flip_coin() -> str:
    if random.random() < 0.5:
        print("tails: raising so Baton retries")
        raise RuntimeError("tails")
    return "heads"


if __name__ == "__main__":
    app.start()
