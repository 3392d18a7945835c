"""CRUD against real Postgres: round trips, the compare-and-set, the one-active rule, drift detection."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from config_sync_service.db import crud
from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus, utcnow
from config_sync_service.db.session import SessionFactory

DEPLOYMENT = {"image": "dailyco/agent:1.0", "agent_profile": "agent-1x", "min_agents": 0, "max_agents": 2}
CONTEXT = {"system_prompt": "You are helpful.", "voice_id": "matthew"}


async def new_agent(session: AsyncSession, name: str, **config: object) -> Agent:
    agent = await crud.create_agent(session, name=name.title(), pipecat_agent_name=name)
    if config.get("with_config", True):
        await crud.add_configuration(
            session, agent_id=agent.id, deployment=DEPLOYMENT, llm_context=CONTEXT, secrets={"TENANT_TOKEN": "s3cr3t"}
        )
    await session.commit()
    return agent


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
    assert await crud.get_llm_context_data(session, agent_id=agent.id) == CONTEXT

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


async def test_agent_with_active_configuration_in_one_read(session: AsyncSession) -> None:
    bare = await new_agent(session, "no-config-bot", with_config=False)
    assert await crud.get_agent_with_active_configuration(session, agent_id=bare.id) == (bare, None)
    assert await crud.get_agent_with_active_configuration(session, agent_id=uuid.uuid4()) is None

    agent = await new_agent(session, "two-versions-bot")
    await crud.add_configuration(session, agent_id=agent.id, llm_context={"system_prompt": "v2"})
    await session.commit()
    found = await crud.get_agent_with_active_configuration(session, agent_id=agent.id)
    assert found is not None and found[1] is not None
    assert (found[1].version, found[1].llm_context) == (2, {"system_prompt": "v2"})
    # a write in the same session shows on the next read (the sync loop writes, then reads again)
    await crud.update_agent_sync_status(session, agent_id=agent.id, version=2, status=SyncStatus.SYNCED, synced=True)
    again = await crud.get_agent_with_active_configuration(session, agent_id=agent.id)
    assert again is not None and (again[0].sync_status, again[0].synced_version) == (SyncStatus.SYNCED, 2)


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


async def test_only_the_claim_holder_writes_and_renews(session: AsyncSession) -> None:
    """A process whose lease lapsed and was taken over can neither write the outcome nor renew."""
    agent = await new_agent(session, "lease-bot")
    mine = await crud.claim_agent(session, agent_id=agent.id, owner="a", lease_s=60)
    assert mine.present and mine.agent is not None and mine.agent.lease_owner == "a"
    await session.commit()
    theirs = await crud.claim_agent(session, agent_id=agent.id, owner="b", lease_s=60)
    assert theirs.present and theirs.agent is None  # a's lease is live
    await session.execute(sa.update(Agent).where(col(Agent.id) == agent.id).values(lease_expires_at=utcnow()))
    await session.commit()  # now() is the transaction's start
    taken = await crud.claim_agent(session, agent_id=agent.id, owner="b", lease_s=60)
    assert taken.agent is not None and taken.agent.lease_owner == "b"  # lapsed: taken over
    await session.commit()
    assert not await crud.update_agent_sync_status(
        session, agent_id=agent.id, version=1, status=SyncStatus.DEPLOYING, owner="a"
    )
    assert not await crud.renew_claim(session, agent_id=agent.id, owner="a", lease_s=60)
    assert await crud.update_agent_sync_status(
        session, agent_id=agent.id, version=1, status=SyncStatus.SYNCING, owner="b"
    )
    assert await crud.renew_claim(session, agent_id=agent.id, owner="b", lease_s=60)
    await session.commit()
    row = await crud.get_agent_details(session, agent_id=agent.id)
    assert row is not None and (row.sync_status, row.lease_owner) == (SyncStatus.SYNCING, "b")
    missing = await crud.claim_agent(session, agent_id=uuid.uuid4(), owner="a", lease_s=60)
    assert not missing.present and missing.agent is None


async def test_second_active_configuration_is_refused(session: AsyncSession) -> None:
    agent = await new_agent(session, "one-active")
    session.add(AgentConfiguration(agent_id=agent.id, version=7, is_active=True))
    with pytest.raises(IntegrityError, match="uq_agent_configurations_one_active"):
        await session.commit()


async def test_bad_pipecat_name_is_refused(session: AsyncSession) -> None:
    session.add(Agent(name="Bad", pipecat_agent_name="Bad_Name"))
    with pytest.raises(IntegrityError, match="ck_agents_pipecat_agent_name"):
        await session.commit()


async def test_list_drifted_agents_finds_exactly_the_drifted(session_factory: SessionFactory) -> None:
    async with session_factory() as s:
        in_sync = await new_agent(s, "in-sync")
        await crud.update_agent_sync_status(s, agent_id=in_sync.id, version=1, status=SyncStatus.SYNCED, synced=True)
        behind = await new_agent(s, "behind")
        await crud.update_agent_sync_status(s, agent_id=behind.id, version=1, status=SyncStatus.SYNCED, synced=True)
        await crud.add_configuration(s, agent_id=behind.id, llm_context={"system_prompt": "new"})
        never = await new_agent(s, "never-synced")
        no_config = await new_agent(s, "no-config", with_config=False)
        deploying = await new_agent(s, "deploying")
        await crud.update_agent_sync_status(s, agent_id=deploying.id, version=1, status=SyncStatus.DEPLOYING)
        permanent = await new_agent(s, "permanent-error")
        await crud.update_agent_sync_status(
            s, agent_id=permanent.id, version=1, status=SyncStatus.ERROR_SYNC, next_retry_at=None
        )
        retry_due = await new_agent(s, "retry-due")
        await crud.update_agent_sync_status(
            s,
            agent_id=retry_due.id,
            version=1,
            status=SyncStatus.ERROR_SYNC,
            next_retry_at=utcnow() - timedelta(seconds=1),
        )
        retry_later = await new_agent(s, "retry-later")
        await crud.update_agent_sync_status(
            s,
            agent_id=retry_later.id,
            version=1,
            status=SyncStatus.ERROR_SYNC,
            next_retry_at=utcnow() + timedelta(hours=1),
        )
        fixed = await new_agent(s, "error-fixed")
        await crud.update_agent_sync_status(s, agent_id=fixed.id, version=1, status=SyncStatus.ERROR_SYNC)
        await crud.add_configuration(s, agent_id=fixed.id, llm_context={"system_prompt": "fixed"})
        to_delete = await new_agent(s, "to-delete")
        await crud.update_agent_sync_status(s, agent_id=to_delete.id, version=1, status=SyncStatus.SYNCED, synced=True)
        await crud.update_agent(s, agent_id=to_delete.id, desired_state=DesiredState.DELETED)
        deleted = await new_agent(s, "deleted")
        await crud.update_agent(s, agent_id=deleted.id, desired_state=DesiredState.DELETED)
        await crud.update_agent_sync_status(s, agent_id=deleted.id, version=1, status=SyncStatus.DELETED)
        claimed = await new_agent(s, "claimed")
        stale = await new_agent(s, "stale-claim")
        await crud.update_agent_sync_status(s, agent_id=stale.id, version=1, status=SyncStatus.SYNCING)
        await s.execute(
            sa.update(Agent)
            .where(col(Agent.id) == claimed.id)
            .values(
                sync_status=SyncStatus.SYNCING, lease_owner="other", lease_expires_at=utcnow() + timedelta(minutes=1)
            )
        )
        await s.execute(
            sa.update(Agent)
            .where(col(Agent.id) == stale.id)
            .values(lease_owner="dead", lease_expires_at=utcnow() - timedelta(minutes=1))
        )
        await s.commit()

        drifted = {d.agent_id: d.reason for d in await crud.list_drifted_agents(s)}
    assert drifted == {
        behind.id: "new_version",
        never.id: "new_version",
        deploying.id: "deploying",
        retry_due.id: "retry_due",
        fixed.id: "new_version",
        to_delete.id: "desired_deleted",
        stale.id: "stale_claim",
    }
    assert no_config.id not in drifted and claimed.id not in drifted and in_sync.id not in drifted
    async with session_factory() as s:
        assert len(await crud.list_drifted_agents(s, limit=2)) == 2
        counts = await crud.count_agents_by_status(s)
    assert counts["SYNCED"] == 3 and counts["ERROR_SYNC"] == 4
