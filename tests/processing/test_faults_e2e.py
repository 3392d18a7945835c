"""Pipecat faults, duplicates and stale versions, end to end through the daemon."""

from __future__ import annotations

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.core.metrics import Outcome
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import MUTATING_OPS, EmulatorControl
from tests.helpers import agent_row, make_agent, new_version, publish, running_daemon, wait_until


async def wait_for_status(sessions: SessionFactory, agent_id: object, status: SyncStatus) -> None:
    async def check() -> bool:
        return (await agent_row(sessions, agent_id)).sync_status is status  # type: ignore[arg-type]

    await wait_until(check, what=status.value)


async def test_two_503s_then_success_syncs(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    agent = await make_agent(session_factory)
    await control.fail_next("createService", times=2, status=503)
    async with running_daemon(daemon_settings):
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await wait_for_status(session_factory, agent.id, SyncStatus.SYNCED)
    statuses = [c["status"] for c in await control.calls(agent.pipecat_agent_name, op="createService")]
    assert statuses == [503, 503, 200]


async def test_permanent_400_is_error_sync_with_a_dead_letter(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    agent = await make_agent(session_factory)
    await control.fail_next("createService", times=1, status=400)
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await wait_for_status(session_factory, agent.id, SyncStatus.ERROR_SYNC)
        entries = await daemon.runtime.dead_letters.entries()
    row = await agent_row(session_factory, agent.id)
    assert row.last_error_message and row.last_error_message.startswith("400")
    assert row.last_error_class == "PipecatValidationError"
    assert [(e.reason, e.error_class, e.agent_id) for e in entries] == [
        ("permanent_error", "PipecatValidationError", str(agent.id))
    ]
    assert len(await control.calls(agent.pipecat_agent_name, op="createService")) == 1  # no retry


async def test_missing_image_deployment_fails_to_error_sync(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    agent = await make_agent(session_factory, deployment={"image": "dailyco/pipecat-agent:missing"})
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await wait_for_status(session_factory, agent.id, SyncStatus.ERROR_SYNC)
        entries = await daemon.runtime.dead_letters.entries()
    row = await agent_row(session_factory, agent.id)
    assert row.last_error_message and "PCC_IMAGE_NOT_FOUND" in row.last_error_message
    assert [e.reason for e in entries] == ["deployment_failed"]


async def test_duplicates_cost_one_set_of_calls_and_stale_versions_are_noops(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    agent = await make_agent(session_factory)
    async with running_daemon(daemon_settings) as daemon:
        for _ in range(3):
            await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await wait_for_status(session_factory, agent.id, SyncStatus.SYNCED)
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)  # after it settled
        v2 = await new_version(session_factory, agent.id, llm_context={"system_prompt": "v2"})
        await publish(redis, daemon_settings, agent.id, v2, ChangeType.CONTEXT_UPDATE)

        async def at_v2() -> bool:
            row = await agent_row(session_factory, agent.id)
            return row.sync_status is SyncStatus.SYNCED and row.synced_version == v2

        await wait_until(at_v2, what="v2 synced")
        noops_before = daemon.runtime.engine.stats.counters[Outcome.NOOP]
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.FULL_SYNC)  # older than what is applied

        async def noop_counted() -> bool:
            return daemon.runtime.engine.stats.counters[Outcome.NOOP] > noops_before

        await wait_until(noop_counted, what="the stale message counted as a no-op")
    # what changed something: an update refused with 409 (the secret set not ready yet, tried optimistically) did not
    calls = await control.calls(agent.pipecat_agent_name)
    mutating = [c["op"] for c in calls if c["op"] in MUTATING_OPS and c["status"] != 409]
    assert mutating == ["upsertSecretSet", "createService", "upsertSecretSet", "updateService"]
    assert (await agent_row(session_factory, agent.id)).synced_version == v2
