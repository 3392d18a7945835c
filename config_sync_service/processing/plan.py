"""What an agent needs, decided from its rows alone (level-triggered: whatever the message's change type was).

Whether there is anything to do at all is the drift the claim read (db/drift.py, the one definition of "out of
sync"); the plan then chooses the smallest operation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from config_sync_service.db.drift import Drift
from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus
from config_sync_service.schemas import agent_config


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


def plan_for(agent: Agent, config: AgentConfiguration | None, drift: Drift, *, shared_digest: str, force: bool) -> Plan:
    """Decide what the database says is needed, whatever the message's change type was. `force` (a replay)
    acts on a failure that waits for its retry."""
    if not (drift.needs_work or (force and drift is Drift.RETRY_PENDING)):
        return Plan(Action.NOOP, config.version if config else (agent.synced_version or 0))
    if agent.desired_state is DesiredState.DELETED:
        return Plan(Action.DEPROVISION, config.version if config else (agent.synced_version or 0))
    assert config is not None  # only a deletion needs work without an active configuration
    version = config.version
    if agent.sync_status is SyncStatus.DEPLOYING and agent.target_version == version:
        return Plan(Action.POLL, version)
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
