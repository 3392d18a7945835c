"""Keeping the claim on an agent while its Pipecat calls run.

A claim is a lease (`LEASE_S`) so that a crashed process's agents are taken over. A live one keeps its lease:
retries, a 429's pause, request pacing or a slow API can make one pass outlast it, and another process would
then claim the agent and run the same operation beside it. The keeper renews the lease every third of
`LEASE_S` in a short transaction of its own (no connection is held in between).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from config_sync_service.core.logging import get_logger
from config_sync_service.db import claims
from config_sync_service.db.session import SessionFactory, transaction

log = get_logger("config_sync.lease")


@asynccontextmanager
async def lease_kept(
    sessions: SessionFactory, *, agent_id: uuid.UUID, owner: str, lease_s: float
) -> AsyncIterator[None]:
    """Renew `owner`'s lease on the agent for as long as the block runs."""
    stop = asyncio.Event()
    keeper = asyncio.create_task(_keep(sessions, agent_id, owner, lease_s, stop), name=f"lease-{agent_id}")
    try:
        yield
    finally:
        stop.set()
        await keeper  # a renewal under way finishes (it is one short statement); none starts after this


async def _keep(sessions: SessionFactory, agent_id: uuid.UUID, owner: str, lease_s: float, stop: asyncio.Event) -> None:
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=lease_s / 3)
            return
        except TimeoutError:
            pass
        try:
            async with transaction(sessions) as s:
                held = await claims.renew_claim(s, agent_id=agent_id, owner=owner, lease_s=lease_s)
        except Exception as exc:  # the database is away: the lease may lapse, and then our writes are refused
            log.warning("lease.renew_failed", agent_id=str(agent_id), error=type(exc).__name__)
            continue
        if not held:  # taken over (ours had lapsed): the pass's writes will be refused; the new holder redoes it
            log.warning("lease.lost", agent_id=str(agent_id))
            return
