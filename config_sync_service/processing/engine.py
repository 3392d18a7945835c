"""The sync engine of one process: intake of payloads, the keyed queue, its workers, the sweeper."""

from __future__ import annotations

import asyncio
import time
import uuid

from config_sync_service.core import metrics, redaction
from config_sync_service.core.backoff import backoff_delay
from config_sync_service.core.errors import ErrorKind, classify
from config_sync_service.core.logging import get_logger
from config_sync_service.core.metrics import Event, Outcome
from config_sync_service.db.session import SessionFactory
from config_sync_service.mq.dead_letter import DeadLetterQueue, writer_id
from config_sync_service.pipecat_client.client import PipecatCloudClient
from config_sync_service.processing import dead_letters
from config_sync_service.processing.config import EngineConfig
from config_sync_service.processing.hints import Hint, PendingHints
from config_sync_service.processing.notify import Notifier
from config_sync_service.processing.operations import Operations
from config_sync_service.processing.passes import Result
from config_sync_service.processing.processor import Processor
from config_sync_service.processing.queue import ShutDownError, WorkQueue
from config_sync_service.processing.retry_budget import RetryBudget
from config_sync_service.processing.stats import Stats
from config_sync_service.processing.sweeper import Sweeper
from config_sync_service.schemas.messages import Rejection, parse_message

log = get_logger("config_sync.engine")
CRASH_BASE_S, CRASH_CAP_S = 0.5, 10.0  # a pass that raised: the database may be back soon


