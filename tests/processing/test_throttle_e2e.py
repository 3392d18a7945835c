"""The redeploy throttle (plan.py) and the calls a sync saves, end to end: Postgres + Redis → the daemon → the
emulator's call record.

The context reaches live sessions at once for every version; the redeploy (which serves only new sessions) has a
leading and a trailing edge: a quiet agent redeploys at once, a burst costs at most two deployments, and the
trailing one happens with no further message (the queue brings the agent back, not the sweep).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa

from config_sync_service.core.config import Settings
from config_sync_service.core.metrics import Outcome
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.db.tables import AGENTS
from config_sync_service.emulator.server import EmulatorServer
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, new_version, publish, running_daemon, wait_until
from tests.processing.test_operations_e2e import provision, wait_status

DEPLOYS = {"createService", "updateService"}


def throttled(settings: Settings) -> Settings:
    """A window no burst below outlasts, even on a loaded machine; no sweep but the startup one."""
    return settings.model_copy(update={"redeploy_min_interval_s": 4.0, "reconcile_interval_s": 3600.0})


async def quiet(sessions: SessionFactory, agent_id: uuid.UUID) -> None:
    """As if the agent's last redeploy were an hour ago."""
    async with transaction(sessions) as s:
        since = sa.func.now() - sa.text("interval '1 hour'")
        await s.execute(sa.update(AGENTS).where(AGENTS.c.id == agent_id).values(deploying_since=since))


async def deployments(control: EmulatorControl, name: str) -> list[dict[str, Any]]:
    """The accepted create and update calls: each makes a new deployment."""
    return [c for c in await control.calls(name) if c["op"] in DEPLOYS and c["status"] == 200]


async def test_a_quiet_agent_redeploys_at_once(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    settings = throttled(daemon_settings)
    agent = await make_agent(session_factory)
    async with running_daemon(settings) as daemon:
        await provision(redis, settings, session_factory, agent.id)
        await quiet(session_factory, agent.id)
        version = await new_version(session_factory, agent.id, llm_context={"system_prompt": "v2"})
        await publish(redis, settings, agent.id, version, ChangeType.CONTEXT_UPDATE)
        await wait_status(session_factory, agent.id, SyncStatus.SYNCED, version)
        deferred = daemon.runtime.engine.stats.counters[Outcome.DEFERRED]
    assert deferred == 0  # the leading edge: nothing waited
    assert [c["op"] for c in await deployments(control, agent.pipecat_agent_name)] == ["createService", "updateService"]


async def test_a_burst_reaches_live_sessions_at_once_and_costs_two_deployments(
    reveal_secret_values: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
) -> None:
    settings = throttled(daemon_settings)
    agent = await make_agent(session_factory)
    name = agent.pipecat_agent_name
    async with running_daemon(settings) as daemon:
        await provision(redis, settings, session_factory, agent.id)
        await quiet(session_factory, agent.id)
        sessions = [await control.add_session(name) for _ in range(2)]
        versions = []
        for n in range(5):
            version = await new_version(session_factory, agent.id, llm_context={"system_prompt": f"burst {n}"})
            await publish(redis, settings, agent.id, version, ChangeType.CONTEXT_UPDATE)
            versions.append(version)

            async def in_sessions(v: int = version) -> bool:
                posts = [await control.session_context_posts(s) for s in sessions]
                return all(v in [p["version"] for p in got] for got in posts)

            await wait_until(in_sessions, what=f"v{version} in both live sessions")
            if n > 0:  # within the window: live sessions have it before any redeploy of it
                assert (await agent_row(session_factory, agent.id)).synced_version != version
        # no further message, and no sweep: the queue brings the agent back for the trailing redeploy
        await wait_status(session_factory, agent.id, SyncStatus.SYNCED, versions[-1], timeout=30)
        assert daemon.runtime.engine.stats.counters[Outcome.DEFERRED] > 0

    deploys = await deployments(control, name)
    assert [c["op"] for c in deploys] == ["createService", "updateService", "updateService"]  # provision, 2 of 5
    secrets = await control.secret_values(f"{name}-config")
    assert secrets is not None and json.loads(secrets["AGENT_CONFIG"])["version"] == versions[-1]
    service = await control.agent(name)
    row = await agent_row(session_factory, agent.id)
    assert service is not None and service["desiredDeploymentId"] == row.pipecat_cloud_instance_id
    for session_id in sessions:  # every version once, in order: the trailing redeploy pushes nothing again
        assert [p["version"] for p in await control.session_context_posts(session_id)] == versions


async def test_an_update_saves_the_readiness_check_and_the_session_list(
    emulator: EmulatorServer,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
) -> None:
    settings = daemon_settings.model_copy(update={"redeploy_min_interval_s": 0.0})
    agent = await make_agent(session_factory)
    name = agent.pipecat_agent_name
    async with running_daemon(settings):
        await provision(redis, settings, session_factory, agent.id)
        emulator.state.config.secret_ready_delay_s = 0.0  # ready at once: no 409, no check
        before = len(await control.calls(name))
        version = await new_version(session_factory, agent.id, llm_context={"system_prompt": "nobody listens"})
        await publish(redis, settings, agent.id, version, ChangeType.CONTEXT_UPDATE)
        await wait_status(session_factory, agent.id, SyncStatus.SYNCED, version)
        saved = [c["op"] for c in (await control.calls(name))[before:]]

        emulator.state.config.secret_ready_delay_s = 0.3  # not ready: refused, waited for, sent again
        session = await control.add_session(name)
        before = len(await control.calls(name))
        version = await new_version(session_factory, agent.id, llm_context={"system_prompt": "someone listens"})
        await publish(redis, settings, agent.id, version, ChangeType.CONTEXT_UPDATE)
        await wait_status(session_factory, agent.id, SyncStatus.SYNCED, version)
        waited = [(c["op"], c["status"]) for c in (await control.calls(name))[before:]]

    assert saved[:2] == ["upsertSecretSet", "updateService"] and set(saved[2:]) == {"getService"}
    assert waited[:3] == [("upsertSecretSet", 202), ("updateService", 409), ("getSecretSet", 200)]
    updates = [status for op, status in waited if op == "updateService"]
    assert updates == [409, 200]
    assert ("listSessions", 200) in waited  # the update's answer counted a session: it was listed and reached
    assert [p["version"] for p in await control.session_context_posts(session)] == [version]
