"""Operator tooling for one agent, shared by the CLI and the HTTP API: its history, pause and resume.

Resuming publishes a FULL_SYNC hint (mq/publisher.py `publish_change`) at the agent's active version, so every
running daemon looks at it at once and applies whatever is pending; the sweep would also find it, later.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from config_sync_service.db import crud, history, pause
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.mq.publisher import publish_change
from config_sync_service.schemas.messages import ChangeType

HISTORY_LIMIT_MAX = 1000


class NoSuchAgentError(LookupError):
    def __init__(self, agent_id: uuid.UUID) -> None:
        super().__init__(f"no agent {agent_id}")


@dataclass(frozen=True, slots=True)
class Resumed:
    agent_id: uuid.UUID
    version: int | None  # the active version the hint named (None: nothing to apply yet)
    receivers: int  # daemons (workers) that heard the hint


def parse_agent_id(value: str) -> uuid.UUID:
    """An agent id from the command line or a URL; ValueError with a clear message otherwise."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(f"not an agent id: {value!r}") from None


async def agent_history(sessions: SessionFactory, agent_id: uuid.UUID, *, limit: int) -> list[history.Entry]:
    """The agent's newest `limit` history rows, newest first."""
    async with sessions() as s:
        if await crud.get_agent_details(s, agent_id=agent_id) is None:
            raise NoSuchAgentError(agent_id)
        return await history.for_agent(s, agent_id=agent_id, limit=min(limit, HISTORY_LIMIT_MAX))


async def pause_agent(sessions: SessionFactory, agent_id: uuid.UUID, *, reason: str) -> None:
    """Pause the agent: from the next pass on, nothing changes it on Pipecat (a call in flight still finishes)."""
    async with transaction(sessions) as s:
        if not await pause.set_paused(s, agent_id=agent_id, paused=True, reason=reason):
            raise NoSuchAgentError(agent_id)


async def resume_agent(
    sessions: SessionFactory, redis: aioredis.Redis, agent_id: uuid.UUID, *, channel: str
) -> Resumed:
    """Resume the agent and ask the daemons to apply whatever is pending now."""
    async with transaction(sessions) as s:
        if not await pause.set_paused(s, agent_id=agent_id, paused=False):
            raise NoSuchAgentError(agent_id)
        config = await crud.get_active_configuration(s, agent_id=agent_id)
    version = config.version if config is not None else None
    receivers = await publish_change(
        redis, agent_id=agent_id, version=version or 1, change_type=ChangeType.FULL_SYNC, channel=channel
    )
    return Resumed(agent_id, version, receivers)
