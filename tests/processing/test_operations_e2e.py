"""Each operation end to end: Postgres row + Redis message → the daemon → the emulator → the status row."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db import crud
from config_sync_service.db.models import DesiredState, SyncStatus
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, new_version, publish, running_daemon, wait_until


async def wait_status(
    sessions: SessionFactory, agent_id: Any, status: SyncStatus, version: int | None = None, timeout: float = 15
) -> None:
    async def check() -> bool:
        row = await agent_row(sessions, agent_id)
        return row.sync_status is status and (version is None or row.synced_version == version)

    await wait_until(check, timeout=timeout, what=f"{status.value} at v{version}")


async def provision(redis: aioredis.Redis, settings: Settings, sessions: SessionFactory, agent_id: Any) -> None:
    """Publish PROVISION for version 1 and wait until it is SYNCED."""
    await publish(redis, settings, agent_id, 1, ChangeType.PROVISION)
    await wait_status(sessions, agent_id, SyncStatus.SYNCED, 1)


async def test_provision_creates_agent_and_secret_set(
    reveal_secret_values: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
) -> None:
    agent = await make_agent(session_factory, secrets={"TENANT_TOKEN": "tenant-secret-1"})
    async with running_daemon(daemon_settings):
        await provision(redis, daemon_settings, session_factory, agent.id)

    row = await agent_row(session_factory, agent.id)
    assert row.pipecat_cloud_instance_id and row.last_error_message is None
    service = await control.agent(agent.pipecat_agent_name)
    assert service is not None
    assert service["ready"] and service["desiredDeploymentId"] == service["reconciledDeploymentId"]
    secrets = await control.secret_values(f"{agent.pipecat_agent_name}-config")
    assert secrets is not None
    config = json.loads(secrets["AGENT_CONFIG"])
    assert config["agent_id"] == str(agent.id) and config["version"] == 1
    assert "max_session_duration" not in config and "region" not in config  # nothing set: Pipecat's defaults
    assert secrets["TENANT_TOKEN"] == "tenant-secret-1"
    assert secrets["AWS_ACCESS_KEY_ID"] == "AKIA-shared-test"  # AGENT_SECRET_* from config-sync's environment
    ops = await control.ops(agent.pipecat_agent_name)
    assert ops.count("createService") == 1 and ops.count("upsertSecretSet") == 1


async def test_full_sync_redeploys_with_force(
    reveal_secret_values: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
) -> None:
    agent = await make_agent(session_factory)
    async with running_daemon(daemon_settings):
        await provision(redis, daemon_settings, session_factory, agent.id)
        before = await control.agent(agent.pipecat_agent_name)
        assert before is not None
        first = before["desiredDeploymentId"]
        version = await new_version(
            session_factory,
            agent.id,
            deployment={"image": "dailyco/pipecat-agent:1.1", "max_agents": 4, "max_session_duration": 900},
        )
        await publish(redis, daemon_settings, agent.id, version, ChangeType.FULL_SYNC)
        await wait_status(session_factory, agent.id, SyncStatus.SYNCED, version)

    service = await control.agent(agent.pipecat_agent_name)
    assert service is not None
    assert service["desiredDeploymentId"] != first
    assert service["deployment"]["manifest"]["spec"]["image"] == "dailyco/pipecat-agent:1.1"
    # tried at once, as if the secret set were ready; refused (409) while it is not, then sent again once it is
    updates = [c for c in await control.calls(agent.pipecat_agent_name, op="updateService") if c["status"] != 409]
    assert len(updates) == 1 and updates[0]["body"]["forceRedeploy"] is True
    # the bot learns the session cap it must wrap calls up before, with the region its phone stream comes through
    secrets = await control.secret_values(f"{agent.pipecat_agent_name}-config")
    assert secrets is not None
    config = json.loads(secrets["AGENT_CONFIG"])
    assert (config["version"], config["max_session_duration"]) == (version, 900)
    assert config.get("region") == daemon_settings.agent_region


async def test_context_update_reaches_every_active_session_without_stopping_any(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    agent = await make_agent(session_factory)
    async with running_daemon(daemon_settings):
        await provision(redis, daemon_settings, session_factory, agent.id)
        sessions = [await control.add_session(agent.pipecat_agent_name) for _ in range(2)]
        new_context = {"system_prompt": "You now speak like a pirate.", "voice_id": "tiffany", "tools": []}
        version = await new_version(session_factory, agent.id, llm_context=new_context)
        await publish(redis, daemon_settings, agent.id, version, ChangeType.CONTEXT_UPDATE)
        await wait_status(session_factory, agent.id, SyncStatus.SYNCED, version)

    for session_id in sessions:
        received = await control.session_context_posts(session_id)
        assert received == [{"version": version, "llm_context": new_context}]
    assert await control.calls(agent.pipecat_agent_name, op="stopSession") == []
    assert len(await control.active_sessions(agent.pipecat_agent_name)) == 2


async def test_deprovision_removes_agent_set_and_sessions(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    agent = await make_agent(session_factory)
    async with running_daemon(daemon_settings):
        await provision(redis, daemon_settings, session_factory, agent.id)
        for _ in range(2):
            await control.add_session(agent.pipecat_agent_name)
        async with transaction(session_factory) as s:
            await crud.update_agent(s, agent_id=agent.id, desired_state=DesiredState.DELETED)
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.DEPROVISION)
        await wait_status(session_factory, agent.id, SyncStatus.DELETED)

    assert await control.agent(agent.pipecat_agent_name) is None
    assert await control.secret_values(f"{agent.pipecat_agent_name}-config") is None
    assert await control.active_sessions(agent.pipecat_agent_name) == []
    assert len(await control.calls(agent.pipecat_agent_name, op="stopSession")) == 2
