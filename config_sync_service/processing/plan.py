"""What an agent needs, decided from its rows alone (level-triggered: whatever the message's change type was)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus, utcnow
from config_sync_service.schemas import agent_config

RETRY_SLACK = timedelta(seconds=1)


class Action(enum.StrEnum):
    NOOP = "noop"
    PROVISION = "provision"
    UPDATE = "update"
    MARK_SYNCED = "mark_synced"
    POLL = "poll"
    DEPROVISION = "deprovision"


@dataclass(frozen=True, slots=True)
class Plan:
    action: Action
    version: int
    push_context: bool = False
    deployment_hash: str | None = None
    context_hash: str | None = None


def plan_for(agent: Agent, config: AgentConfiguration | None, *, shared_digest: str, force: bool) -> Plan:
    """Decide what the database says is needed, whatever the message's change type was."""
    if agent.desired_state is DesiredState.DELETED:
        version = config.version if config else (agent.synced_version or 0)
        return Plan(Action.NOOP if agent.sync_status is SyncStatus.DELETED else Action.DEPROVISION, version)
    if config is None:
        return Plan(Action.NOOP, agent.synced_version or 0)
    version = config.version
    if agent.sync_status is SyncStatus.DEPLOYING and agent.target_version == version:
        return Plan(Action.POLL, version)
    if agent.sync_status is SyncStatus.SYNCED and (agent.synced_version or 0) >= version:
        return Plan(Action.NOOP, version)
    # a second of slack: the queue's own retry timer may fire a hair before `next_retry_at`
    retry_pending = agent.next_retry_at is None or agent.next_retry_at > utcnow() + RETRY_SLACK
    if agent.sync_status is SyncStatus.ERROR_SYNC and agent.target_version == version and retry_pending and not force:
        return Plan(Action.NOOP, version)
    deployment_hash = agent_config.digest([config.deployment, config.secrets, shared_digest])
    context_hash = agent_config.digest(config.llm_context)
    provisioned = agent.pipecat_cloud_instance_id is not None and agent.sync_status not in (
        SyncStatus.DELETED,
        SyncStatus.PENDING_DELETE,
    )
    if not provisioned:
        return Plan(Action.PROVISION, version, False, deployment_hash, context_hash)
    context_changed = context_hash != agent.applied_context_hash
    if deployment_hash == agent.applied_deployment_hash and not context_changed:
        return Plan(Action.MARK_SYNCED, version, False, deployment_hash, context_hash)
    return Plan(Action.UPDATE, version, context_changed, deployment_hash, context_hash)
