"""Replaying dead letters (DESIGN §6), for the CLI and the HTTP API.

Replay re-queues an entry's *agent*, not its message: the processor reads the agent's current rows, so a stale
version becomes a no-op and a fixed configuration applies. It walks a snapshot taken when it starts (entries
dead-lettered meanwhile, including those of agents that fail again, are left for the next replay) and removes an
entry only once its agent was handed on. Entries without an agent (a payload that was not a message) are skipped.
How an agent is handed on is the caller's `Requeue`: over the channel (`ChannelRequeue`, the CLI) or straight into
the answering worker's queue (the HTTP API).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

from config_sync_service.admin.dlq import Filter, Listed
from config_sync_service.core.logging import get_logger
from config_sync_service.db import crud
from config_sync_service.db.session import SessionFactory
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from config_sync_service.mq.publisher import publish_change
from config_sync_service.schemas.messages import ChangeType

log = get_logger("config_sync.admin.replay")
PROGRESS_EVERY_S = 1.0


def agent_uuid(entry: DeadLetterEntry) -> uuid.UUID | None:
    """The agent an entry can be replayed for, or None (not a message, or no valid agent id)."""
    try:
        return uuid.UUID(str(entry.agent_id)) if entry.agent_id else None
    except ValueError:
        return None


class Requeue(Protocol):
    """Hand an agent to the engine with a forced re-run under `replay_id` (registered already); False when nobody
    received it (entry kept)."""

    async def __call__(
        self, agent_id: uuid.UUID, *, replay_count: int, replay_id: str, entry: DeadLetterEntry
    ) -> bool: ...


class ChannelRequeue:
    """For the CLI (no engine in the process): a replay request for the agent's active version on the updates
    channel (`publish_change` with the replay count and id). Every worker receives it; the first to claim the agent
    and spend the replay id runs it, the others see a no-op."""

    def __init__(self, redis: aioredis.Redis, *, channel: str, sessions: SessionFactory) -> None:
        self.redis = redis
        self.channel = channel
        self.sessions = sessions

    async def __call__(self, agent_id: uuid.UUID, *, replay_count: int, replay_id: str, entry: DeadLetterEntry) -> bool:
        async with self.sessions() as s:
            config = await crud.get_active_configuration(s, agent_id=agent_id)
        version = config.version if config is not None else entry.version
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            version = 1  # an agent without configuration (or unknown): the processor decides
        change = entry.change_type if entry.change_type in ChangeType.__members__ else None
        receivers = await publish_change(
            self.redis,
            agent_id=agent_id,
            version=version,
            change_type=ChangeType(change) if change is not None else ChangeType.FULL_SYNC,
            channel=self.channel,
            replay=(replay_count, replay_id),
        )
        return receivers > 0


@dataclass(slots=True)
class ReplayReport:
    total: int  # entries in the snapshot the replay selected
    dry_run: bool
    replayed: int = 0
    agents: int = 0
    skipped: list[Listed] = field(default_factory=list)  # no agent to re-queue
    planned: list[Listed] = field(default_factory=list)  # a dry run: the entries that would be replayed
    undelivered: int = 0  # nobody subscribed: left in the list
    failed: int = 0  # handing the agent on raised (channel or database away): left in the list
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.replayed + len(self.skipped) + self.undelivered + self.failed

    def progress_line(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        return f"{verb} {self.replayed}/{self.total} … ({len(self.skipped)} skipped)"

    def summary_line(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        parts = [f"{verb} {self.replayed} of {self.total} entries ({self.agents} agents re-queued)"]
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)} without an agent (invalid messages, unreadable entries)")
        if self.undelivered:
            parts.append(f"kept {self.undelivered}: no config-sync process is subscribed")
        if self.failed:
            parts.append(f"kept {self.failed}: could not hand its agent on (dlq.replay_failed in the log)")
        return "; ".join(parts) + f" in {time.monotonic() - self.started:.1f}s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "dry_run": self.dry_run,
            "replayed": self.replayed,
            "agents": self.agents,
            "skipped": [s.to_dict() for s in self.skipped],
            "would_replay": [p.to_dict() for p in self.planned],
            "undelivered": self.undelivered,
            "failed": self.failed,
            "summary": self.summary_line(),
        }


Progress = Callable[[ReplayReport], Awaitable[None] | None]


Selected = list[tuple[int, str, DeadLetterEntry]]  # index in the list, stored text, entry


@dataclass(frozen=True, slots=True)
class Step:
    """One agent to hand on once for all its entries (oldest first), and the replay count of its next dead letter."""

    agent: uuid.UUID
    entries: Selected
    replay_count: int


async def replay(
    dlq: DeadLetterQueue,
    requeue: Requeue,
    *,
    agent_id: str | None = None,
    replay_all: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """Replay the entries of one agent (or all), oldest first, over a snapshot of the list: every step is planned
    before the first is taken, and each step either hands its agent on and removes its entries, or keeps them."""
    if (agent_id is None) == (not replay_all):
        raise ValueError("replay needs exactly one of an agent id or `all`")
    flt = Filter(agent_id=agent_id)
    snapshot = [(i, text, e) for i, (text, e) in enumerate(await dlq.snapshot()) if replay_all or flt.matches(e, 0)]
    snapshot.reverse()  # oldest first
    report = ReplayReport(total=len(snapshot), dry_run=dry_run)
    last_report = time.monotonic()
    for step in _plan(snapshot, report):
        await _replay_agent(dlq, requeue, step, report)
        if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY_S:
            last_report = time.monotonic()
            await _call(progress, report)
    log.info(
        "dlq.replay_done",
        total=report.total,
        replayed=report.replayed,
        agents=report.agents,
        skipped=len(report.skipped),
        undelivered=report.undelivered,
        failed=report.failed,
        dry_run=dry_run,
        duration_s=round(time.monotonic() - report.started, 3),
    )
    return report


def _plan(snapshot: Selected, report: ReplayReport) -> list[Step]:
    """The selected entries grouped by agent; those without one (or unreadable) are skipped (reported)."""
    by_agent: dict[uuid.UUID, Selected] = {}
    for index, text, entry in snapshot:
        agent = agent_uuid(entry)
        if agent is None:
            report.skipped.append(Listed(index, entry))
            log.info("dlq.replay_skipped", entry_id=entry.id, reason=entry.reason, dry_run=report.dry_run)
        else:
            by_agent.setdefault(agent, []).append((index, text, entry))
    return [Step(agent, found, max(e.replay_count for _, _, e in found) + 1) for agent, found in by_agent.items()]


async def _replay_agent(dlq: DeadLetterQueue, requeue: Requeue, step: Step, report: ReplayReport) -> None:
    """Hand the agent on once for all its entries; remove them once it was (a dry run only notes them). An agent
    that cannot be handed on keeps its entries, and the replay goes on with the next."""
    entries = step.entries
    try:
        delivered = report.dry_run or await _hand_on(dlq, requeue, step)
    except Exception as exc:  # the channel or the database away: these entries stay for the next replay
        report.failed += len(entries)
        log.warning("dlq.replay_failed", agent_id=str(step.agent), error=f"{type(exc).__name__}: {exc}")
        return
    if not delivered:
        report.undelivered += len(entries)
        return
    if report.dry_run:
        report.planned += [Listed(index, entry) for index, _, entry in entries]
    else:
        await dlq.remove_stored([text for _, text, _ in entries])
    report.agents += 1
    report.replayed += len(entries)
    for _, _, entry in entries:
        log.info(
            "dlq.replayed",
            entry_id=entry.id,
            agent_id=str(step.agent),
            version=entry.version,
            change_type=entry.change_type,
            reason=entry.reason,
            replay_count=step.replay_count,
            dry_run=report.dry_run,
        )


async def _hand_on(dlq: DeadLetterQueue, requeue: Requeue, step: Step) -> bool:
    """Register a replay id (only a registered one forces a re-run), then hand the agent on under it."""
    replay_id = await dlq.register_replay()
    return await requeue(step.agent, replay_count=step.replay_count, replay_id=replay_id, entry=step.entries[-1][2])


async def _call(progress: Progress, report: ReplayReport) -> None:
    result = progress(report)
    if result is not None:
        await result
