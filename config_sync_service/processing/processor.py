"""Process one agent: claim it, read what Postgres says, do the smallest Pipecat operation, write the outcome.

Level-triggered: the message only names the agent. A sync is two transactions around the Pipecat calls, and no
connection is held while they run: the first claims the agent, reads it and its active configuration, plans and
marks the row (`SYNCING`, `PENDING_DELETE`); the second writes the outcome and gives the claim back, atomically
with a check for a newer version; if there is one, the same transaction reads it and begins the next pass.
A pass that needs no Pipecat call (nothing to do, or only the row to mark) ends in the transaction that planned it.
What a failure leads to is decided in failures.py.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from structlog.stdlib import BoundLogger

from config_sync_service.core.config import Settings
from config_sync_service.core.errors import ClassifiedError
from config_sync_service.core.logging import get_logger
from config_sync_service.core.metrics import Event, Outcome
from config_sync_service.db import claims, crud
from config_sync_service.db.models import Agent, AgentConfiguration, SyncStatus, utcnow
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from config_sync_service.pipecat_client.errors import PipecatNotFoundError
from config_sync_service.processing import failures
from config_sync_service.processing.hints import Hint
from config_sync_service.processing.lease import lease_kept
from config_sync_service.processing.operations import Operations, Target
from config_sync_service.processing.plan import Action, Plan, plan_for
from config_sync_service.processing.retry_budget import RetryBudget
from config_sync_service.processing.stats import Stats
from config_sync_service.schemas import agent_config
from config_sync_service.schemas.agent_config import InvalidConfigurationError

log = get_logger("config_sync.processor")
MAX_PASSES = 5  # re-reads while the agent keeps changing under us, before handing it back to the queue


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    requeue_after: float | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """One write of an agent's sync columns at `version` (a compare-and-set: crud.update_agent_sync_status)."""

    status: SyncStatus
    version: int
    synced: bool = False
    fields: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, plan: Plan, status: SyncStatus, *, synced: bool = False, **fields: object) -> Write:
        defaults: dict[str, object] = {"next_retry_at": None}
        if status in (SyncStatus.SYNCED, SyncStatus.DELETED, SyncStatus.DEPLOYING):
            defaults |= {"attempts": 0, "error_class": None}
        return cls(status, plan.version, synced, defaults | fields)


@dataclass(slots=True)
class Pass:
    """One look at the agent: what Postgres said, the plan, and what the Pipecat calls need."""

    agent: Agent
    config: AgentConfiguration | None
    plan: Plan
    target: Target | None = None
    invalid: InvalidConfigurationError | None = None  # the configuration cannot be applied as it is


