"""The lease reaper: every server runs one; it fails attempts whose worker went silent."""

from __future__ import annotations

import asyncio
import logging

from baton.services import Services

log = logging.getLogger("baton.worker")


async def reap_leases(services: Services) -> None:
    """Expire lost leases forever (cancel the task to stop). Safe on several servers at once:
    ``expire_leases`` is one transaction that only touches attempts still running."""
    while True:
        await asyncio.sleep(max(0.5, services.config.lease_s / 10))
        try:
            services.expire_leases()
        except Exception:
            log.exception("lease reaper failed")