class SyncEngine:
    def __init__(
        self,
        *,
        config: EngineConfig,
        sessions: SessionFactory,
        client: PipecatCloudClient,
        dead_letters: DeadLetterQueue,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.notifier = notifier
        self.dlq = dead_letters
        self.stats = Stats()
        self.queue: WorkQueue[uuid.UUID] = WorkQueue()
        self.hints = PendingHints()
        self.owner = f"{writer_id()}:{uuid.uuid4().hex[:6]}"
        self.processor = Processor(
            config=config.processor,
            sessions=sessions,
            operations=Operations(client, secret_ready_timeout_s=config.secret_set_ready_timeout_s),
            dead_letters=dead_letters,
            budget=RetryBudget(rate_per_s=config.retry_budget_per_s, burst=config.retry_budget_burst),
            stats=self.stats,
            owner=self.owner,
            notifier=notifier,
        )
        self.sweeper = Sweeper(
            sessions=sessions,
            enqueue=self.queue.add,
            interval_s=config.reconcile_interval_s,
            retention=config.history,
            prune_interval_s=config.history_prune_interval_s,
        )
        self._crash_streaks: dict[uuid.UUID, int] = {}  # passes in a row that raised, per agent (for _crashed)
        self._workers: list[asyncio.Task[None]] = []
        self._sweeper_task: asyncio.Task[None] | None = None

    # --- intake --------------------------------------------------------------------------------------------
    async def handle_payload(self, raw: bytes) -> None:
        """Validate one payload from the channel; queue its agent or dead-letter it. Never raises."""
        self.stats.count(Event.RECEIVED)
        parsed = parse_message(raw)
        if isinstance(parsed, Rejection):
            await self._reject(raw, parsed)
            return
        self.submit(parsed.agent_id, await self._replay_checked(Hint.of(parsed, raw)))

    async def _replay_checked(self, hint: Hint) -> Hint:
        """Anyone who can publish can write `replay: true`: it counts only with an id the tooling registered (so a
        forged request cannot even displace a real one waiting in the queue); the processor spends it."""
        if not hint.force or (hint.replay_id is not None and await self.dlq.replay_registered(hint.replay_id)):
            return hint
        log.warning("replay.refused", agent_id=str(hint.message.agent_id) if hint.message else None)
        return Hint(hint.message, hint.raw)

    def submit(self, agent_id: uuid.UUID, hint: Hint) -> None:
        self.hints.add(agent_id, hint)
        self.queue.add(agent_id)

    async def _reject(self, raw: bytes, rejection: Rejection) -> None:
        self.stats.count(Outcome.INVALID)
        entry = dead_letters.rejected(raw, rejection)
        log.warning(
            "message.rejected",
            reason=entry.reason,
            detail=rejection.detail,
            agent_id=entry.agent_id,
            version=entry.version,
            change_type=entry.change_type,
            size=len(raw),
        )
        await dead_letters.push(self.dlq, self.stats, entry, once=raw)  # every worker got this payload: one entry
        if self.notifier is not None:
            self.notifier.dead_letters_changed()

    # --- workers -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"sync-worker-{i}") for i in range(self.config.max_concurrency)
        ]
        self._sweeper_task = asyncio.create_task(self.sweeper.run(), name="sweeper")

    @property
    def alive(self) -> bool:
        running = [t for t in self._workers if not t.done()]
        return bool(running) and self._sweeper_task is not None and not self._sweeper_task.done()

    async def _work(self) -> None:
        while True:
            try:
                agent_id = await self.queue.get()
            except ShutDownError:
                return
            hint = self.hints.take(agent_id)
            started = time.monotonic()
            result: Result | None
            with redaction.scope():  # the agent's secrets, added by its passes, stay hidden in a crash's record
                try:
                    try:
                        result = await self.processor.process(agent_id, hint)
                        self._crash_streaks.pop(agent_id, None)
                    except Exception as exc:  # a bug, or the database away: see _crashed
                        result = await self._crashed(agent_id, hint, exc, started)
                    if result is not None:
                        self._finished(agent_id, hint, result, started)
                finally:
                    self.queue.done(agent_id)

    def _finished(self, agent_id: uuid.UUID, hint: Hint, result: Result, started: float) -> None:
        metrics.observe_sync(result.outcome, time.monotonic() - started)
        self.stats.count(Event.PROCESSED)
        if result.requeue_after is not None:
            self.hints.keep_for_retry(agent_id, hint)
            self.queue.add_after(agent_id, result.requeue_after)

    async def _crashed(self, agent_id: uuid.UUID, hint: Hint, exc: Exception, started: float) -> Result | None:
        """A pass raised. A bug is a failed attempt of the agent, recorded like any other (bounded by the one
        failure decision); when it cannot be recorded (the database away), log it, back off and try again."""
        self.stats.count(Event.ERRORS)
        verdict = classify(exc)
        if verdict.kind is ErrorKind.BUG:
            try:
                recorded = await self.processor.record_crash(agent_id, hint, exc, started)
                self._crash_streaks.pop(agent_id, None)  # the row counts the attempts from here
                return recorded
            except Exception as again:
                log.warning("sync.crash_not_recorded", agent_id=str(agent_id), error_class=type(again).__name__)
        streak = self._crash_streaks[agent_id] = self._crash_streaks.get(agent_id, 0) + 1
        self.stats.error(
            agent_id=str(agent_id), error_class=type(exc).__name__, message=redaction.excerpt(str(exc), 500)
        )
        # the traceback once per agent and streak: a database away for a minute is one, not one per retry
        log.error(
            "sync.crashed", agent_id=str(agent_id), kind=verdict.kind.value, exc_info=exc if streak == 1 else None
        )
        self.hints.put_back(agent_id, hint)
        retry_in = backoff_delay(streak, base_s=CRASH_BASE_S, cap_s=CRASH_CAP_S, floor_s=verdict.floor_s)
        self.queue.add_after(agent_id, retry_in)
        return None

    async def stop(self, grace_s: float) -> None:
        """Stop handing out work, let in-flight syncs finish for up to `grace_s`, then cancel the rest."""
        self.queue.shut_down()
        if self._sweeper_task is not None:
            self._sweeper_task.cancel()
        in_flight = self.queue.in_flight
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            log.info("engine.stopped", finished=in_flight - len(pending), cancelled=len(pending))
        if self._sweeper_task is not None:
            await asyncio.gather(self._sweeper_task, return_exceptions=True)
