"""What the status page (/ui) shows of the agents: one row per agent, with its drift, live health, pause and last
error."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.db.drift import Drift, drift_of
from config_sync_service.db.tables import AGENTS, CONFIGURATIONS


@dataclass(frozen=True, slots=True)
class AgentRow:
    agent_id: uuid.UUID
    name: str
    pipecat_agent_name: str
    sync_status: str
    desired_state: str
    active_version: int | None
    synced_version: int | None
    drift: Drift
    paused: bool
    paused_reason: str | None
    paused_at: datetime | None
    last_error_class: str | None
    last_error_message: str | None
    deployment_id: str | None
    last_synced_at: datetime | None
    updated_at: datetime
    live_health: str
    live_differences: list[dict[str, Any]]  # field, desired, live: never a secret value


_ROWS = sa.select(
    AGENTS.c.id,
    AGENTS.c.name,
    AGENTS.c.pipecat_agent_name,
    AGENTS.c.sync_status,
    AGENTS.c.desired_state,
    CONFIGURATIONS.c.version,
    AGENTS.c.synced_version,
    drift_of(AGENTS.c, CONFIGURATIONS.c.version).label("drift"),
    AGENTS.c.paused,
    AGENTS.c.paused_reason,
    AGENTS.c.paused_at,
    AGENTS.c.last_error_class,
    AGENTS.c.last_error_message,
    AGENTS.c.pipecat_cloud_instance_id,
    AGENTS.c.last_synced_at,
    AGENTS.c.updated_at,
    AGENTS.c.live_health,
    AGENTS.c.live_differences,
).select_from(
    AGENTS.outerjoin(CONFIGURATIONS, sa.and_(CONFIGURATIONS.c.agent_id == AGENTS.c.id, CONFIGURATIONS.c.is_active))
)


def _row(row: sa.Row[Any]) -> AgentRow:
    values = list(row)
    values[3], values[4], values[7], values[16] = str(values[3]), str(values[4]), Drift(values[7]), str(values[16])
    return AgentRow(*values)


async def agents(session: AsyncSession, *, limit: int = 500, offset: int = 0) -> tuple[int, list[AgentRow]]:
    """How many agents there are, and one page of them by name."""
    total = int((await session.execute(sa.select(sa.func.count()).select_from(AGENTS))).scalar_one())
    rows = (await session.execute(_ROWS.order_by(AGENTS.c.name, AGENTS.c.id).limit(limit).offset(offset))).all()
    return total, [_row(row) for row in rows]


async def agent(session: AsyncSession, *, agent_id: uuid.UUID) -> AgentRow | None:
    row = (await session.execute(_ROWS.where(AGENTS.c.id == agent_id))).first()
    return None if row is None else _row(row)
