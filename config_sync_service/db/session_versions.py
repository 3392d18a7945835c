"""What each live session of an agent runs (DESIGN §13, live sessions): no anchor on Pipecat shows the configuration
inside a running call, so a context push records what each session's bot answered. Written by the pass that pushed
(`record_session_versions`), read by /status (`agents_with_sessions_behind`) and `config-sync diff`
(`live_session_versions`)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.db.models import AgentSessionVersion, utcnow
from config_sync_service.db.tables import AGENTS, CONFIGURATIONS

SESSIONS: sa.Table = AgentSessionVersion.__table__  # type: ignore[attr-defined]
APPLIED, STALE, REFUSED = "applied", "stale", "refused"


@dataclass(frozen=True, slots=True)
class SessionAck:
    """A bot's answer to a push: the version its session runs now (None: it refused and would not say)."""

    session_id: str
    version: int | None
    outcome: str  # APPLIED, STALE (it keeps a newer version) or REFUSED (it keeps its older one)


@dataclass(frozen=True, slots=True)
class LiveSessionVersion:
    """One live session as last recorded, beside the agent's active version."""

    session_id: str
    version: int | None
    outcome: str
    acknowledged_at: datetime
    active_version: int | None

    @property
    def behind(self) -> bool:
        """On an older configuration than the active one (or one it would not tell)."""
        return self.version is None or (self.active_version is not None and self.version < self.active_version)


@dataclass(frozen=True, slots=True)
class AgentSessions:
    """An agent with at least one live session behind its active version: how many sessions run each version."""

    agent_id: uuid.UUID
    name: str
    active_version: int | None
    by_version: dict[int | None, int]

    def summary(self) -> str:
        """`3 sessions on v7, 1 on v6` (newest first; `unknown` for a session that would not tell)."""
        known = sorted((v for v in self.by_version if v is not None), reverse=True)
        parts = [(f"v{v}", self.by_version[v]) for v in known]
        parts += [("an unknown version", self.by_version[None])] if None in self.by_version else []
        words = [f"{n} {'session' if n == 1 else 'sessions'} on {v}" if i == 0 else f"{n} on {v}"
                 for i, (v, n) in enumerate(parts)]  # fmt: skip
        return ", ".join(words)


async def record_session_versions(
    s: AsyncSession, *, agent_id: uuid.UUID, active_session_ids: Collection[str], acks: Sequence[SessionAck]
) -> None:
    """Record a push's answers. Sessions no longer active are forgotten; a refusal that did not say its version
    keeps the version recorded before."""
    await s.execute(
        sa.delete(SESSIONS).where(SESSIONS.c.agent_id == agent_id, SESSIONS.c.session_id.not_in(active_session_ids))
    )
    if not acks:
        return
    now = utcnow()
    rows = [
        {"agent_id": agent_id, "session_id": a.session_id, "version": a.version, "outcome": a.outcome}
        | {"acknowledged_at": now}
        for a in acks
    ]
    upsert = insert(SESSIONS).values(rows)
    await s.execute(
        upsert.on_conflict_do_update(
            index_elements=[SESSIONS.c.agent_id, SESSIONS.c.session_id],
            set_={
                "version": sa.func.coalesce(upsert.excluded.version, SESSIONS.c.version),
                "outcome": upsert.excluded.outcome,
                "acknowledged_at": upsert.excluded.acknowledged_at,
            },
        )
    )


def _with_active_version() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        SESSIONS.c.agent_id,
        SESSIONS.c.session_id,
        SESSIONS.c.version,
        SESSIONS.c.outcome,
        SESSIONS.c.acknowledged_at,
        CONFIGURATIONS.c.version.label("active_version"),
    ).outerjoin(CONFIGURATIONS, sa.and_(CONFIGURATIONS.c.agent_id == SESSIONS.c.agent_id, CONFIGURATIONS.c.is_active))


async def live_session_versions(s: AsyncSession, *, agent_id: uuid.UUID) -> list[LiveSessionVersion]:
    """Every recorded live session of the agent with the version it runs (`behind`: older than the active one)."""
    query = _with_active_version().where(SESSIONS.c.agent_id == agent_id).order_by(SESSIONS.c.session_id)
    return [
        LiveSessionVersion(r.session_id, r.version, r.outcome, r.acknowledged_at, r.active_version)
        for r in (await s.execute(query)).all()
    ]


async def agents_with_sessions_behind(s: AsyncSession, *, limit: int) -> tuple[int, list[AgentSessions]]:
    """(how many agents have a live session on an older version, the first `limit` of them by name)."""
    behind = sa.or_(SESSIONS.c.version.is_(None), SESSIONS.c.version < CONFIGURATIONS.c.version)
    lagging = _with_active_version().where(behind).with_only_columns(SESSIONS.c.agent_id).distinct().subquery()
    count = (await s.execute(sa.select(sa.func.count()).select_from(lagging))).scalar_one()
    names = (
        sa.select(AGENTS.c.id, AGENTS.c.name)
        .where(AGENTS.c.id.in_(sa.select(lagging.c.agent_id)))
        .order_by(AGENTS.c.name, AGENTS.c.id)
        .limit(limit)
    )
    agents = {r.id: r.name for r in (await s.execute(names)).all()}
    rows = (await s.execute(_with_active_version().where(SESSIONS.c.agent_id.in_(list(agents))))).all()
    found: dict[uuid.UUID, tuple[int | None, Counter[int | None]]] = {}
    for r in rows:
        found.setdefault(r.agent_id, (r.active_version, Counter()))[1][r.version] += 1
    return int(count), [AgentSessions(a, agents[a], found[a][0], dict(found[a][1])) for a in agents if a in found]
