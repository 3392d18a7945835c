"""What the processor decides from the rows alone, whatever the message said (DESIGN §4).

Each case is written to Postgres and read back as the claim reads it, so that the plan starts from the drift the
database computes (db/drift.py): one definition of "out of sync" for the sweep, the plan and /status.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from config_sync_service.db import claims
from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus, utcnow
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.processing.plan import Action, plan_for
from config_sync_service.schemas import agent_config

DEPLOYMENT = {"image": "repo/bot:1"}
CONTEXT = {"system_prompt": "hi"}
Fields = dict[str, Any]


def config(version: int = 2, **parts: Any) -> Fields:
    return {
        "version": version,
        "deployment": parts.get("deployment", DEPLOYMENT),
        "llm_context": parts.get("llm_context", CONTEXT),
    }


def agent(**fields: Any) -> Fields:
    base: Fields = {
        "name": "a",
        "sync_status": SyncStatus.SYNCED,
        "synced_version": 1,
        "pipecat_cloud_instance_id": "dep-1",
        "applied_deployment_hash": agent_config.digest([DEPLOYMENT, {}, "shared"]),
        "applied_context_hash": agent_config.digest(CONTEXT),
    }
    return base | fields


async def plan(sessions: SessionFactory, a: Fields, c: Fields | None, force: bool = False) -> tuple[Action, bool]:
    """Write the agent (and its active configuration), read it as a claim does, and plan."""
    agent_id = uuid.uuid4()
    async with transaction(sessions) as s:
        s.add(Agent(id=agent_id, pipecat_agent_name=f"plan-{agent_id.hex[:12]}", **a))
        await s.flush()
        if c is not None:
            s.add(AgentConfiguration(agent_id=agent_id, is_active=True, secrets={}, **c))
    async with sessions() as s:
        read = await claims.read_agent(s, agent_id=agent_id)
    assert read is not None
    p = plan_for(read.agent, read.config, read.drift, shared_digest="shared", force=force)
    return p.action, p.push_context


async def test_never_provisioned_agent_is_provisioned_whatever_the_message(session_factory: SessionFactory) -> None:
    assert await plan(
        session_factory,
        agent(pipecat_cloud_instance_id=None, sync_status=SyncStatus.PENDING, synced_version=None),
        config(1),
    ) == (Action.PROVISION, False)


async def test_only_context_changed_pushes_context_and_redeploys(session_factory: SessionFactory) -> None:
    assert await plan(session_factory, agent(), config(llm_context={"system_prompt": "new"})) == (Action.UPDATE, True)


async def test_deployment_changed_is_a_full_sync_without_session_pushes(session_factory: SessionFactory) -> None:
    assert await plan(session_factory, agent(), config(deployment={"image": "repo/bot:2"})) == (Action.UPDATE, False)


async def test_nothing_changed_just_marks_the_new_version_synced(session_factory: SessionFactory) -> None:
    assert (await plan(session_factory, agent(), config()))[0] is Action.MARK_SYNCED


async def test_applied_or_older_version_is_a_noop(session_factory: SessionFactory) -> None:
    assert (await plan(session_factory, agent(synced_version=2), config(2)))[0] is Action.NOOP
    assert (await plan(session_factory, agent(synced_version=5), config(2)))[0] is Action.NOOP


async def test_deleted_desired_state_deprovisions_and_then_rests(session_factory: SessionFactory) -> None:
    deleting = agent(desired_state=DesiredState.DELETED)
    assert (await plan(session_factory, deleting, config()))[0] is Action.DEPROVISION
    deleted = agent(desired_state=DesiredState.DELETED, sync_status=SyncStatus.DELETED)
    assert (await plan(session_factory, deleted, config()))[0] is Action.NOOP


async def test_deploying_the_active_version_polls_but_a_newer_version_redeploys(
    session_factory: SessionFactory,
) -> None:
    deploying = agent(sync_status=SyncStatus.DEPLOYING, target_version=2)
    assert (await plan(session_factory, deploying, config(2)))[0] is Action.POLL
    assert (await plan(session_factory, deploying, config(3, llm_context={"x": 1})))[0] is Action.UPDATE


async def test_permanent_error_waits_for_a_new_version_or_a_replay(session_factory: SessionFactory) -> None:
    # a failure forgets the applied hashes (what runs on Pipecat is uncertain), so a retry is a full update
    failed = agent(
        sync_status=SyncStatus.ERROR_SYNC,
        target_version=2,
        next_retry_at=None,
        applied_deployment_hash=None,
        applied_context_hash=None,
    )
    assert (await plan(session_factory, failed, config(2)))[0] is Action.NOOP
    assert (await plan(session_factory, failed, config(2), force=True))[0] is Action.UPDATE
    due = failed | {"next_retry_at": utcnow() - timedelta(seconds=1)}
    assert await plan(session_factory, due, config(2)) == (Action.UPDATE, True)


async def test_a_failed_deprovision_waits_for_its_retry_like_a_failed_sync(session_factory: SessionFactory) -> None:
    failed = agent(desired_state=DesiredState.DELETED, sync_status=SyncStatus.ERROR_DEPROVISIONING, next_retry_at=None)
    assert (await plan(session_factory, failed, config()))[0] is Action.NOOP
    assert (await plan(session_factory, failed, config(), force=True))[0] is Action.DEPROVISION
    due = failed | {"next_retry_at": utcnow() - timedelta(seconds=1)}
    assert (await plan(session_factory, due, config()))[0] is Action.DEPROVISION


async def test_no_configuration_is_a_noop(session_factory: SessionFactory) -> None:
    assert (await plan(session_factory, agent(), None))[0] is Action.NOOP
