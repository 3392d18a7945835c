"""A pass's Pipecat calls (DESIGN §4), with no database connection held, and the result that will end it.

The operation is the plan's; what a failure leads to is failures.decide's.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

from config_sync_service.core import fencing, redaction
from config_sync_service.core.errors import ClassifiedError, ErrorKind
from config_sync_service.core.fencing import FencedError
from config_sync_service.core.metrics import Outcome
from config_sync_service.db.models import SyncStatus, utcnow
from config_sync_service.pipecat_client.errors import PipecatNotFoundError, PipecatTransportError
from config_sync_service.processing import dead_letters, failures
from config_sync_service.processing.config import ProcessorConfig
from config_sync_service.processing.hints import Hint
from config_sync_service.processing.operations import Operations
from config_sync_service.processing.passes import Pass, Result, Write
from config_sync_service.processing.plan import Action
from config_sync_service.processing.retry_budget import RetryBudget
from config_sync_service.processing.stats import Stats
from config_sync_service.schemas import agent_config


class Executor:
    def __init__(self, *, operations: Operations, config: ProcessorConfig, budget: RetryBudget, stats: Stats) -> None:
        self.ops = operations
        self.config = config
        self.budget = budget
        self.stats = stats

    async def run(self, current: Pass, hint: Hint) -> Result:
        """Do the pass's operation on Pipecat; a failure Pipecat or the configuration explains becomes a result
        (anything else is the engine's to back off from). The secret set's values are redacted from all it reports."""
        with redaction.scope(current.secret_values):
            return await self._run(current, hint)

    async def _run(self, current: Pass, hint: Hint) -> Result:
        log, started = current.log(hint), time.monotonic()
        polling = current.plan.action is Action.POLL
        log.debug("sync.started", status=current.agent.sync_status.value, force=hint.force)
        try:
            if current.invalid is not None:
                raise current.invalid
            result = await self._operation(current)
        except FencedError:
            return self.fenced(current, hint, started)
        except ClassifiedError as exc:  # anything else is a bug: it leaves the pass (Processor.record_crash)
            return self.failed(current, exc, hint, started)
        try:
            fencing.check_claim()  # a call under way when the claim lapsed: what Pipecat runs is in doubt
        except FencedError:  # what the live sessions answered is a fact all the same
            return replace(self.fenced(current, hint, started), sessions=result.sessions)
        self.stats.count(result.outcome)
        # a line when Pipecat accepted the change (with the message's change type) and one when it is done; polls
        # that find it still deploying and a deferred redeploy are debug
        quiet = result.outcome is Outcome.DEFERRED or (polling and result.outcome is Outcome.DEPLOYING)
        done = log.debug if quiet else log.info
        done("sync.succeeded", outcome=result.outcome.value, duration_s=round(time.monotonic() - started, 3))
        return result

    async def _operation(self, current: Pass) -> Result:
        action = current.plan.action
        if action is Action.DEPROVISION:
            return await self._deprovision(current)
        if action is Action.POLL:
            return await self._poll(current)
        if action is Action.PUSH:
            return await self._push(current)
        return await self._deploy(current)

    async def _push(self, current: Pass) -> Result:
        """The context into live sessions now; the redeploy is owed (no applied deployment hash) and the row keeps
        its status and target (a deployment in flight is still followed: the queue polls it meanwhile)."""
        agent, plan, target = current.agent, current.plan, current.target
        assert target is not None and plan.redeploy_in_s is not None
        sessions = await self.ops.push_context(target)
        version = agent.target_version or agent.synced_version or plan.version
        owed: dict[str, object] = {"applied_context_hash": plan.context_hash, "applied_deployment_hash": None}
        pushed = Write(agent.sync_status, version, fields=owed)
        again = plan.redeploy_in_s
        if agent.sync_status is SyncStatus.DEPLOYING:
            again = min(again, self.config.deploy_poll_interval_s)
        return Result(Outcome.DEFERRED, again, pushed, sessions=sessions)

    async def _deploy(self, current: Pass) -> Result:
        """PROVISION, or UPDATE (FULL_SYNC / CONTEXT_UPDATE): Pipecat accepts it, and the agent is DEPLOYING."""
        plan, target = current.plan, current.target
        assert target is not None
        sessions = None
        if plan.action is Action.PROVISION:
            status = await self.ops.provision(target)
        else:
            status, sessions = await self.ops.update(target, push_context=plan.push_context)
        deploying = Write.of(
            plan,
            SyncStatus.DEPLOYING,
            pipecat_cloud_instance_id=status.desired_deployment_id or current.agent.pipecat_agent_name,
            applied_deployment_hash=plan.deployment_hash,
            applied_context_hash=plan.context_hash,
            deploying_since=utcnow(),
            created_deployment_id=status.desired_deployment_id,  # what config-sync made: observation compares it
        )
        return Result(Outcome.DEPLOYING, self.config.deploy_poll_interval_s, deploying, sessions=sessions)

    async def _poll(self, current: Pass) -> Result:
        agent, plan = current.agent, current.plan
        try:
            status = await self.ops.status(agent.pipecat_agent_name)
        except PipecatNotFoundError:
            return Result(Outcome.VANISHED, 0.0, Write.of(plan, SyncStatus.PENDING, pipecat_cloud_instance_id=None))
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
            # someone deployed after us (by hand, or a stale process): ours is not what runs; the observer decides
            theirs = agent.created_deployment_id not in (None, status.desired_deployment_id)
            # a newer version waited for this deployment (the redeploy throttle): its trailing redeploy is due now
            owed = current.config is not None and current.config.version > plan.version
            return Result(Outcome.APPLIED, 0.0 if owed else None, synced, observe=theirs)
        if utcnow() - (agent.deploying_since or utcnow()) > timedelta(seconds=self.config.deploy_timeout_s):
            raise failures.deployment_timed_out(status, self.config.deploy_timeout_s)
        return Result(Outcome.DEPLOYING, self.config.deploy_poll_interval_s)

    async def _deprovision(self, current: Pass) -> Result:
        agent = current.agent
        set_name = agent_config.secret_set_name(agent.pipecat_agent_name)
        stopped = await self.ops.deprovision(name=agent.pipecat_agent_name, set_name=set_name)
        current.log(Hint()).info("deprovision.sessions_stopped", sessions=stopped)
        deleted = Write.of(
            current.plan,
            SyncStatus.DELETED,
            error_message=None,
            pipecat_cloud_instance_id=None,
            applied_deployment_hash=None,
            applied_context_hash=None,
        )
        return Result(Outcome.DELETED, write=deleted)

    def fenced(self, current: Pass, hint: Hint, started: float) -> Result:
        """The claim was lost during the pass: nothing more was sent, nothing is written as done, and the agent is
        to be observed, so that whoever holds it now repairs what a call of ours changed after it took over."""
        self.stats.count(Outcome.FENCED)
        current.log(hint).warning("sync.fenced", duration_s=round(time.monotonic() - started, 3))
        return Result(Outcome.FENCED, observe=True)

    # --- failures ----------------------------------------------------------------------------------------------
    def failed(self, current: Pass, exc: Exception, hint: Hint, started: float) -> Result:
        """The result of a pass that failed with `exc`, as failures.decide says: the write, a retry, a dead letter."""
        failure = self._decide(current, exc)
        self._count(current, failure)
        if failure.status is None:  # a poll to try again: the row stays DEPLOYING
            return Result(Outcome.RETRY, failure.retry_in_s)
        self._log(current, hint, failure, started, exc)
        return self._failure_result(current, hint, failure, exc)

    def _decide(self, current: Pass, exc: Exception) -> failures.Failure:
        action = current.plan.action
        return failures.decide(
            exc,
            attempts_so_far=current.attempts_so_far,
            polling=action is Action.POLL,
            deprovisioning=action is Action.DEPROVISION,
            retry=self.config.retry,
            poll_interval_s=self.config.deploy_poll_interval_s,
            budget=self.budget,
        )

    def _count(self, current: Pass, failure: failures.Failure) -> None:
        self.stats.error(agent_id=str(current.agent.id), error_class=failure.error_class, message=failure.message)
        if failure.retried:
            self.stats.count(Outcome.RETRY)
        if failure.status is not None:
            self.stats.count(Outcome.FAILED)

    def _log(self, current: Pass, hint: Hint, failure: failures.Failure, started: float, exc: Exception) -> None:
        """One line per failure; a bug also gets its traceback, once per streak (not at every retry)."""
        bug = failure.kind is ErrorKind.BUG
        first = current.attempts_so_far == 0 or current.agent.last_error_class != failure.error_class
        (current.log(hint).error if bug else current.log(hint).warning)(
            "sync.failed",
            duration_s=round(time.monotonic() - started, 3),
            error_class=failure.error_class,
            error=failure.message,
            attempts=failure.attempts,
            kind=failure.kind.value,
            transient=failure.transient,
            retry_in_s=None if failure.retry_in_s is None else round(failure.retry_in_s, 2),
            dead_letter=failure.dead_letter_reason,
            exc_info=exc if bug and first else None,
        )

    def _failure_result(self, current: Pass, hint: Hint, failure: failures.Failure, exc: Exception) -> Result:
        assert failure.status is not None
        plan = current.plan
        entry = None
        if failure.dead_letter_reason is not None:
            entry = dead_letters.failed(current.agent.id, plan.version, hint, failure)
        write = Write(failure.status, plan.version, fields=failure.write_fields)
        outcome = Outcome.RETRY if failure.retried else Outcome.FAILED
        return Result(outcome, failure.retry_in_s, write, entry, observe=_in_doubt(exc))


def _in_doubt(exc: Exception) -> bool:
    """A mutating request that got no answer (a timeout after it was sent) may have changed Pipecat all the same."""
    return isinstance(exc, PipecatTransportError) and exc.may_have_landed
