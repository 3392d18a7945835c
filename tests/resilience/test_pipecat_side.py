"""The convergence checks' Pipecat side catches a daemon that only writes rows: SYNCED without the agent on
Pipecat, or with another image or an older AGENT_CONFIG than the active configuration."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.emulator.server import EmulatorServer
from config_sync_service.schemas.messages import ChangeType
from tests.helpers import make_agent, publish, running_daemon
from tests.resilience.support import assert_pipecat_matches, converge, pipecat_mismatches

IMAGE = "dailyco/pipecat-agent:1.0"


async def mark_synced(sessions: SessionFactory, agent_id: object, version: int) -> None:
    """What a daemon that skips Pipecat would write."""
    async with transaction(sessions) as s:
        await s.execute(
            sa.text("UPDATE agents SET sync_status = 'SYNCED', synced_version = :v WHERE id = :id"),
            {"v": version, "id": agent_id},
        )


async def test_rows_marked_synced_with_no_agent_on_pipecat_are_caught(
    session_factory: SessionFactory, emulator: EmulatorServer
) -> None:
    agent = await make_agent(session_factory)
    await mark_synced(session_factory, agent.id, 1)
    with pytest.raises(AssertionError, match="no agent on Pipecat"):
        await assert_pipecat_matches(session_factory, emulator, [agent.id], default_image=IMAGE)
    with pytest.raises(AssertionError, match="differ on Pipecat"):  # the convergence check itself fails too
        await converge(session_factory, [agent.id], emulator=emulator, timeout=5, default_image=IMAGE)


async def test_a_real_sync_matches_and_a_stale_image_or_agent_config_is_caught(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, emulator: EmulatorServer
) -> None:
    agent = await make_agent(session_factory)
    async with running_daemon(daemon_settings):
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await converge(session_factory, [agent.id], emulator=emulator, timeout=30, default_image=IMAGE)
    name = agent.pipecat_agent_name
    with emulator.state.lock:  # a stale call lands: an older image and an older AGENT_CONFIG
        emulator.state.new_deployment(emulator.state.services[name], "dailyco/pipecat-agent:0.9")
        values = emulator.state.secret_sets[f"{name}-config"].values
        values["AGENT_CONFIG"] = json.dumps(json.loads(values["AGENT_CONFIG"]) | {"version": 0})
    wrong = await pipecat_mismatches(session_factory, emulator, [agent.id], default_image=IMAGE)
    assert wrong == [
        f"{name}: image dailyco/pipecat-agent:0.9, wants {IMAGE}",
        f"{name}: AGENT_CONFIG at v0, wants v1",
    ]
