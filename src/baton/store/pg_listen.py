"""``LISTEN`` on a dedicated connection in a background thread: cross-process wake-ups.

The writing transactions ``NOTIFY`` (``pg_queue``); PostgreSQL delivers a notification only
when its transaction commits, to every listening session, this process's own included (those
are skipped: the process has told its own waiters and workers already, and re-reading the run
would only cost a round trip). A notification lost while the connection is down costs only
latency: after reconnecting the listener calls ``on_work()`` once, and the services keep
polling as a safety net.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Container

from baton.core.models import RunStatus
from baton.errors import StoreUnavailable
from baton.store.pg_conn import connect, import_psycopg
from baton.store.pg_queue import FINAL_CHANNEL, WORK_CHANNEL

log = logging.getLogger("baton.store")

POLL_S = 0.25  # how often the thread looks at its stop flag while no notification arrives
RECONNECT_S = (0.2, 5.0)  # first and longest pause between reconnection attempts


class Listener:
    """Calls ``on_work()`` and ``on_final(run_id, status)`` from its own thread."""

    def __init__(
        self,
        url: str,
        on_work: Callable[[], None],
        on_final: Callable[[str, RunStatus], None],
        own_pids: Callable[[], Container[int]] = frozenset,
    ) -> None:
        self.url = url
        self._own_pids = own_pids
        self._on_work = on_work
        self._on_final = on_final
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="baton-pg-listen", daemon=True)
        self._psycopg = import_psycopg()
        self.connected = threading.Event()  # set while LISTEN is active (tests wait on it)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5 * POLL_S + 1)

    def _loop(self) -> None:
        pause = RECONNECT_S[0]
        first = True
        while not self._stop.is_set():
            try:
                conn = connect(self.url, autocommit=True)
            except StoreUnavailable as exc:
                log.warning("cannot LISTEN (retrying in %.1f s): %s", pause, exc)
                self._stop.wait(pause)
                pause = min(pause * 2, RECONNECT_S[1])
                continue
            pause = RECONNECT_S[0]
            try:
                conn.execute(f"LISTEN {WORK_CHANNEL}")
                conn.execute(f"LISTEN {FINAL_CHANNEL}")
                self.connected.set()
                if not first:
                    self._safe(self._on_work)  # whatever was sent while we were away
                first = False
                self._receive(conn)
            except self._psycopg.Error as exc:
                log.warning("LISTEN connection lost, reconnecting: %s", exc)
            finally:
                self.connected.clear()
                conn.close()

    def _receive(self, conn: object) -> None:
        while not self._stop.is_set():
            for note in conn.notifies(timeout=POLL_S):  # type: ignore[attr-defined]
                if note.pid in self._own_pids():
                    continue  # this process made that change and has told its own waiters
                if note.channel == WORK_CHANNEL:
                    self._safe(self._on_work)
                else:
                    run_id, _, status = note.payload.partition(" ")
                    self._safe(lambda: self._on_final(run_id, RunStatus(status)))  # noqa: B023

    def _safe(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # a callback's bug must not stop the wake-ups
            log.exception("a store watch callback failed")
