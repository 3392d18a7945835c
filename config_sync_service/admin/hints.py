"""Hints that make the running daemons look at agents now, instead of at the next sweep: `config-sync publish`
and `config-sync reconcile` (and the demo agents of `config-sync dev`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db import crud, drift
from config_sync_service.db.session import create_db_engine, create_session_factory
from config_sync_service.mq.publisher import publish_change
from config_sync_service.schemas.messages import ChangeType

Change = tuple[uuid.UUID, int, ChangeType]


async def publish(settings: Settings, changes: Iterable[Change]) -> list[int]:
    """Publish each change on UPDATES_CHANNEL; how many subscribers received each."""
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        return [
            await publish_change(
                redis, agent_id=agent_id, version=version, change_type=change_type, channel=settings.updates_channel
            )
            for agent_id, version, change_type in changes
        ]
    finally:
        await redis.aclose()


async def request_reconcile(settings: Settings, agent_id: uuid.UUID | None = None) -> int:
    """Publish a FULL_SYNC hint for `agent_id`, or for every agent the sweep would queue; returns how many.

    A hint only names the agent: the daemons read its current rows and do whatever they say is needed.
    """
    db = create_db_engine(settings, application_name="config-sync-cli")
    try:
        async with create_session_factory(db)() as session:
            if agent_id is not None:
                config = await crud.get_active_configuration(session, agent_id=agent_id)
                targets = [(agent_id, config.version if config else 1)]
            else:
                targets = [
                    (d.agent_id, d.active_version or d.synced_version or 1)
                    for d in await drift.list_drifted_agents(session)
                ]
    finally:
        await db.dispose()
    await publish(settings, [(target, max(1, version), ChangeType.FULL_SYNC) for target, version in targets])
    return len(targets)
