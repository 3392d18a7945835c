"""What the processor decides from the rows alone, whatever the message said (DESIGN §4)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus, utcnow
from config_sync_service.processing.plan import Action, plan_for
from config_sync_service.schemas import agent_config

DEPLOYMENT = {"image": "repo/bot:1"}
CONTEXT = {"system_prompt": "hi"}


def config(version: int = 2, **parts: Any) -> AgentConfiguration:
    return AgentConfiguration(
        agent_id=uuid.uuid4(),
        version=version,
        is_active=True,
        deployment=parts.get("deployment", DEPLOYMENT),
        llm_context=parts.get("llm_context", CONTEXT),
        secrets={},
    )


def agent(**fields: Any) -> Agent:
    base: dict[str, Any] = {
        "name": "a",
        "pipecat_agent_name": "a",
        "sync_status": SyncStatus.SYNCED,
        "synced_version": 1,
        "pipecat_cloud_instance_id": "dep-1",
        "applied_deployment_hash": agent_config.digest([DEPLOYMENT, {}, "shared"]),
        "applied_context_hash": agent_config.digest(CONTEXT),
    }
    return Agent(**(base | fields))


def plan(a: Agent, c: AgentConfiguration | None, force: bool = False) -> tuple[Action, bool]:
    p = plan_for(a, c, shared_digest="shared", force=force)
    return p.action, p.push_context


def test_never_provisioned_agent_is_provisioned_whatever_the_message() -> None:
    assert plan(
        agent(pipecat_cloud_instance_id=None, sync_status=SyncStatus.PENDING, synced_version=None), config(1)
    ) == (Action.PROVISION, False)


def test_only_context_changed_pushes_context_and_redeploys() -> None:
    assert plan(agent(), config(llm_context={"system_prompt": "new"})) == (Action.UPDATE, True)


def test_deployment_changed_is_a_full_sync_without_session_pushes() -> None:
    assert plan(agent(), config(deployment={"image": "repo/bot:2"})) == (Action.UPDATE, False)


def test_nothing_changed_just_marks_the_new_version_synced() -> None:
    assert plan(agent(), config())[0] is Action.MARK_SYNCED


def test_applied_or_older_version_is_a_noop() -> None:
    assert plan(agent(synced_version=2), config(2))[0] is Action.NOOP
    assert plan(agent(synced_version=5), config(2))[0] is Action.NOOP


def test_deleted_desired_state_deprovisions_and_then_rests() -> None:
    assert plan(agent(desired_state=DesiredState.DELETED), config())[0] is Action.DEPROVISION
    assert plan(agent(desired_state=DesiredState.DELETED, sync_status=SyncStatus.DELETED), config())[0] is Action.NOOP


def test_deploying_the_active_version_polls_but_a_newer_version_redeploys() -> None:
    assert plan(agent(sync_status=SyncStatus.DEPLOYING, target_version=2), config(2))[0] is Action.POLL
    assert (
        plan(agent(sync_status=SyncStatus.DEPLOYING, target_version=2), config(3, llm_context={"x": 1}))[0]
        is Action.UPDATE
    )


def test_permanent_error_waits_for_a_new_version_or_a_replay() -> None:
    # a failure forgets the applied hashes (what runs on Pipecat is uncertain), so a retry is a full update
    failed = agent(
        sync_status=SyncStatus.ERROR_SYNC,
        target_version=2,
        next_retry_at=None,
        applied_deployment_hash=None,
        applied_context_hash=None,
    )
    assert plan(failed, config(2))[0] is Action.NOOP
    assert plan(failed, config(2), force=True)[0] is Action.UPDATE
    due = agent(
        sync_status=SyncStatus.ERROR_SYNC,
        target_version=2,
        next_retry_at=utcnow() - timedelta(seconds=1),
        applied_deployment_hash=None,
        applied_context_hash=None,
    )
    assert plan(due, config(2)) == (Action.UPDATE, True)


def test_no_configuration_is_a_noop() -> None:
    assert plan(agent(), None)[0] is Action.NOOP
