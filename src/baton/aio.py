"""``run(main)``: how Baton's long-running commands run their event loop.

``baton dev``, ``baton serve`` and ``baton worker`` spend most of their CPU in the event loop
and in HTTP parsing, so they run on uvloop (and uvicorn on httptools) when those are installed,
as they are with Baton's default dependencies; plain asyncio otherwise, or when
``BATON_EVENT_LOOP=asyncio``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or ``None`` for asyncio's default loop."""
    if os.environ.get("BATON_EVENT_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the fastest event loop available."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
