"""The backend's publisher: a configuration version is announced only once it is committed, exactly once, and the
daemon applies it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import col

from config_sync_service import publisher
from config_sync_service.core.config import Settings
from config_sync_service.core.metrics import Event
from config_sync_service.db import crud
from config_sync_service.db.models import AgentConfiguration, SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.agent_schema.cases import KEY_RULE, TOOLS
from tests.cli.support import channel_spy
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, running_daemon, wait_until


class Boom(Exception):
    pass


async def _versions(sessions: SessionFactory, agent_id: uuid.UUID) -> int:
    async with sessions() as s:
        query = select(func.count()).where(col(AgentConfiguration.agent_id) == agent_id)
        return int((await s.execute(query)).scalar_one())


async def test_a_rolled_back_transaction_publishes_nothing(
    settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis
) -> None:
    agent = await make_agent(session_factory)
    async with channel_spy(settings) as spy:

        async def write_then_fail() -> None:
            async with session_factory() as session, session.begin():
                config = await publisher.save_configuration_and_publish(
                    session,
                    redis,
                    agent_id=agent.id,
                    llm_context={"system_prompt": "x1"},
                    channel=settings.updates_channel,
                )
                assert config.version == 2
                raise Boom

        with pytest.raises(Boom):
            await write_then_fail()
        async with session_factory() as session:  # rolled back explicitly; the session is then reused
            await publisher.save_configuration_and_publish(
                session, redis, agent_id=agent.id, llm_context={"system_prompt": "x2"}, channel=settings.updates_channel
            )
            await session.rollback()
            await session.commit()  # a later commit of the same session must not publish the dropped message
        assert await spy.settle() == []
    assert await _versions(session_factory, agent.id) == 1


async def test_a_committed_version_is_published_once_and_applied(
    reveal_secret_values: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
) -> None:
    agent = await make_agent(session_factory, with_config=False)
    channel = daemon_settings.updates_channel
    async with running_daemon(daemon_settings) as daemon, channel_spy(daemon_settings) as spy:
        async with session_factory() as session, session.begin():
            first = await publisher.save_configuration_and_publish(
                session,
                redis,
                agent_id=agent.id,
                deployment={"image": "dailyco/pipecat-agent:2.0", "min_agents": 0, "max_agents": 1},
                llm_context={"system_prompt": "Be brief."},
                channel=channel,
            )
            assert await spy.settle(0.2) == []  # not before the commit
        [message] = await spy.wait_for(1)  # published by the time the commit returned
        assert json.loads(message) == {"agent_id": str(agent.id), "version": first.version, "change_type": "PROVISION"}

        async def synced(version: int) -> bool:
            row = await agent_row(session_factory, agent.id)
            return row.sync_status is SyncStatus.SYNCED and row.synced_version == version

        await wait_until(lambda: synced(1), what="version 1 applied")

        async with session_factory() as session:
            second = await publisher.save_configuration_and_publish(
                session, redis, agent_id=agent.id, llm_context={"system_prompt": "Be briefer."}, channel=channel
            )
            await session.commit()
        await wait_until(lambda: synced(second.version), what="version 2 applied")
        assert [json.loads(m) for m in await spy.settle()] == [
            {"agent_id": str(agent.id), "version": 1, "change_type": "PROVISION"},
            {"agent_id": str(agent.id), "version": 2, "change_type": "CONTEXT_UPDATE"},
        ]
        assert daemon.runtime.engine.stats.counters[Event.RECEIVED] == 2
        secret = await control.secret_values(f"{agent.pipecat_agent_name}-config")
        assert secret is not None and "Be briefer." in secret["AGENT_CONFIG"]


async def test_publish_change_validates_and_counts_receivers(settings: Settings, redis: aioredis.Redis) -> None:
    agent_id = uuid.uuid4()
    async with channel_spy(settings) as spy:
        receivers = await publisher.publish_change(
            redis, agent_id=agent_id, version=4, change_type="FULL_SYNC", channel=settings.updates_channel
        )
        assert receivers == 1
        [message] = await spy.wait_for(1)
    assert json.loads(message) == {"agent_id": str(agent_id), "version": 4, "change_type": "FULL_SYNC"}
    with pytest.raises(ValidationError):
        await publisher.publish_change(redis, agent_id=agent_id, version=0, change_type=ChangeType.FULL_SYNC)
    with pytest.raises(ValidationError):
        await publisher.publish_change(redis, agent_id=agent_id, version=1, change_type="REBOOT")


async def test_a_failed_publish_never_undoes_the_commit(settings: Settings, session_factory: SessionFactory) -> None:
    """Redis is down at commit time: the version is committed, the error logged; the sweep will apply it."""
    agent = await make_agent(session_factory)
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        async with session_factory() as session, session.begin():
            await publisher.save_configuration_and_publish(
                session, dead, agent_id=agent.id, llm_context={"system_prompt": "y"}
            )
    finally:
        await dead.aclose()
    assert await _versions(session_factory, agent.id) == 2


async def _active(sessions: SessionFactory, agent_id: uuid.UUID) -> tuple[int, dict[str, object]] | None:
    async with sessions() as s:
        config = await crud.get_active_configuration(s, agent_id=agent_id)
    return None if config is None else (config.version, config.llm_context)


@pytest.mark.parametrize(
    ("parts", "errors"),
    [
        (
            {"llm_context": {"system_prompt": "Hi.", "tools": ["end_call", "voicemial"], "sytem_prompt": "typo"}},
            [
                f"llm_context.tools[1]: unknown tool 'voicemial' {TOOLS}",
                "llm_context.sytem_prompt: unknown field",
            ],
        ),
        ({"secrets": ["TOKEN"]}, ["secrets: must be an object, not an array"]),
        (
            {"deployment": {"min_agents": 3, "max_agents": 2}, "secrets": {"PIN": "1234", "api_key": "k"}},
            ["deployment.max_agents: must be at least min_agents (3)", f"secrets.api_key: {KEY_RULE}"],
        ),
    ],
    ids=["llm_context", "secrets a list", "deployment and secrets"],
)
async def test_an_invalid_configuration_is_refused_and_nothing_is_written_or_published(
    parts: dict[str, Any],
    errors: list[str],
    settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
) -> None:
    """Even when the caller catches the error and commits the rest of its transaction."""
    agent = await make_agent(session_factory)
    before = await _active(session_factory, agent.id)
    async with channel_spy(settings) as spy:
        async with session_factory() as session, session.begin():
            with pytest.raises(publisher.InvalidConfigurationError) as refused:
                await publisher.save_configuration_and_publish(
                    session, redis, agent_id=agent.id, channel=settings.updates_channel, **parts
                )
            await crud.update_agent(session, agent_id=agent.id, name="renamed in the same transaction")
        assert await spy.settle() == []
    assert refused.value.lines == errors
    assert str(refused.value) == "; ".join(errors)
    assert "1234" not in str(refused.value)  # values are never quoted back (they may be secrets)
    assert await _versions(session_factory, agent.id) == 1 and await _active(session_factory, agent.id) == before
    assert (await agent_row(session_factory, agent.id)).name == "renamed in the same transaction"


async def test_the_merged_configuration_is_what_is_validated(
    settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis
) -> None:
    """Only `deployment` is given; the `llm_context` carried over (written before the schema was strict) is
    refused with it, since the new version would hold both."""
    agent = await make_agent(session_factory, llm_context={"system_prompt": "Hi.", "voice_id": "robot"})
    async with channel_spy(settings) as spy:
        with pytest.raises(publisher.InvalidConfigurationError) as refused:
            async with session_factory() as session, session.begin():
                await publisher.save_configuration_and_publish(
                    session, redis, agent_id=agent.id, deployment={"max_agents": 3}, channel=settings.updates_channel
                )
        assert await spy.settle() == []
    assert [line.split(" (known")[0] for line in refused.value.lines] == ["llm_context.voice_id: unknown voice 'robot'"]
    assert await _versions(session_factory, agent.id) == 1

    async with channel_spy(settings) as spy:  # the fix, given with the deployment, goes through
        async with session_factory() as session, session.begin():
            config = await publisher.save_configuration_and_publish(
                session,
                redis,
                agent_id=agent.id,
                deployment={"max_agents": 3},
                llm_context={"system_prompt": "Hi.", "voice_id": "amy"},
                channel=settings.updates_channel,
            )
        [message] = await spy.wait_for(1)
    assert json.loads(message)["version"] == config.version == 2
