"""Chained runs: sum_squares fans out one calculate_square run per number."""

from __future__ import annotations

import asyncio

from baton import Workflows

app = Workflows()


@app.task
def calculate_square(a: int) -> int:
    return a * a


@app.task
async def sum_squares(a: int, b: int) -> int:
    squares = await asyncio.gather(calculate_square(a), calculate_square(b))
    return sum(squares)


if __name__ == "__main__":
    app.start()
