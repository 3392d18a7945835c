"""Keeping the claim on an agent while its Pipecat calls run, and fencing the pass when it is lost (DESIGN §13).

A claim is a lease (`LEASE_S`) so that a crashed process's agents are taken over. A live one keeps its lease:
retries, a 429's pause, request pacing or a slow API can make one pass outlast it, and another process would
then claim the agent and run the same operation beside it. The keeper renews the lease every third of
`LEASE_S` in a short transaction of its own (no connection is held in between), and records each successful
renewal in the pass's `Fence`: every mutating call checks it first, with no round trip (core/fencing.py). A
renewal that finds the claim taken over stops the pass: it ends `FencedError`, never in success.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from config_sync_service.core import fencing
from config_sync_service.core.fencing import Fence, FencedError
from config_sync_service.core.logging import get_logger
from config_sync_service.db import claims
from config_sync_service.db.session import SessionFactory, transaction

log = get_logger("config_sync.lease")


@asynccontextmanager
async def lease_kept(
    sessions: SessionFactory, *, agent_id: uuid.UUID, owner: str, fence: Fence
) -> AsyncIterator[Fence]:
    """Renew `owner`'s lease on the agent for as long as the block runs; the block's calls check `fence`, and a
    lost claim cancels the block, which then raises FencedError."""
    stop = asyncio.Event()
    task = asyncio.current_task()
    assert task is not None
    keeper = asyncio.create_task(_keep(sessions, agent_id, owner, fence, stop, task), name=f"lease-{agent_id}")
    try:
        with fencing.guarding(fence):
            yield fence
    except asyncio.CancelledError:
        if not fence.lost or task.uncancel() > 0:  # a shutdown's cancellation stays one
            raise
        raise FencedError("the claim on the agent was taken over") from None
    finally:
        stop.set()
        await keeper  # a renewal under way finishes (it is one short statement); none starts after this


async def _keep(
    sessions: SessionFactory,
    agent_id: uuid.UUID,
    owner: str,
    fence: Fence,
    stop: asyncio.Event,
    task: asyncio.Task[Any],
) -> None:
    while True:
        try:
            await asyncio.wait_for(stop.wait(), timeout=fence.lease_s / 3)
            return
        except TimeoutError:
            pass
        started = time.monotonic()
        try:
            async with transaction(sessions) as s:
                held = await claims.renew_claim(s, agent_id=agent_id, owner=owner, lease_s=fence.lease_s)
        except Exception as exc:  # the database away: the lease may lapse, and the fence then stops our calls
            log.warning("lease.renew_failed", agent_id=str(agent_id), error=type(exc).__name__)
            continue
        if not held:  # taken over (ours had lapsed): no further call of this pass may reach Pipecat
            log.warning("lease.lost", agent_id=str(agent_id))
            fence.lost = True
            if not stop.is_set():
                task.cancel()
            return
        fence.renewed(started)
