"""A claim outlives a slow pass: the lease is renewed while the Pipecat calls run."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db import claims
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, publish, running_daemon, wait_until


async def test_the_claim_is_renewed_while_a_slow_create_runs(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    settings = daemon_settings.model_copy(update={"lease_s": 0.6})
    await control.set_latency("createService", seconds=3.0)
    async with running_daemon(settings):
        agent = await make_agent(session_factory)  # after the startup sweep: the message starts the pass
        await publish(redis, settings, agent.id, 1, ChangeType.PROVISION)

        async def create_in_flight() -> bool:
            calls = await control.calls(agent.pipecat_agent_name, op="createService", include_pending=True)
            return bool(calls) and calls[0]["status"] is None

        await wait_until(create_in_flight, what="the create to reach Pipecat")
        await asyncio.sleep(1.2)  # twice the lease: unrenewed, it would have lapsed by now
        async with transaction(session_factory) as s:
            intruder = await claims.claim_agent(s, agent_id=agent.id, owner="another-process", lease_s=60)
        assert intruder.present and intruder.snapshot is None

        async def synced() -> bool:
            return (await agent_row(session_factory, agent.id)).sync_status is SyncStatus.SYNCED

        await wait_until(synced, what="SYNCED")
    row = await agent_row(session_factory, agent.id)
    assert row.lease_owner is None  # given back at the end
    assert len(await control.calls(agent.pipecat_agent_name, op="createService")) == 1
