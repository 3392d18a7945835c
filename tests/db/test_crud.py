"""CRUD against real Postgres: round trips, the compare-and-set, the one-active rule."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from config_sync_service.db import crud
from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus
from tests.db.support import CONTEXT, DEPLOYMENT, new_agent


async def test_round_trip(session: AsyncSession) -> None:
    agent = await new_agent(session, "support-bot")
    loaded = await crud.get_agent_details(session, agent_id=agent.id)
    assert loaded is not None
    assert loaded.pipecat_agent_name == "support-bot"
    assert loaded.sync_status is SyncStatus.PENDING
    assert loaded.desired_state is DesiredState.ACTIVE
    assert loaded.created_at.tzinfo is not None

    config = await crud.get_active_configuration(session, agent_id=agent.id)
    assert config is not None
    assert (config.version, config.deployment, config.secrets) == (1, DEPLOYMENT, {"TENANT_TOKEN": "s3cr3t"})
    assert "s3cr3t" not in repr(config)
    assert config.llm_context == CONTEXT

    second = await crud.add_configuration(session, agent_id=agent.id, llm_context={"system_prompt": "v2"})
    await session.commit()
    assert second.version == 2
    active = await crud.get_active_configuration(session, agent_id=agent.id)
    assert active is not None and active.version == 2
    assert active.deployment == DEPLOYMENT  # carried over
    versions = (
        await session.execute(
            sa.select(col(AgentConfiguration.version), col(AgentConfiguration.is_active))
            .where(col(AgentConfiguration.agent_id) == agent.id)
            .order_by(col(AgentConfiguration.version))
        )
    ).all()
    assert [tuple(v) for v in versions] == [(1, False), (2, True)]

    updated = await crud.update_agent(session, agent_id=agent.id, name="Renamed", desired_state=DesiredState.DELETED)
    await session.commit()
    assert updated is not None and (updated.name, updated.desired_state) == ("Renamed", DesiredState.DELETED)
    assert await crud.get_agent_details(session, agent_id=uuid.uuid4()) is None
    with pytest.raises(LookupError):
        await crud.add_configuration(session, agent_id=uuid.uuid4(), llm_context={})


async def test_compare_and_set_refuses_older_versions(session: AsyncSession) -> None:
    agent = await new_agent(session, "cas-bot")
    assert await crud.update_agent_sync_status(
        session, agent_id=agent.id, version=5, status=SyncStatus.SYNCED, synced=True
    )
    await session.commit()
    assert not await crud.update_agent_sync_status(
        session, agent_id=agent.id, version=4, status=SyncStatus.ERROR_SYNC, error_message="old"
    )
    await session.commit()
    row = await crud.get_agent_details(session, agent_id=agent.id)
    assert row is not None and (row.sync_status, row.synced_version, row.last_error_message) == (
        SyncStatus.SYNCED,
        5,
        None,
    )

    assert await crud.update_agent_sync_status(
        session,
        agent_id=agent.id,
        version=6,
        status=SyncStatus.ERROR_SYNC,
        error_message="boom",
        error_class="PipecatValidationError",
    )
    await session.commit()
    row = await crud.get_agent_details(session, agent_id=agent.id)
    assert row is not None
    assert (row.sync_status, row.synced_version, row.target_version, row.last_error_message) == (
        SyncStatus.ERROR_SYNC,
        5,
        6,
        "boom",
    )
    assert await crud.update_agent_sync_status(
        session, agent_id=agent.id, version=6, status=SyncStatus.SYNCED, synced=True, error_message=None
    )
    await session.commit()
    row = await crud.get_agent_details(session, agent_id=agent.id)
    assert row is not None and (row.synced_version, row.last_error_message) == (6, None)
    assert row.last_synced_at is not None


async def test_second_active_configuration_is_refused(session: AsyncSession) -> None:
    agent = await new_agent(session, "one-active")
    session.add(AgentConfiguration(agent_id=agent.id, version=7, is_active=True))
    with pytest.raises(IntegrityError, match="uq_agent_configurations_one_active"):
        await session.commit()


async def test_bad_pipecat_name_is_refused(session: AsyncSession) -> None:
    session.add(Agent(name="Bad", pipecat_agent_name="Bad_Name"))
    with pytest.raises(IntegrityError, match="ck_agents_pipecat_agent_name"):
        await session.commit()
