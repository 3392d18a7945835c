"""`config-sync reconcile`: a hint per drifted agent (or for one agent) on the updates channel."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from config_sync_service.admin.hints import request_reconcile
from config_sync_service.core.config import Settings
from config_sync_service.db import crud
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory, transaction
from tests.helpers import make_agent


async def test_reconcile_publishes_a_hint_per_drifted_agent(
    settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis
) -> None:
    drifted = await make_agent(session_factory)
    in_sync = await make_agent(session_factory)
    async with transaction(session_factory) as s:
        await crud.update_agent_sync_status(s, agent_id=in_sync.id, version=1, status=SyncStatus.SYNCED, synced=True)
    pubsub = redis.pubsub()
    await pubsub.subscribe(settings.updates_channel)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    assert await request_reconcile(settings) == 1
    assert await request_reconcile(settings, in_sync.id) == 1
    received = []
    for _ in range(2):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None
        received.append(json.loads(message["data"]))
    await pubsub.unsubscribe()
    await pubsub.reset()
    assert received == [
        {"agent_id": str(drifted.id), "version": 1, "change_type": "FULL_SYNC"},
        {"agent_id": str(in_sync.id), "version": 1, "change_type": "FULL_SYNC"},
    ]
