"""Probes: /readyz follows the daemon's Redis, /healthz never does; nothing published meanwhile is lost."""

from __future__ import annotations

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.core.metrics import Event
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeMessage, ChangeType
from tests.helpers import RedisServer, agent_row, make_agent, running_daemon, wait_until


async def test_readyz_follows_redis_and_the_sweep_catches_up(
    daemon_settings: Settings, session_factory: SessionFactory, own_redis: RedisServer
) -> None:
    settings = daemon_settings.model_copy(update={"redis_url": own_redis.url})
    agent = await make_agent(session_factory)
    async with running_daemon(settings) as daemon:
        ready = await daemon.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok", "subscription": "ok", "first_sweep": "ok"}

        # the startup sweep already provisions what is drifted; wait for it so the next change is ours
        async def synced_v1() -> bool:
            return (await agent_row(session_factory, agent.id)).sync_status is SyncStatus.SYNCED

        await wait_until(synced_v1, what="startup sweep provisions v1")

        own_redis.stop()

        async def not_ready() -> bool:
            response = await daemon.get("/readyz")
            return response.status_code == 503 and "redis" in response.json()["failing"]

        await wait_until(not_ready, timeout=20, what="/readyz 503 naming redis")
        assert (await daemon.get("/healthz")).status_code == 200

        # the backend commits a change while Redis is down: its message cannot even be published
        from tests.helpers import new_version

        version = await new_version(session_factory, agent.id, llm_context={"system_prompt": "while down"})
        own_redis.start()

        async def ready_again() -> bool:
            return (await daemon.get("/readyz")).status_code == 200

        await wait_until(ready_again, timeout=30, what="/readyz 200 after Redis returns")
        assert (await daemon.get("/healthz")).status_code == 200

        async def applied() -> bool:
            row = await agent_row(session_factory, agent.id)
            return row.sync_status is SyncStatus.SYNCED and row.synced_version == version

        await wait_until(applied, timeout=20, what="the change made while Redis was down")
        client = aioredis.Redis.from_url(own_redis.url)
        try:  # and the listener is really back: a published message is received
            received = daemon.runtime.engine.stats.counters[Event.RECEIVED]
            message = ChangeMessage(agent_id=agent.id, version=version, change_type=ChangeType.FULL_SYNC)
            await client.publish(settings.updates_channel, message.to_json())

            async def got_it() -> bool:
                return daemon.runtime.engine.stats.counters[Event.RECEIVED] > received

            await wait_until(got_it, what="a message after the reconnect")
        finally:
            await client.aclose()
