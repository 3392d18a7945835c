"""Pause and resume, through the real daemon, the CLI and the emulator: a paused agent gets no mutating Pipecat
call even when a new version arrives, a sweep or a replay asks; it shows as paused in /status, the CLI's status
and /metrics; resuming applies the newest version at once."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db import history
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.processing.hints import Hint
from config_sync_service.schemas.messages import ChangeType
from tests.cli.support import run_cli
from tests.emulator_control import MUTATING_OPS, EmulatorControl
from tests.helpers import agent_row, make_agent, new_version, publish, running_daemon, wait_until


async def mutating_calls(control: EmulatorControl, name: str) -> int:
    return sum(op in MUTATING_OPS for op in await control.ops(name))


async def at(sessions: SessionFactory, agent_id: uuid.UUID, status: SyncStatus, version: int) -> bool:
    row = await agent_row(sessions, agent_id)
    return row.sync_status is status and row.synced_version == version


async def noop_at(sessions: SessionFactory, agent_id: uuid.UUID, version: int) -> bool:
    async with sessions() as s:
        rows = await history.for_agent(s, agent_id=agent_id, limit=5)
    return any(r.outcome == "noop" and r.version == version for r in rows)


async def test_a_paused_agent_is_never_changed_and_resume_applies_the_newest_version(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    agent = await make_agent(session_factory)
    name = agent.pipecat_agent_name
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: at(session_factory, agent.id, SyncStatus.SYNCED, 1), what="version 1 synced")
        paused = await run_cli(daemon_settings, "pause", str(agent.id), "--reason", "incident 42: hands off")
        assert paused.code == 0, paused.stderr
        assert "paused agent" in paused.stdout
        before = await mutating_calls(control, name)

        # a new version arrives (and is published), a sweep runs, a forced run is asked: nothing changes
        version = await new_version(session_factory, agent.id, deployment={"image": "dailyco/pipecat-agent:2.0"})
        await publish(redis, daemon_settings, agent.id, version, ChangeType.FULL_SYNC)
        await wait_until(lambda: noop_at(session_factory, agent.id, version), what="the paused pass recorded")
        assert await daemon.runtime.engine.sweeper.sweep() == 0
        daemon.runtime.engine.submit(agent.id, Hint(force=True))
        await wait_until(lambda: _idle(daemon.runtime.engine), what="the queue idle")

        row = await agent_row(session_factory, agent.id)
        assert (row.sync_status, row.synced_version, row.paused) == (SyncStatus.SYNCED, 1, True)
        assert await mutating_calls(control, name) == before
        live = await control.agent(name)
        assert live is not None and live["deployment"]["manifest"]["spec"]["image"] == "dailyco/pipecat-agent:1.0"

        status = (await daemon.get("/status")).json()
        [shown] = status["paused"]["agents"]
        assert (status["paused"]["count"], shown["agent_id"], shown["reason"]) == (
            1,
            str(agent.id),
            "incident 42: hands off",
        )
        [out] = status["out_of_sync"]["oldest"]
        assert out["paused"] and out["paused_reason"] == "incident 42: hands off"
        metrics = (await daemon.get("/metrics")).text
        assert "config_sync_agents_paused 1.0" in metrics
        cli_status = await run_cli(daemon_settings, "status", "--url", daemon.url)
        assert "(PAUSED)" in cli_status.stdout and "Paused: 1 agent(s)" in cli_status.stdout
        assert "incident 42: hands off" in cli_status.stdout

        resumed = await run_cli(daemon_settings, "resume", str(agent.id))
        assert resumed.code == 0, resumed.stderr
        assert f"version {version}" in resumed.stdout
        await wait_until(lambda: at(session_factory, agent.id, SyncStatus.SYNCED, version), what="version 2 synced")

    live = await control.agent(name)
    assert live is not None and live["deployment"]["manifest"]["spec"]["image"] == "dailyco/pipecat-agent:2.0"
    assert (await agent_row(session_factory, agent.id)).paused is False


async def test_pause_and_resume_name_unknown_agents_and_need_a_reason(daemon_settings: Settings) -> None:
    unknown, no_reason, not_an_id = await asyncio.gather(
        run_cli(daemon_settings, "pause", str(uuid.uuid4()), "--reason", "x"),
        run_cli(daemon_settings, "pause", str(uuid.uuid4()), "--reason", "  "),
        run_cli(daemon_settings, "resume", "agent-7"),
    )
    assert unknown.code == 1 and "no agent" in unknown.stderr
    assert no_reason.code == 2 and "reason" in no_reason.stderr
    assert not_an_id.code == 2 and "not an agent id" in not_an_id.stderr


async def _idle(engine: object) -> bool:
    queue = engine.queue  # type: ignore[attr-defined]
    return len(queue) == 0 and queue.in_flight == 0
