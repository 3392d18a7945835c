"""What an agent needs, decided from its rows alone (level-triggered: whatever the message's change type was).

Whether there is anything to do at all is the drift the claim read (db/drift.py, the one definition of "out of
sync"); the plan then chooses the smallest operation, and when to redeploy (the throttle, `redeploy_wait_s`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

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
    PUSH = "push"  # the new context into live sessions now; the redeploy waits for the throttle
    WAIT = "wait"  # nothing to push: the redeploy waits for the throttle


@dataclass(frozen=True, slots=True)
class Plan:
    action: Action
    version: int
    push_context: bool = False
    deployment_hash: str | None = None
    context_hash: str | None = None
    redeploy_in_s: float | None = None  # PUSH, WAIT: when the trailing redeploy is due


def redeploy_wait_s(agent: Agent, *, now: datetime, min_interval_s: float) -> float:
    """Seconds until the agent may be redeployed (0: now). The redeploy serves only new sessions, so it is
    throttled per agent with a leading and a trailing edge: a quiet agent redeploys at once; changes arriving
    within `min_interval_s` of the last redeploy's start (in flight or done) wait for one trailing redeploy.
    Only a healthy agent (SYNCED, DEPLOYING) waits: a failure or a first deploy goes as before."""
    since = agent.deploying_since
    if min_interval_s <= 0 or since is None or agent.sync_status not in (SyncStatus.SYNCED, SyncStatus.DEPLOYING):
        return 0.0
    return max(0.0, (since + timedelta(seconds=min_interval_s) - now).total_seconds())


def plan_for(
    agent: Agent,
    config: AgentConfiguration | None,
    drift: Drift,
    *,
    shared_digest: str,
    force: bool,
    now: datetime | None = None,
    redeploy_min_interval_s: float = 0.0,
) -> Plan:
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
    wait_s = 0.0 if now is None else redeploy_wait_s(agent, now=now, min_interval_s=redeploy_min_interval_s)
    if wait_s > 0:
        return _throttled(agent, version, context_changed, deployment_hash, context_hash, wait_s)
    return Plan(Action.UPDATE, version, context_changed, deployment_hash, context_hash)


def _throttled(
    agent: Agent, version: int, context_changed: bool, deployment_hash: str, context_hash: str, wait_s: float
) -> Plan:
    """A redeploy is recent: push the context now (running sessions need not wait), follow a deployment in
    flight, or wait for the trailing redeploy. The push forgets the applied deployment hash: the redeploy is owed."""
    if context_changed:
        return Plan(Action.PUSH, version, True, deployment_hash, context_hash, redeploy_in_s=wait_s)
    if agent.sync_status is SyncStatus.DEPLOYING and agent.target_version is not None:
        return Plan(Action.POLL, agent.target_version)  # the deployment in flight; the trailing redeploy after it
    return Plan(Action.WAIT, version, redeploy_in_s=wait_s)
