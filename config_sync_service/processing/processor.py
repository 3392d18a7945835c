"""Process one agent: claim it, read what Postgres says, do the smallest Pipecat operation, write the outcome.

Level-triggered: the message only names the agent. Errors are sorted by what should happen next
(DESIGN §5): transient → retry later with backoff, permanent → ERROR_SYNC and a dead letter.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta

from config_sync_service.core.config import Settings
from config_sync_service.core.logging import get_logger, scrub
from config_sync_service.db import crud
from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus, utcnow
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from config_sync_service.pipecat_client.errors import PipecatApiError, PipecatNotFoundError
from config_sync_service.pipecat_client.models import AgentStatus
from config_sync_service.processing.backoff import RetryBudget, backoff_delay
from config_sync_service.processing.operations import Operations, Target
from config_sync_service.processing.stats import Stats
from config_sync_service.schemas import agent_config
from config_sync_service.schemas.agent_config import InvalidConfigurationError
from config_sync_service.schemas.messages import ChangeMessage

log = get_logger("config_sync.processor")
RETRY_SLACK = timedelta(seconds=1)
MAX_PASSES = 5  # re-reads while the agent keeps changing under us, before handing it back to the queue


class Action(enum.StrEnum):
    NOOP = "noop"
    PROVISION = "provision"
    UPDATE = "update"
    MARK_SYNCED = "mark_synced"
    POLL = "poll"
    DEPROVISION = "deprovision"


@dataclass(frozen=True, slots=True)
class Hint:
    """What the message that queued an agent said (for logs and dead letters); `force` replays errors.

    A replay (`config-sync dlq replay`) sets `force`, the `replay_count` its dead letter gets if the agent fails
    again, and, when it came over the channel, a `replay_id` that only one process may spend.
    """

    message: ChangeMessage | None = None
    raw: bytes | None = None
    force: bool = False
    replay_count: int = 0
    replay_id: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    outcome: str
    requeue_after: float | None = None


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


class Processor:
    def __init__(
        self,
        *,
        settings: Settings,
        sessions: SessionFactory,
        operations: Operations,
        dead_letters: DeadLetterQueue,
        budget: RetryBudget,
        stats: Stats,
        owner: str,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.ops = operations
        self.dlq = dead_letters
        self.budget = budget
        self.stats = stats
        self.owner = owner
        shared = {k: v.get_secret_value() for k, v in settings.agent_secrets.items()}
        self.shared_secrets = shared
        self.shared_digest = agent_config.digest(shared)

    async def process(self, agent_id: uuid.UUID, hint: Hint | None = None) -> Result:
        hint = hint or Hint()
        async with transaction(self.sessions) as s:
            claimed = await crud.claim_agent(s, agent_id=agent_id, owner=self.owner, lease_s=self.settings.lease_s)
            exists = claimed or await crud.get_agent_details(s, agent_id=agent_id) is not None
        if not exists:
            await self._dead_letter_unknown(agent_id, hint)
            return Result("unknown_agent")
        if not claimed:
            self.stats.count("claimed_elsewhere")
            return Result("claimed_elsewhere")
        if hint.force and hint.replay_id is not None and not await self.dlq.claim_replay(hint.replay_id, self.owner):
            hint = replace(hint, force=False)  # every worker got the replay; another one already ran it
        result = Result("noop")
        for _ in range(MAX_PASSES):
            async with self.sessions() as s:
                agent = await crud.get_agent_details(s, agent_id=agent_id)
                config = await crud.get_active_configuration(s, agent_id=agent_id)
            assert agent is not None  # agents are never deleted while claimed by us (backend sets DELETED)
            plan = plan_for(agent, config, shared_digest=self.shared_digest, force=hint.force)
            result = await self._run(agent, config, plan, hint)
            hint = replace(hint, force=False)  # `force` is spent on the first pass
            async with transaction(self.sessions) as s:
                released = await crud.release_claim(
                    s,
                    agent_id=agent_id,
                    owner=self.owner,
                    seen_version=config.version if config else None,
                    seen_desired_state=agent.desired_state,
                )
            if released:
                return result
            self.stats.count("changed_while_running")
        return Result(result.outcome, requeue_after=0.0)

    async def _run(self, agent: Agent, config: AgentConfiguration | None, plan: Plan, hint: Hint) -> Result:
        change = hint.message.change_type.value if hint.message else None
        bound = log.bind(agent_id=str(agent.id), version=plan.version, change_type=change, action=plan.action.value)
        if plan.action is Action.NOOP:
            self.stats.count("noop")
            bound.debug("sync.noop", status=agent.sync_status.value)
            return Result("noop")
        started = time.monotonic()
        polling = plan.action is Action.POLL  # every few seconds while DEPLOYING: debug until it ends
        (bound.debug if polling else bound.info)("sync.started", status=agent.sync_status.value, force=hint.force)
        try:
            result = await self._execute(agent, config, plan)
        except (PipecatApiError, InvalidConfigurationError) as exc:
            return await self._failed(agent, plan, exc, hint, started)
        self.stats.count(result.outcome)
        done = bound.debug if polling and result.outcome == "deploying" else bound.info
        done("sync.succeeded", outcome=result.outcome, duration_s=round(time.monotonic() - started, 3))
        return result

    def _target(self, agent: Agent, config: AgentConfiguration) -> Target:
        return Target(
            name=agent.pipecat_agent_name,
            set_name=agent_config.secret_set_name(agent.pipecat_agent_name),
            version=config.version,
            deployment=agent_config.parse_deployment(config.deployment),
            secret_values=agent_config.secret_set_values(
                agent_id=str(agent.id),
                version=config.version,
                llm_context=config.llm_context,
                shared=self.shared_secrets,
                own=config.secrets,
            ),
            llm_context=dict(config.llm_context),
            default_image=self.settings.agent_image,
            default_region=self.settings.agent_region,
        )

    async def _execute(self, agent: Agent, config: AgentConfiguration | None, plan: Plan) -> Result:
        await self.budget.wait_until_clear()
        if plan.action is Action.DEPROVISION:
            return await self._deprovision(agent, plan)
        assert config is not None
        if plan.action is Action.POLL:
            return await self._poll(agent, config, plan)
        if plan.action is Action.MARK_SYNCED:
            await self._write(agent, plan, SyncStatus.SYNCED, synced=True)
            return Result("applied")
        target = self._target(agent, config)  # raises InvalidConfigurationError before any call
        await self._write(agent, plan, SyncStatus.SYNCING, error_message=agent.last_error_message)
        if plan.action is Action.PROVISION:
            status = await self.ops.provision(target)
        else:
            status = await self.ops.update(target, push_context=plan.push_context)
        await self._write(
            agent,
            plan,
            SyncStatus.DEPLOYING,
            pipecat_cloud_instance_id=status.desired_deployment_id or agent.pipecat_agent_name,
            applied_deployment_hash=plan.deployment_hash,
            applied_context_hash=plan.context_hash,
            deploying_since=utcnow(),
        )
        return Result("deploying", requeue_after=self.settings.deploy_poll_interval_s)

    async def _poll(self, agent: Agent, config: AgentConfiguration, plan: Plan) -> Result:
        try:
            status = await self.ops.status(agent.pipecat_agent_name)
        except PipecatNotFoundError:
            await self._write(agent, plan, SyncStatus.PENDING, pipecat_cloud_instance_id=None)
            return Result("vanished", requeue_after=0.0)
        if status.has_failed:
            raise _deployment_failed(status)
        if status.is_deployed:
            await self._write(
                agent,
                plan,
                SyncStatus.SYNCED,
                synced=True,
                error_message=None,
                pipecat_cloud_instance_id=status.desired_deployment_id,
            )
            return Result("applied")
        since = agent.deploying_since or utcnow()
        if utcnow() - since > timedelta(seconds=self.settings.deploy_timeout_s):
            raise InvalidConfigurationError(
                f"deployment {status.desired_deployment_id} not ready after {self.settings.deploy_timeout_s:.0f} s "
                f"(phase {status.revision_phase})",
                reason="deployment_timeout",
            )
        return Result("deploying", requeue_after=self.settings.deploy_poll_interval_s)

    async def _deprovision(self, agent: Agent, plan: Plan) -> Result:
        await self._write(agent, plan, SyncStatus.PENDING_DELETE)
        set_name = agent_config.secret_set_name(agent.pipecat_agent_name)
        stopped = await self.ops.deprovision(name=agent.pipecat_agent_name, set_name=set_name)
        await self._write(
            agent,
            plan,
            SyncStatus.DELETED,
            error_message=None,
            pipecat_cloud_instance_id=None,
            applied_deployment_hash=None,
            applied_context_hash=None,
        )
        log.info("deprovision.sessions_stopped", agent_id=str(agent.id), sessions=stopped)
        return Result("deleted")

    async def _write(self, agent: Agent, plan: Plan, status: SyncStatus, **fields: object) -> bool:
        defaults: dict[str, object] = {"next_retry_at": None}
        if status in (SyncStatus.SYNCED, SyncStatus.DELETED, SyncStatus.DEPLOYING):
            defaults |= {"attempts": 0, "error_class": None}
        async with transaction(self.sessions) as s:
            return await crud.update_agent_sync_status(
                s,
                agent_id=agent.id,
                version=plan.version,
                status=status,
                **(defaults | fields),  # type: ignore[arg-type]
            )

    async def _failed(self, agent: Agent, plan: Plan, exc: Exception, hint: Hint, started: float) -> Result:
        error_class = type(exc).__name__
        message = scrub(str(exc))[:2000]
        attempts = agent.attempts + 1
        transient = isinstance(exc, PipecatApiError) and exc.transient
        retry_after = exc.retry_after if isinstance(exc, PipecatApiError) else None
        if retry_after:
            self.budget.pause(retry_after)
        failed_status = SyncStatus.ERROR_DEPROVISIONING if plan.action is Action.DEPROVISION else SyncStatus.ERROR_SYNC
        self.stats.error(agent_id=str(agent.id), error_class=error_class, message=message)
        exhausted = transient and attempts >= self.settings.retry_max_attempts
        if plan.action is Action.POLL and transient:
            # the deployment itself is fine as far as we know: keep DEPLOYING and ask again later
            self.stats.count("retries")
            poll_delay = backoff_delay(
                1,
                base_s=self.settings.deploy_poll_interval_s,
                cap_s=self.settings.retry_max_delay_s,
                retry_after_s=retry_after,
            )
            return Result("retry", requeue_after=poll_delay)
        delay: float | None = None
        if transient:
            delay = backoff_delay(
                attempts,
                base_s=self.settings.retry_base_delay_s,
                cap_s=self.settings.retry_max_delay_s,
                retry_after_s=retry_after,
            )
            delay = max(delay, self.budget.reserve())
            self.stats.count("retries")
        # what runs on Pipecat after a failure is uncertain: forget the applied hashes, so a retry is a full update
        await self._write(
            agent,
            plan,
            failed_status,
            error_message=message,
            error_class=error_class,
            attempts=attempts,
            next_retry_at=utcnow() + timedelta(seconds=delay) if delay is not None else None,
            applied_deployment_hash=None,
            applied_context_hash=None,
        )
        log.warning(
            "sync.failed",
            agent_id=str(agent.id),
            version=plan.version,
            change_type=hint.message.change_type.value if hint.message else None,
            action=plan.action.value,
            duration_s=round(time.monotonic() - started, 3),
            error_class=error_class,
            error=message,
            attempts=attempts,
            transient=transient,
            retry_in_s=None if delay is None else round(delay, 2),
        )
        if not transient or attempts == self.settings.retry_max_attempts:
            reason = "retries_exhausted" if exhausted else _permanent_reason(exc)
            await self._dead_letter(agent, plan, hint, reason, error_class, message, attempts)
        self.stats.count("failed")
        return Result("retry" if transient else "failed", requeue_after=delay)

    async def _dead_letter(
        self, agent: Agent, plan: Plan, hint: Hint, reason: str, error_class: str, message: str, attempts: int
    ) -> None:
        entry = DeadLetterEntry.from_raw(
            hint.raw,
            reason=reason,
            error_class=error_class,
            error_message=message,
            agent_id=str(agent.id),
            version=plan.version,
            change_type=hint.message.change_type.value if hint.message else None,
            attempts=attempts,
            replay_count=hint.replay_count,
        )
        await self._push(entry)

    async def _push(self, entry: DeadLetterEntry) -> None:
        try:
            await self.dlq.push(entry)
        except Exception as exc:  # Redis down: the failure is in Postgres and the log; the entry is what is lost
            log.error("dlq.push_failed", agent_id=entry.agent_id, reason=entry.reason, error=type(exc).__name__)
            return
        self.stats.count("dead_lettered")

    async def _dead_letter_unknown(self, agent_id: uuid.UUID, hint: Hint) -> None:
        msg = hint.message
        entry = DeadLetterEntry.from_raw(
            hint.raw,
            reason="unknown_agent",
            error_class="UnknownAgent",
            error_message=f"no agent with id {agent_id}",
            agent_id=str(agent_id),
            version=msg.version if msg else None,
            change_type=msg.change_type.value if msg else None,
            replay_count=hint.replay_count,
        )
        await self._push(entry)
        log.warning(
            "message.rejected",
            reason="unknown_agent",
            agent_id=str(agent_id),
            version=entry.version,
            change_type=entry.change_type,
        )


def _deployment_failed(status: AgentStatus) -> InvalidConfigurationError:
    detail = "; ".join(status.errors) or f"revision phase {status.revision_phase}"
    return InvalidConfigurationError(
        f"deployment {status.desired_deployment_id} failed: {detail}", reason="deployment_failed"
    )


def _permanent_reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, InvalidConfigurationError) else "permanent_error"
