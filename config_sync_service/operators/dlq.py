"""Dead-letter tooling for operators (DESIGN §6): list, show, replay, purge. The CLI and the HTTP API share it.

Replay re-queues an entry's *agent*, not its message: the processor reads the agent's current rows, so a stale
version becomes a no-op and a fixed configuration applies. It walks a snapshot taken when it starts (entries
dead-lettered meanwhile, including those of agents that fail again, are left for the next replay) and removes an
entry only once its agent was handed on. Entries without an agent (a payload that was not a message) are skipped.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis

from config_sync_service.core.logging import get_logger, scrub
from config_sync_service.db import crud
from config_sync_service.db.session import SessionFactory
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from config_sync_service.processing.engine import SyncEngine
from config_sync_service.processing.processor import Hint
from config_sync_service.schemas.messages import ChangeMessage, ChangeType

log = get_logger("config_sync.operators.dlq")
PROGRESS_EVERY_S = 1.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in `90`, `30s`, `15m`, `2h`, `7d`, `1h30m`; ValueError otherwise."""
    cleaned = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned)
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 7d)")
    return sum(float(n) * _UNIT_S[unit] for n, unit in parts)


def agent_uuid(entry: DeadLetterEntry) -> uuid.UUID | None:
    """The agent an entry can be replayed for, or None (not a message, or no valid agent id)."""
    try:
        return uuid.UUID(str(entry.agent_id)) if entry.agent_id else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Filter:
    """Which entries: of one agent, with one reason, dead longer ago or more recently than some seconds."""

    agent_id: str | None = None
    reason: str | None = None
    older_than_s: float | None = None
    newer_than_s: float | None = None

    @property
    def empty(self) -> bool:
        return self == Filter()

    def matches(self, entry: DeadLetterEntry, now: float) -> bool:
        age = now - float(entry.dead_at or 0)
        return (
            (self.agent_id is None or str(entry.agent_id).lower() == self.agent_id.lower())
            and (self.reason is None or entry.reason == self.reason)
            and (self.older_than_s is None or age >= self.older_than_s)
            and (self.newer_than_s is None or age < self.newer_than_s)
        )


@dataclass(frozen=True, slots=True)
class Listed:
    """An entry and its index in the list (0 is the newest) at the time it was read."""

    index: int
    entry: DeadLetterEntry

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self.entry)
        data["error_message"] = scrub(self.entry.error_message)
        return {"index": self.index, **data}


@dataclass(frozen=True, slots=True)
class Page:
    total: int  # entries in the list
    matching: int  # entries the filter selects
    offset: int
    limit: int
    entries: list[Listed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "matching": self.matching,
            "offset": self.offset,
            "limit": self.limit,
            "entries": [e.to_dict() for e in self.entries],
        }


async def list_entries(dlq: DeadLetterQueue, flt: Filter = Filter(), *, offset: int = 0, limit: int = 50) -> Page:
    """Entries newest first, filtered, one page of them."""
    offset, limit = max(0, offset), max(0, limit)
    if flt.empty:  # a page straight from Redis
        total = await dlq.depth()
        stored = await dlq.redis.lrange(dlq.key, offset, offset + limit - 1) if limit else []
        texts = [s.decode("utf-8", "surrogateescape") if isinstance(s, bytes) else str(s) for s in stored]
        listed = [Listed(offset + i, DeadLetterEntry.from_stored(t)) for i, t in enumerate(texts)]
        return Page(total, total, offset, limit, listed)
    snapshot = await dlq.snapshot()
    now = time.time()
    matching = [Listed(i, e) for i, (_, e) in enumerate(snapshot) if flt.matches(e, now)]
    return Page(len(snapshot), len(matching), offset, limit, matching[offset : offset + limit])


async def show(dlq: DeadLetterQueue, ref: str) -> Listed | None:
    """One entry by index (`3`), by id, or by a unique prefix of at least 6 characters of its id."""
    ref = ref.strip()
    if ref.isdigit():
        stored = await dlq.redis.lindex(dlq.key, int(ref))
        if stored is None:
            return None
        text = stored.decode("utf-8", "surrogateescape") if isinstance(stored, bytes) else str(stored)
        return Listed(int(ref), DeadLetterEntry.from_stored(text))
    items = [Listed(index, entry) for index, (_, entry) in enumerate(await dlq.snapshot())]
    exact = [item for item in items if item.entry.id == ref]
    prefixed = [item for item in items if len(ref) >= 6 and item.entry.id.startswith(ref)]
    found = exact or prefixed
    return found[0] if len(found) == 1 else None


# --- replay ------------------------------------------------------------------------------------------------
class Requeue(Protocol):
    """Hand an agent to the engine with a forced re-run; False when nobody received it (entry kept)."""

    async def __call__(self, agent_id: uuid.UUID, *, replay_count: int, entry: DeadLetterEntry) -> bool: ...


