"""The claim on an agent against real Postgres: one read with its drift, only the holder writes and renews."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from config_sync_service.db import claims, crud
from config_sync_service.db.drift import Drift
from config_sync_service.db.models import Agent, SyncStatus, utcnow
from tests.db.support import new_agent


async def test_agent_with_active_configuration_in_one_read(session: AsyncSession) -> None:
    bare = await new_agent(session, "no-config-bot", with_config=False)
    read = await claims.read_agent(session, agent_id=bare.id)
    assert read is not None and (read.agent.id, read.agent.name, read.config) == (bare.id, bare.name, None)
    assert read.drift is Drift.IN_SYNC  # nothing to apply yet
    assert await claims.read_agent(session, agent_id=uuid.uuid4()) is None

    agent = await new_agent(session, "two-versions-bot")
    await crud.add_configuration(session, agent_id=agent.id, llm_context={"system_prompt": "v2"})
    await session.commit()
    found = await claims.read_agent(session, agent_id=agent.id)
    assert found is not None and found.config is not None
    assert (found.config.version, found.config.llm_context) == (2, {"system_prompt": "v2"})
    assert found.drift is Drift.NEW_VERSION
    # a write in the same session shows on the next read (the sync loop writes, then reads again)
    await crud.update_agent_sync_status(session, agent_id=agent.id, version=2, status=SyncStatus.SYNCED, synced=True)
    again = await claims.read_agent(session, agent_id=agent.id)
    assert again is not None and (again.agent.sync_status, again.agent.synced_version) == (SyncStatus.SYNCED, 2)
    assert again.drift is Drift.IN_SYNC


async def test_only_the_claim_holder_writes_and_renews(session: AsyncSession) -> None:
    """A process whose lease lapsed and was taken over can neither write the outcome nor renew."""
    agent = await new_agent(session, "lease-bot")
    mine = await claims.claim_agent(session, agent_id=agent.id, owner="a", lease_s=60)
    assert mine.present and mine.snapshot is not None and mine.snapshot.agent.lease_owner == "a"
    assert mine.snapshot.drift is Drift.NEW_VERSION  # the claim reads the drift the plan starts from
    await session.commit()
    theirs = await claims.claim_agent(session, agent_id=agent.id, owner="b", lease_s=60)
    assert theirs.present and theirs.snapshot is None  # a's lease is live
    await session.execute(sa.update(Agent).where(col(Agent.id) == agent.id).values(lease_expires_at=utcnow()))
    await session.commit()  # now() is the transaction's start
    taken = await claims.claim_agent(session, agent_id=agent.id, owner="b", lease_s=60)
    assert taken.snapshot is not None and taken.snapshot.agent.lease_owner == "b"  # lapsed: taken over
    await session.commit()
    assert not await crud.update_agent_sync_status(
        session, agent_id=agent.id, version=1, status=SyncStatus.DEPLOYING, owner="a"
    )
    assert not await claims.renew_claim(session, agent_id=agent.id, owner="a", lease_s=60)
    assert await crud.update_agent_sync_status(
        session, agent_id=agent.id, version=1, status=SyncStatus.SYNCING, owner="b"
    )
    assert await claims.renew_claim(session, agent_id=agent.id, owner="b", lease_s=60)
    await session.commit()
    row = await crud.get_agent_details(session, agent_id=agent.id)
    assert row is not None and (row.sync_status, row.lease_owner) == (SyncStatus.SYNCING, "b")
    missing = await claims.claim_agent(session, agent_id=uuid.uuid4(), owner="a", lease_s=60)
    assert not missing.present and missing.snapshot is None
