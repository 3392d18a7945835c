"""An operator's pause of one agent (`config-sync pause` / `resume`): the agent is observed and reported, never
changed. What a pause does to the plan is db/drift.py's (`Drift.PAUSED`); this module only writes and lists it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.db.tables import AGENTS

REASON_MAX = 500


@dataclass(frozen=True, slots=True)
class Paused:
    agent_id: uuid.UUID
    name: str
    reason: str | None
    since: datetime | None


async def set_paused(session: AsyncSession, *, agent_id: uuid.UUID, paused: bool, reason: str | None = None) -> bool:
    """Pause (with its reason) or resume an agent; False: no such agent. `updated_at` is left alone: it is the
    backend's last change, which the sweep orders by."""
    values: dict[str, object] = {"paused": paused, "paused_reason": None, "paused_at": None}
    if paused:
        values |= {"paused_reason": (reason or "").strip()[:REASON_MAX] or None, "paused_at": sa.func.now()}
    result = await session.execute(sa.update(AGENTS).where(AGENTS.c.id == agent_id).values(values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_paused(session: AsyncSession, *, limit: int = 100) -> tuple[int, list[Paused]]:
    """How many agents are paused, and the `limit` paused longest."""
    query = (
        sa.select(sa.func.count().over(), AGENTS.c.id, AGENTS.c.name, AGENTS.c.paused_reason, AGENTS.c.paused_at)
        .where(AGENTS.c.paused)
        .order_by(AGENTS.c.paused_at, AGENTS.c.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return (int(rows[0][0]) if rows else 0), [Paused(*row[1:]) for row in rows]


async def count_paused(session: AsyncSession) -> int:
    query = sa.select(sa.func.count()).select_from(AGENTS).where(AGENTS.c.paused)
    return int((await session.execute(query)).scalar_one())
