"""Publishing a change on the updates channel: `publish_change`, the one place every publisher calls (backends,
`config-sync publish`, `config-sync reconcile`, `config-sync dev`, `config-sync dlq replay`).

For backend services (imported as `config_sync_service.publisher`): write an agent's new configuration and tell
config-sync, only once it is committed.

    async with sessions() as session, session.begin():
        config = await publisher.save_configuration_and_publish(
            session, redis, agent_id=agent_id, llm_context={"system_prompt": "…"}
        )
    # committed: the message is on the channel; an exception in the block rolled back and published nothing
    # an invalid configuration raises InvalidConfigurationError (`.lines`: every `path: rule`) and writes nothing

The choice: the message is published from SQLAlchemy's `after_commit` session event, not by committing inside
this function. So the new version can share the caller's transaction with the caller's other writes, and the
daemon never hears of a version it cannot read (a message sent before the commit could be read before the row
exists; one sent after a rollback would name a version that never existed). The publish runs inside
`await session.commit()` (the event handler awaits it through SQLAlchemy's greenlet bridge), so when the commit
returns the message has been sent. A failed publish is logged, never raised (the commit has happened): the
daemon's periodic sweep finds the unapplied version within `RECONCILE_INTERVAL_S`.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import await_

from config_sync_service.core.config import DEFAULT_UPDATES_CHANNEL
from config_sync_service.core.logging import get_logger
from config_sync_service.db import crud
from config_sync_service.db.models import AgentConfiguration
from config_sync_service.schemas import agent_config
from config_sync_service.schemas.messages import ChangeMessage, ChangeType

log = get_logger("config_sync.publisher")
_PENDING = "config_sync.pending_messages"  # key in Session.info: (redis, channel, message) to send on commit


async def publish_change(
    redis: aioredis.Redis,
    *,
    agent_id: uuid.UUID | str,
    version: int,
    change_type: ChangeType | str,
    channel: str = DEFAULT_UPDATES_CHANNEL,
    replay: tuple[int, str] | None = None,
) -> int:
    """Publish one change message (validated as the daemon will read it); returns how many subscribers got it.

    Call it only after the version is committed: `save_configuration_and_publish` does that for you.
    `replay` (only `config-sync dlq replay` sets it: the replay count and an id it registered with
    `DeadLetterQueue.register_replay`) makes the message a replay request: the agent is run again even after a
    permanent error, by the one worker that spends the id. A `replay: true` whose id nobody registered forces nothing.
    """
    fields: dict[str, Any] = {"agent_id": agent_id, "version": version, "change_type": change_type}
    replay_count = None
    if replay is not None:
        replay_count, replay_id = replay
        fields |= {"replay": True, "replay_count": replay_count, "replay_id": replay_id}
    message = ChangeMessage.model_validate(fields)
    receivers = int(await redis.publish(channel, message.to_json()))
    log.info(
        "change.published",
        agent_id=str(message.agent_id),
        version=message.version,
        change_type=message.change_type.value,
        channel=channel,
        receivers=receivers,
        replay_count=replay_count,
    )
    return receivers


async def save_configuration_and_publish(
    session: AsyncSession,
    redis: aioredis.Redis,
    *,
    agent_id: uuid.UUID,
    deployment: dict[str, Any] | None = None,
    llm_context: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    change_type: ChangeType | None = None,
    channel: str = DEFAULT_UPDATES_CHANNEL,
) -> AgentConfiguration:
    """Add the agent's next configuration version (the active one) in the caller's transaction, and publish its
    change message when that transaction commits; nothing is published if it rolls back.

    Omitted parts are carried over from the previous version. The whole new configuration (with what was carried
    over) is validated first, as the daemon will: an invalid one raises `InvalidConfigurationError` (its `lines`
    name every field at fault) before anything is written, and nothing is published. `change_type` defaults to
    PROVISION for a first version, CONTEXT_UPDATE when only `llm_context` is given, FULL_SYNC otherwise (the
    daemon does what the database says is needed either way).
    """
    first = await crud.get_active_configuration(session, agent_id=agent_id) is None
    config = await crud.add_configuration(
        session, agent_id=agent_id, deployment=deployment, llm_context=llm_context, secrets=secrets, check=_valid
    )
    if change_type is None:
        if first:
            change_type = ChangeType.PROVISION
        elif llm_context is not None and deployment is None and secrets is None:
            change_type = ChangeType.CONTEXT_UPDATE
        else:
            change_type = ChangeType.FULL_SYNC
    message = ChangeMessage(agent_id=agent_id, version=config.version, change_type=change_type)
    _pending(session.sync_session).append((redis, channel, message))
    return config


def _valid(parts: crud.ConfigurationParts) -> None:
    agent_config.parse_parts(deployment=parts.deployment, llm_context=parts.llm_context, secrets=parts.secrets)


def _pending(session: Session) -> list[tuple[aioredis.Redis, str, ChangeMessage]]:
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_transaction_end", _after_transaction_end)
    pending: list[tuple[aioredis.Redis, str, ChangeMessage]] = session.info[_PENDING]
    return pending


def _after_commit(session: Session) -> None:
    pending = session.info.get(_PENDING) or []
    messages, pending[:] = list(pending), []
    for redis, channel, message in messages:
        try:
            # inside AsyncSession.commit()'s greenlet: wait for the publish before commit() returns
            await_(
                publish_change(
                    redis,
                    agent_id=message.agent_id,
                    version=message.version,
                    change_type=message.change_type,
                    channel=channel,
                )
            )
        except Exception as exc:  # committed already: the sweep will apply the version
            log.error(
                "change.publish_failed",
                agent_id=str(message.agent_id),
                version=message.version,
                change_type=message.change_type.value,
                error=type(exc).__name__,
            )


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended without a commit (rolled back): its messages are dropped."""
    if transaction.parent is None and session.info.get(_PENDING):
        dropped = session.info[_PENDING]
        log.info("change.not_published", reason="rolled_back", versions=[m.version for _, _, m in dropped])
        dropped.clear()