class EngineRequeue:
    """For the daemon's HTTP API: straight into this process's queue (it claims the agent like any worker)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine

    async def __call__(self, agent_id: uuid.UUID, *, replay_count: int, entry: DeadLetterEntry) -> bool:
        self.engine.submit(agent_id, Hint(force=True, replay_count=replay_count))
        return True


class ChannelRequeue:
    """For the CLI (no engine in the process): a change message for the agent's active version with
    `replay: true` on the updates channel. Every worker receives it; the first to claim the agent and the
    replay id runs it, the others see a no-op."""

    def __init__(self, redis: aioredis.Redis, *, channel: str, sessions: SessionFactory) -> None:
        self.redis = redis
        self.channel = channel
        self.sessions = sessions

    async def __call__(self, agent_id: uuid.UUID, *, replay_count: int, entry: DeadLetterEntry) -> bool:
        async with self.sessions() as s:
            config = await crud.get_active_configuration(s, agent_id=agent_id)
        version = config.version if config is not None else entry.version
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            version = 1  # an agent without configuration (or unknown): the processor decides
        known = isinstance(entry.change_type, str) and entry.change_type in ChangeType.__members__
        change = entry.change_type if known else ChangeType.FULL_SYNC
        message = ChangeMessage(
            agent_id=agent_id,
            version=version,
            change_type=ChangeType(change),
            replay=True,
            replay_count=replay_count,
            replay_id=uuid.uuid4().hex,
        )
        return int(await self.redis.publish(self.channel, message.to_json())) > 0


@dataclass(slots=True)
class ReplayReport:
    total: int  # entries in the snapshot the replay selected
    dry_run: bool
    replayed: int = 0
    agents: int = 0
    skipped: list[Listed] = field(default_factory=list)  # no agent to re-queue
    planned: list[Listed] = field(default_factory=list)  # a dry run: the entries that would be replayed
    undelivered: int = 0  # nobody subscribed: left in the list
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.replayed + len(self.skipped) + self.undelivered

    def progress_line(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        return f"{verb} {self.replayed}/{self.total} … ({len(self.skipped)} skipped)"

    def summary_line(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        parts = [f"{verb} {self.replayed} of {self.total} entries ({self.agents} agents re-queued)"]
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)} without an agent (invalid messages)")
        if self.undelivered:
            parts.append(f"kept {self.undelivered}: no config-sync process is subscribed")
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
            "summary": self.summary_line(),
        }


Progress = Callable[[ReplayReport], Awaitable[None] | None]


async def replay(
    dlq: DeadLetterQueue,
    requeue: Requeue,
    *,
    agent_id: str | None = None,
    replay_all: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """Replay the entries of one agent (or all), oldest first, over a snapshot of the list."""
    if (agent_id is None) == (not replay_all):
        raise ValueError("replay needs exactly one of an agent id or `all`")
    flt = Filter(agent_id=agent_id)
    snapshot = [(i, text, e) for i, (text, e) in enumerate(await dlq.snapshot()) if replay_all or flt.matches(e, 0)]
    snapshot.reverse()  # oldest first
    report = ReplayReport(total=len(snapshot), dry_run=dry_run)
    by_agent: dict[uuid.UUID, list[tuple[int, str, DeadLetterEntry]]] = {}
    for index, text, entry in snapshot:
        agent = agent_uuid(entry)
        if agent is None:
            report.skipped.append(Listed(index, entry))
            log.info("dlq.replay_skipped", entry_id=entry.id, reason=entry.reason, dry_run=dry_run)
        else:
            by_agent.setdefault(agent, []).append((index, text, entry))
    last_report = time.monotonic()
    for agent, entries in by_agent.items():
        replay_count = max(int(e.replay_count or 0) for _, _, e in entries) + 1
        newest = entries[-1][2]
        delivered = dry_run or await requeue(agent, replay_count=replay_count, entry=newest)
        if not delivered:
            report.undelivered += len(entries)
            continue
        if dry_run:
            report.planned += [Listed(index, entry) for index, _, entry in entries]
        else:
            await dlq.remove_stored([text for _, text, _ in entries])
        report.agents += 1
        report.replayed += len(entries)
        for _, _, entry in entries:
            log.info(
                "dlq.replayed",
                entry_id=entry.id,
                agent_id=str(agent),
                version=entry.version,
                change_type=entry.change_type,
                reason=entry.reason,
                replay_count=replay_count,
                dry_run=dry_run,
            )
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
        dry_run=dry_run,
        duration_s=round(time.monotonic() - report.started, 3),
    )
    return report


async def _call(progress: Progress, report: ReplayReport) -> None:
    result = progress(report)
    if result is not None:
        await result


# --- purge -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PurgeReport:
    total: int
    matching: int
    purged: int

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "matching": self.matching, "purged": self.purged}


async def count_matching(dlq: DeadLetterQueue, flt: Filter) -> tuple[int, int]:
    """(entries in the list, entries the filter selects)."""
    snapshot = await dlq.snapshot()
    now = time.time()
    return len(snapshot), sum(1 for _, e in snapshot if flt.matches(e, now))


async def purge(dlq: DeadLetterQueue, flt: Filter = Filter()) -> PurgeReport:
    """Remove the entries the filter selects from a snapshot; entries pushed meanwhile stay."""
    snapshot = await dlq.snapshot()
    now = time.time()
    texts = [text for text, e in snapshot if flt.matches(e, now)]
    purged = await dlq.remove_stored(texts)
    log.info(
        "dlq.purged",
        purged=purged,
        total=len(snapshot),
        agent_id=flt.agent_id,
        reason=flt.reason,
        older_than_s=flt.older_than_s,
    )
    return PurgeReport(len(snapshot), len(texts), purged)
