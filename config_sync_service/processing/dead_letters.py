"""The dead letters the engine writes (DESIGN §6), each built by `DeadLetterEntry.build`, and their push."""

from __future__ import annotations

import uuid

from config_sync_service.core.logging import get_logger
from config_sync_service.core.metrics import Event, Outcome
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from config_sync_service.processing.failures import Failure
from config_sync_service.processing.hints import Hint
from config_sync_service.processing.stats import Stats
from config_sync_service.schemas.messages import Rejection

log = get_logger("config_sync.dead_letters")


def rejected(raw: bytes, rejection: Rejection) -> DeadLetterEntry:
    """A payload that is no change message, with whatever of it could be read."""
    return DeadLetterEntry.build(
        raw,
        reason=rejection.reason.value,
        error_class="InvalidMessage",
        error_message=rejection.detail,
        agent_id=rejection.agent_id,
        version=rejection.version,
        change_type=rejection.change_type,
    )


def unknown_agent(agent_id: uuid.UUID, hint: Hint) -> DeadLetterEntry:
    message = hint.message
    return DeadLetterEntry.build(
        hint.raw,
        reason="unknown_agent",
        error_class="UnknownAgent",
        error_message=f"no agent with id {agent_id}",
        agent_id=str(agent_id),
        version=message.version if message else None,
        change_type=message.change_type.value if message else None,
        replay_count=hint.replay_count,
    )


def failed(agent_id: uuid.UUID, version: int, hint: Hint, failure: Failure) -> DeadLetterEntry:
    assert failure.dead_letter_reason is not None
    return DeadLetterEntry.build(
        hint.raw,
        reason=failure.dead_letter_reason,
        error_class=failure.error_class,
        error_message=failure.message,
        agent_id=str(agent_id),
        version=version,
        change_type=hint.message.change_type.value if hint.message else None,
        attempts=failure.attempts,
        replay_count=hint.replay_count,
    )


async def push(dlq: DeadLetterQueue, stats: Stats, entry: DeadLetterEntry, *, once: bytes | None = None) -> None:
    """Push and count; never raises. `once`: the payload every worker heard (one of them writes the entry)."""
    try:
        pushed = await dlq.push(entry, once=once)
    except Exception as exc:  # Redis down: the failure is in Postgres and the log; the entry is what is lost
        log.error("dlq.push_failed", agent_id=entry.agent_id, reason=entry.reason, error=type(exc).__name__)
        return
    stats.count(Outcome.DEAD_LETTERED if pushed else Event.DEAD_LETTER_COPIES_SKIPPED)
