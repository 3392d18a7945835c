"""The one definition of "out of sync" against real Postgres: what the sweep queues, and why."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from config_sync_service.db import crud, drift
from config_sync_service.db.models import Agent, DesiredState, SyncStatus, utcnow
from config_sync_service.db.session import SessionFactory
from tests.db.support import new_agent


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

        drifted = {d.agent_id: d.reason for d in await drift.list_drifted_agents(s)}
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
        assert len(await drift.list_drifted_agents(s, limit=2)) == 2
        counts = await crud.count_agents_by_status(s)
        out_of_sync, oldest = await drift.list_out_of_sync_agents(s, limit=100)
    assert counts["SYNCED"] == 3 and counts["ERROR_SYNC"] == 4
    # /status's "out of sync" is the same definition: what drifted, what waits for its retry, what is claimed now
    assert {a.agent_id for a in oldest} == set(drifted) | {permanent.id, retry_later.id, claimed.id}
    assert out_of_sync == len(oldest)


async def test_a_paused_agent_out_of_step_is_paused_and_nothing_queues_it(session_factory: SessionFactory) -> None:
    from config_sync_service.db import pause

    async with session_factory() as s:
        in_step = await new_agent(s, "paused-in-step")
        await crud.update_agent_sync_status(s, agent_id=in_step.id, version=1, status=SyncStatus.SYNCED, synced=True)
        behind = await new_agent(s, "paused-behind")
        await crud.update_agent_sync_status(s, agent_id=behind.id, version=1, status=SyncStatus.SYNCED, synced=True)
        await crud.add_configuration(s, agent_id=behind.id, llm_context={"system_prompt": "new"})
        failing = await new_agent(s, "paused-retry-due")
        await crud.update_agent_sync_status(
            s, agent_id=failing.id, version=1, status=SyncStatus.ERROR_SYNC, next_retry_at=utcnow()
        )
        deleting = await new_agent(s, "paused-deleting")
        await crud.update_agent(s, agent_id=deleting.id, desired_state=DesiredState.DELETED)
        deploying = await new_agent(s, "paused-deploying")  # accepted by Pipecat: still polled (a read)
        await crud.update_agent_sync_status(s, agent_id=deploying.id, version=1, status=SyncStatus.DEPLOYING)
        superseded = await new_agent(s, "paused-deploying-old")  # a newer version would be an update: paused
        await crud.update_agent_sync_status(s, agent_id=superseded.id, version=1, status=SyncStatus.DEPLOYING)
        await crud.add_configuration(s, agent_id=superseded.id, llm_context={"system_prompt": "newer"})
        agents = (in_step, behind, failing, deleting, deploying, superseded)
        for agent in agents:
            await pause.set_paused(s, agent_id=agent.id, paused=True, reason="hold")
        await s.commit()
        queued = {d.agent_id: d.reason for d in await drift.list_drifted_agents(s)}
        count, listed = await drift.list_out_of_sync_agents(s, limit=20)
        total, paused = await pause.list_paused(s)
    assert queued == {deploying.id: drift.Drift.DEPLOYING}
    assert count == 5 and {a.agent_id for a in listed} == {a.id for a in agents[1:]}
    assert all(a.paused and a.paused_reason == "hold" for a in listed)
    assert total == 6 and {p.agent_id for p in paused} == {a.id for a in agents}
    assert not drift.Drift.PAUSED.needs_work
