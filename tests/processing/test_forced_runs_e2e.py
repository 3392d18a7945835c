"""Only the operator path may force a re-run after a permanent error (issue 19): a published `replay: true`, bare
or with a replay id nobody registered, is a plain hint; a replay the tooling registered runs once."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.core.metrics import Event
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.cli.support import run_cli
from tests.helpers import Daemon, agent_row, make_agent, publish, running_daemon, wait_until


async def _idle(daemon: Daemon) -> bool:
    queue = daemon.runtime.engine.queue
    return len(queue) == 0 and queue.in_flight == 0 and queue.scheduled == 0


async def test_a_published_replay_flag_forces_nothing(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis
) -> None:
    agent = await make_agent(session_factory, deployment={"image": "dailyco/pipecat-agent"})  # no tag: permanent
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await wait_until(daemon.runtime.dead_letters.depth, what="the permanent error's dead letter")
        row = await agent_row(session_factory, agent.id)
        assert (row.sync_status, row.attempts) == (SyncStatus.ERROR_SYNC, 1)

        plain = {"agent_id": str(agent.id), "version": 1, "change_type": "FULL_SYNC"}
        for forged in (plain | {"replay": True}, plain | {"replay": True, "replay_count": 1, "replay_id": "guessed"}):
            await redis.publish(daemon_settings.updates_channel, json.dumps(forged))
        engine = daemon.runtime.engine

        async def heard_all() -> bool:
            return engine.stats.counters[Event.RECEIVED] == 3 and engine.stats.counters[Event.PROCESSED] >= 3

        await wait_until(heard_all, what="the forged replays received and processed")
        await wait_until(lambda: _idle(daemon), what="nothing left to do")
        row = await agent_row(session_factory, agent.id)
        assert (row.sync_status, row.attempts) == (SyncStatus.ERROR_SYNC, 1)  # not run again
        assert await daemon.runtime.dead_letters.depth() == 1

        replayed = await run_cli(daemon_settings, "dlq", "replay", "--agent", str(agent.id))
        assert replayed.code == 0, replayed.stderr

        async def run_again() -> bool:
            return (await agent_row(session_factory, agent.id)).attempts == 2

        await wait_until(run_again, what="the registered replay forcing the re-run")
