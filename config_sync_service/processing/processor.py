"""Process one agent: claim it, read what Postgres says, do the smallest Pipecat operation, write the outcome.

Level-triggered: the message only names the agent. A sync is two transactions around the Pipecat calls, and no
connection is held while they run: the first claims the agent, reads it, its active configuration and its drift,
plans and marks the row (`SYNCING`, `PENDING_DELETE`); the second writes the outcome and gives the claim back,
atomically with a check for a newer version; if there is one, the same transaction reads it and begins the next
pass. A pass that needs no Pipecat call (nothing to do, or only the row to mark) ends in the transaction that
planned it. The calls themselves are execute.py's.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.core.fencing import Fence, FencedError
from config_sync_service.core.metrics import Event, Outcome
from config_sync_service.db import claims, crud, history, observed, session_versions
from config_sync_service.db.models import DesiredState, SyncStatus, utcnow
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.mq.dead_letter import DeadLetterQueue
from config_sync_service.processing import dead_letters
from config_sync_service.processing.config import ProcessorConfig
from config_sync_service.processing.execute import Executor
from config_sync_service.processing.hints import Hint
from config_sync_service.processing.history import entry_for
from config_sync_service.processing.lease import lease_kept
from config_sync_service.processing.notify import Notifier
from config_sync_service.processing.operations import Operations, Target
from config_sync_service.processing.passes import Pass, Result, Write
from config_sync_service.processing.plan import Action, Plan, plan_for
from config_sync_service.processing.retry_budget import RetryBudget
from config_sync_service.processing.stats import Stats
from config_sync_service.schemas import agent_config
from config_sync_service.schemas.agent_config import InvalidConfigurationError

MAX_PASSES = 5  # re-reads while the agent keeps changing under us, before handing it back to the queue
Turn = tuple[Result, Pass | None]  # what a transaction ended with, and the pass it began (to run against Pipecat)


class Processor:
    def __init__(
        self,
        *,
        config: ProcessorConfig,
        sessions: SessionFactory,
        operations: Operations,
        dead_letters: DeadLetterQueue,
        budget: RetryBudget,
        stats: Stats,
        owner: str,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.notifier = notifier
        self.sessions = sessions
        self.dlq = dead_letters
        self.stats = stats
        self.owner = owner
        self.executor = Executor(operations=operations, config=config, budget=budget, stats=stats)
        self.shared_digest = config.shared_digest

    async def process(self, agent_id: uuid.UUID, hint: Hint) -> Result:
        """Claim the agent and run passes until Pipecat matches Postgres; the result of the last one."""
        fence = Fence(self.config.lease_s)  # the lease runs from the claim, and this is before it
        async with transaction(self.sessions) as s:
            claim = await claims.claim_agent(s, agent_id=agent_id, owner=self.owner, lease_s=self.config.lease_s)
            if claim.snapshot is not None:
                hint = await self._spend_replay(hint)
                turn = await self._advance(s, claim.snapshot, hint, number=1, result=Result(Outcome.NOOP))
        if not claim.present:  # every worker got the message: one of them writes the dead letter
            await dead_letters.push(self.dlq, self.stats, dead_letters.unknown_agent(agent_id, hint), once=hint.raw)
            return Result(Outcome.UNKNOWN_AGENT)
        if claim.snapshot is None:
            self.stats.count(Outcome.CLAIMED_ELSEWHERE)
            return Result(Outcome.CLAIMED_ELSEWHERE)
        return await self._run_passes(turn, hint, fence)

    async def record_crash(self, agent_id: uuid.UUID, hint: Hint, exc: Exception, started: float) -> Result | None:
        """A pass raised what nobody expected (a bug): record it as a failed attempt of the agent, as
        failures.decide says (bounded: `internal_error` once the attempts are spent). None: nothing to record here
        (no such agent, or another live process holds it and records its own outcome)."""
        async with transaction(self.sessions) as s:
            claim = await claims.claim_agent(s, agent_id=agent_id, owner=self.owner, lease_s=self.config.lease_s)
            if claim.snapshot is None:
                return None
            current = _crashed_pass(claim.snapshot)
            result, snapshot = await self._end(s, current, self.executor.failed(current, exc, hint, started))
        if result.dead_letter is not None:
            await dead_letters.push(self.dlq, self.stats, result.dead_letter)
            if self.notifier is not None:
                self.notifier.dead_letters_changed()
        return result if snapshot is None else replace(result, requeue_after=0.0)  # changed meanwhile: claim kept

    async def _spend_replay(self, hint: Hint) -> Hint:
        """Only the operator's tooling may force a re-run: it registers a replay id first. Every worker got the
        request; the first to spend the id forces the run. No id, or one not registered or spent: a plain hint."""
        if hint.force and (hint.replay_id is None or not await self.dlq.spend_replay(hint.replay_id)):
            return hint.spent()
        return hint

    async def _run_passes(self, turn: Turn, hint: Hint, fence: Fence) -> Result:
        """Each begun pass's Pipecat calls (the claim kept alive and checked meanwhile: `fence`), then the transaction
        that ends it. A pass whose claim was lost ends fenced: no success claimed, an observation asked for."""
        result, current = turn
        while current is not None:
            agent_id = current.agent.id
            started = time.monotonic()
            try:
                async with lease_kept(self.sessions, agent_id=agent_id, owner=self.owner, fence=fence):
                    result = await self.executor.run(current, hint)
            except FencedError:  # the keeper found the claim taken over while a call was under way
                result = self.executor.fenced(current, hint, started)
            hint = hint.spent()  # `force` is for the first pass only
            async with transaction(self.sessions) as s:
                ended, snapshot = await self._end(s, current, result)
                result, current = await self._advance(s, snapshot, hint, number=current.number + 1, result=ended)
            if ended.dead_letter is not None:
                await dead_letters.push(self.dlq, self.stats, ended.dead_letter)
                if self.notifier is not None:
                    self.notifier.dead_letters_changed()
        return result

    async def _advance(
        self, s: AsyncSession, snapshot: claims.Snapshot | None, hint: Hint, *, number: int, result: Result
    ) -> Turn:
        """From a fresh read, in this transaction: begin the next pass that needs Pipecat and return it; a pass
        that needs no call ends right here (its write, the claim given back or the agent read again)."""
        while snapshot is not None:
            current = self._plan(snapshot, number=number, force=hint.force and number == 1)
            if current.needs_executor:
                await self._begin(s, current)
                return result, current
            result, snapshot = await self._end(s, current, self._without_calls(current, hint))
            number += 1
        return result, None

    async def _end(self, s: AsyncSession, current: Pass, result: Result) -> tuple[Result, claims.Snapshot | None]:
        """Write the pass's outcome and give the claim back; if the agent changed meanwhile, keep the claim and
        read the agent again (the next pass's snapshot), unless it changed too often."""
        write = result.write
        if result.sessions is not None:  # what the bots answered is a fact whoever holds the claim now
            report = result.sessions
            await session_versions.record_session_versions(
                s, agent_id=current.agent.id, active_session_ids=report.active, acks=report.acks
            )
        if result.observe:  # verify after write: what Pipecat runs is in doubt, so the observer looks at it
            await observed.request_observation(s, agent_id=current.agent.id)
        released = await claims.release_claim(
            s,
            agent_id=current.agent.id,
            owner=self.owner,
            seen_version=current.config.version if current.config else None,
            seen_desired_state=current.agent.desired_state,
            write=None if write is None else crud.SyncWrite(write.version, write.values()),
        )
        # the history says what was written: a pass whose claim was taken over wrote nothing, and was fenced
        await self._record(s, current, result if released is not None else Result(Outcome.FENCED))
        if released is not False:
            return result, None
        self.stats.count(Event.CHANGED_WHILE_RUNNING)
        if current.number >= MAX_PASSES:
            return replace(result, requeue_after=0.0), None  # the claim is kept; the queue hands the agent back
        snapshot = await claims.read_agent(s, agent_id=current.agent.id)
        assert snapshot is not None  # agents are never deleted while claimed by us (the backend sets DELETED)
        return result, snapshot

    async def _record(self, s: AsyncSession, current: Pass, result: Result) -> None:
        """The pass's history row, in the transaction that ends it; the notifier only hears of it (never waits)."""
        entry = entry_for(current, result, process=self.owner)
        if entry is None:
            return
        await history.record(s, entry)
        if self.notifier is not None:
            self.notifier.after_pass(entry, name=current.agent.name)

    def _plan(self, snapshot: claims.Snapshot, *, number: int, force: bool) -> Pass:
        """The plan, and for a plan that applies the configuration, the configuration validated (DESIGN §14):
        one the bot would refuse never reaches Pipecat."""
        agent, config = snapshot.agent, snapshot.config
        plan = plan_for(
            agent,
            config,
            snapshot.drift,
            shared_digest=self.shared_digest,
            force=force,
            now=utcnow(),
            redeploy_min_interval_s=self.config.redeploy_min_interval_s,
        )
        if plan.action not in (Action.PROVISION, Action.UPDATE, Action.MARK_SYNCED, Action.PUSH):
            return Pass(agent, config, plan, number)
        assert config is not None
        try:
            document = agent_config.parse_parts(
                deployment=config.deployment, llm_context=config.llm_context, secrets=config.secrets
            )
        except InvalidConfigurationError as exc:  # nothing to call with: the failure is written after the pass
            return Pass(agent, config, plan, number, invalid=exc)
        if plan.action is Action.MARK_SYNCED:
            return Pass(agent, config, plan, number)
        return Pass(agent, config, plan, number, target=Target.of(agent, config, document, self.config))

    def _without_calls(self, current: Pass, hint: Hint) -> Result:
        if current.plan.action is Action.NOOP:
            self.stats.count(Outcome.NOOP)
            current.log(hint).debug("sync.noop", status=current.agent.sync_status.value)
            return Result(Outcome.NOOP)
        if current.plan.action is Action.WAIT:  # the queue brings the agent back for its trailing redeploy
            self.stats.count(Outcome.DEFERRED)
            current.log(hint).debug("sync.deferred", redeploy_in_s=current.plan.redeploy_in_s)
            return Result(Outcome.DEFERRED, current.plan.redeploy_in_s)
        self.stats.count(Outcome.APPLIED)
        current.log(hint).info("sync.succeeded", outcome=Outcome.APPLIED.value, duration_s=0.0)
        return Result(Outcome.APPLIED, write=Write.of(current.plan, SyncStatus.SYNCED, synced=True))

    async def _begin(self, s: AsyncSession, current: Pass) -> None:
        """Mark the row before the calls: the dashboard sees the work, and a crash leaves a trace the sweep finds."""
        agent, plan, attempts = current.agent, current.plan, current.attempts_so_far  # 0 again for a new version
        if plan.action is Action.DEPROVISION:
            await self._write(s, current, Write.of(plan, SyncStatus.PENDING_DELETE, attempts=attempts))
        elif current.target is not None and plan.action is not Action.PUSH:  # a push leaves the row as it is
            syncing = Write.of(plan, SyncStatus.SYNCING, error_message=agent.last_error_message, attempts=attempts)
            await self._write(s, current, syncing)

    async def _write(self, s: AsyncSession, current: Pass, write: Write) -> bool:
        """Write, if the claim is still ours: a process whose lease lapsed mid-pass leaves the row to the one
        that took the agent over (which runs the operation again)."""
        return await crud.update_agent_sync_status(
            s, agent_id=current.agent.id, version=write.version, owner=self.owner, **write.fields_to_write()
        )


def _crashed_pass(snapshot: claims.Snapshot) -> Pass:
    """The pass a crash is recorded against: the agent's current version and what it wants (the plan itself may be
    what raised, so it is not asked)."""
    agent, config = snapshot.agent, snapshot.config
    deleting = agent.desired_state is DesiredState.DELETED
    version = config.version if config is not None else (agent.synced_version or 0)
    return Pass(agent, config, Plan(Action.DEPROVISION if deleting else Action.UPDATE, version), number=1)