@dataclass(frozen=True, slots=True)
class Step:
    """What a pass's Pipecat calls led to: the result, the write that ends the pass, a dead letter to push."""

    result: Result
    write: Write | None = None
    dead_letter: DeadLetterEntry | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """What a transaction left to do: `next` to run against Pipecat, or nothing (claim released: `result`)."""

    result: Result
    next: Pass | None = None
    passes: int = 0


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
        turn = Turn(Result(Outcome.NOOP))
        async with transaction(self.sessions) as s:
            claim = await claims.claim_agent(s, agent_id=agent_id, owner=self.owner, lease_s=self.settings.lease_s)
            if claim.snapshot is not None:
                if (
                    hint.force
                    and hint.replay_id is not None
                    and not await self.dlq.claim_replay(hint.replay_id, self.owner)
                ):
                    hint = replace(hint, force=False)  # every worker got the replay; another one already ran it
                turn = await self._turn(s, agent_id, hint, claimed=claim.snapshot)
        if not claim.present:
            await self._push(_unknown_agent_entry(agent_id, hint), once=hint.raw)  # every worker got the message
            return Result(Outcome.UNKNOWN_AGENT)
        if claim.snapshot is None:
            self.stats.count(Outcome.CLAIMED_ELSEWHERE)
            return Result(Outcome.CLAIMED_ELSEWHERE)
        while turn.next is not None:
            current = turn.next
            async with lease_kept(self.sessions, agent_id=agent_id, owner=self.owner, lease_s=self.settings.lease_s):
                step = await self._run(current, hint)
            hint = replace(hint, force=False)  # `force` is spent on the first pass
            async with transaction(self.sessions) as s:
                turn = await self._turn(s, agent_id, hint, finishing=current, step=step, passes=turn.passes)
            if step.dead_letter is not None:
                await self._push(step.dead_letter)
        return turn.result

    async def _turn(
        self,
        s: AsyncSession,
        agent_id: uuid.UUID,
        hint: Hint,
        *,
        claimed: claims.Snapshot | None = None,
        finishing: Pass | None = None,
        step: Step | None = None,
        passes: int = 0,
    ) -> Turn:
        """One transaction: end `finishing` (its write, then the claim's release); while the agent changed under
        us, read it again and begin the next pass, ending those that need no Pipecat call right here.
        `claimed`: what the claim read, the first pass's rows."""
        result = step.result if step else Result(Outcome.NOOP)
        while True:
            if finishing is not None:
                if step is not None and step.write is not None:
                    await self._apply(s, finishing.agent.id, step.write)
                released = await claims.release_claim(
                    s,
                    agent_id=agent_id,
                    owner=self.owner,
                    seen_version=finishing.config.version if finishing.config else None,
                    seen_desired_state=finishing.agent.desired_state,
                )
                if released:
                    return Turn(result)
                self.stats.count(Event.CHANGED_WHILE_RUNNING)
                if passes >= MAX_PASSES:
                    return Turn(Result(result.outcome, requeue_after=0.0))  # the claim is kept; the queue hands it back
            passes += 1
            if claimed is None:
                claimed = await claims.read_agent(s, agent_id=agent_id)
                assert claimed is not None  # agents are never deleted while claimed by us (the backend sets DELETED)
            current = self._pass(claimed, force=hint.force and passes == 1)
            claimed = None
            action = current.plan.action
            if action is Action.NOOP or action is Action.MARK_SYNCED:
                finishing, step = current, self._finish_without_calls(current, hint)
                result = step.result
                continue
            await self._begin(s, current)
            return Turn(result, next=current, passes=passes)

    def _pass(self, read: claims.Snapshot, *, force: bool) -> Pass:
        plan = plan_for(read.agent, read.config, read.drift, shared_digest=self.shared_digest, force=force)
        return Pass(read.agent, read.config, plan)

    def _finish_without_calls(self, current: Pass, hint: Hint) -> Step:
        plan = current.plan
        bound = _bind(current, hint)
        if plan.action is Action.NOOP:
            self.stats.count(Outcome.NOOP)
            bound.debug("sync.noop", status=current.agent.sync_status.value)
            return Step(Result(Outcome.NOOP))
        self.stats.count(Outcome.APPLIED)
        bound.info("sync.succeeded", outcome=Outcome.APPLIED.value, duration_s=0.0)
        return Step(Result(Outcome.APPLIED), Write.of(plan, SyncStatus.SYNCED, synced=True))

    async def _begin(self, s: AsyncSession, current: Pass) -> None:
        """Mark the row before the calls: the dashboard sees the work, and a crash leaves a trace the sweep finds."""
        agent, config, plan = current.agent, current.config, current.plan
        if plan.action is Action.DEPROVISION:
            await self._apply(s, agent.id, Write.of(plan, SyncStatus.PENDING_DELETE))
            return
        if plan.action is Action.POLL:
            return
        assert config is not None
        try:
            current.target = self._target(agent, config)
        except InvalidConfigurationError as exc:  # nothing to call with: the failure is written after the pass
            current.invalid = exc
            return
        await self._apply(s, agent.id, Write.of(plan, SyncStatus.SYNCING, error_message=agent.last_error_message))

    async def _apply(self, s: AsyncSession, agent_id: uuid.UUID, write: Write) -> bool:
        """Write, if the claim is still ours: a process whose lease lapsed mid-pass leaves the row to the one
        that took the agent over (which runs the operation again)."""
        return await crud.update_agent_sync_status(
            s,
            agent_id=agent_id,
            version=write.version,
            status=write.status,
            synced=write.synced,
            owner=self.owner,
            **write.fields,  # type: ignore[arg-type]
        )

    async def _run(self, current: Pass, hint: Hint) -> Step:
        """The pass's Pipecat calls (no database connection held), and the write that will end it."""
        bound = _bind(current, hint)
        started = time.monotonic()
        polling = current.plan.action is Action.POLL  # every few seconds while DEPLOYING: debug until it ends
        (bound.debug if polling else bound.info)(
            "sync.started", status=current.agent.sync_status.value, force=hint.force
        )
        try:
            if current.invalid is not None:
                raise current.invalid
            step = await self._execute(current)
        except ClassifiedError as exc:  # the rest is a bug or the database away: the engine backs off
            return self._failed(current, exc, hint, started)
        self.stats.count(step.result.outcome)
        done = bound.debug if polling and step.result.outcome is Outcome.DEPLOYING else bound.info
        done("sync.succeeded", outcome=step.result.outcome, duration_s=round(time.monotonic() - started, 3))
        return step

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

    async def _execute(self, current: Pass) -> Step:
        agent, plan = current.agent, current.plan
        if plan.action is Action.DEPROVISION:
            return await self._deprovision(agent, plan)
        if plan.action is Action.POLL:
            return await self._poll(agent, plan)
        assert current.target is not None
        if plan.action is Action.PROVISION:
            status = await self.ops.provision(current.target)
        else:
            status = await self.ops.update(current.target, push_context=plan.push_context)
        deploying = Write.of(
            plan,
            SyncStatus.DEPLOYING,
            pipecat_cloud_instance_id=status.desired_deployment_id or agent.pipecat_agent_name,
            applied_deployment_hash=plan.deployment_hash,
            applied_context_hash=plan.context_hash,
            deploying_since=utcnow(),
        )
        return Step(Result(Outcome.DEPLOYING, requeue_after=self.settings.deploy_poll_interval_s), deploying)

    async def _poll(self, agent: Agent, plan: Plan) -> Step:
        try:
            status = await self.ops.status(agent.pipecat_agent_name)
        except PipecatNotFoundError:
            return Step(
                Result(Outcome.VANISHED, requeue_after=0.0),
                Write.of(plan, SyncStatus.PENDING, pipecat_cloud_instance_id=None),
            )
        if status.has_failed:
            raise failures.deployment_failed(status)
        if status.is_deployed:
            synced = Write.of(
                plan,
                SyncStatus.SYNCED,
                synced=True,
                error_message=None,
                pipecat_cloud_instance_id=status.desired_deployment_id,
            )
            return Step(Result(Outcome.APPLIED), synced)
        since = agent.deploying_since or utcnow()
        if utcnow() - since > timedelta(seconds=self.settings.deploy_timeout_s):
            raise failures.deployment_timed_out(status, self.settings.deploy_timeout_s)
        return Step(Result(Outcome.DEPLOYING, requeue_after=self.settings.deploy_poll_interval_s))

    async def _deprovision(self, agent: Agent, plan: Plan) -> Step:
        set_name = agent_config.secret_set_name(agent.pipecat_agent_name)
        stopped = await self.ops.deprovision(name=agent.pipecat_agent_name, set_name=set_name)
        log.info("deprovision.sessions_stopped", agent_id=str(agent.id), sessions=stopped)
        deleted = Write.of(
            plan,
            SyncStatus.DELETED,
            error_message=None,
            pipecat_cloud_instance_id=None,
            applied_deployment_hash=None,
            applied_context_hash=None,
        )
        return Step(Result(Outcome.DELETED), deleted)

    def _failed(self, current: Pass, exc: Exception, hint: Hint, started: float) -> Step:
        agent, plan = current.agent, current.plan
        failure = failures.decide(
            exc,
            attempts_so_far=agent.attempts,
            polling=plan.action is Action.POLL,
            deprovisioning=plan.action is Action.DEPROVISION,
            settings=self.settings,
            budget=self.budget,
        )
        self.stats.error(agent_id=str(agent.id), error_class=failure.error_class, message=failure.message)
        if failure.transient:
            self.stats.count(Outcome.RETRY)
        outcome = Outcome.RETRY if failure.transient else Outcome.FAILED
        if failure.status is None:  # a poll to try again: the row stays DEPLOYING
            return Step(Result(outcome, requeue_after=failure.retry_in_s))
        _bind(current, hint).warning(
            "sync.failed",
            duration_s=round(time.monotonic() - started, 3),
            error_class=failure.error_class,
            error=failure.message,
            attempts=failure.attempts,
            transient=failure.transient,
            retry_in_s=None if failure.retry_in_s is None else round(failure.retry_in_s, 2),
        )
        self.stats.count(Outcome.FAILED)
        entry = None
        if failure.dead_letter_reason is not None:
            entry = DeadLetterEntry.from_raw(
                hint.raw,
                reason=failure.dead_letter_reason,
                error_class=failure.error_class,
                error_message=failure.message,
                agent_id=str(agent.id),
                version=plan.version,
                change_type=hint.message.change_type.value if hint.message else None,
                attempts=failure.attempts,
                replay_count=hint.replay_count,
            )
        write = Write(failure.status, plan.version, fields=failure.write_fields)
        return Step(Result(outcome, requeue_after=failure.retry_in_s), write, entry)

    async def _push(self, entry: DeadLetterEntry, *, once: bytes | None = None) -> None:
        try:
            pushed = await self.dlq.push(entry, once=once)
        except Exception as exc:  # Redis down: the failure is in Postgres and the log; the entry is what is lost
            log.error("dlq.push_failed", agent_id=entry.agent_id, reason=entry.reason, error=type(exc).__name__)
            return
        self.stats.count(Outcome.DEAD_LETTERED if pushed else Event.DEAD_LETTER_COPIES_SKIPPED)


def _bind(current: Pass, hint: Hint) -> BoundLogger:
    change = hint.message.change_type.value if hint.message else None
    return log.bind(
        agent_id=str(current.agent.id),
        version=current.plan.version,
        change_type=change,
        action=current.plan.action.value,
    )


def _unknown_agent_entry(agent_id: uuid.UUID, hint: Hint) -> DeadLetterEntry:
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
    log.warning(
        "message.rejected",
        reason="unknown_agent",
        agent_id=str(agent_id),
        version=entry.version,
        change_type=entry.change_type,
    )
    return entry
