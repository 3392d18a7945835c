"""Observed state (DESIGN §13): the observer's turn, what it reads, and what it records per agent.

The turn is a lease on one row of `observer_turns`: whichever process finds it free and due takes it, so there is
no leader that must stay up. A turn is `full` (every managed agent, every `OBSERVE_INTERVAL_S`) or `requested`
(only agents whose `observe_at` has come: a fenced or doubtful pass, a heal to verify). An observation is written
only if the agent did not change since it was read (a compare-and-set on its sync columns) and nobody holds it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.db.drift import LEASE_FREE, Drift, drift_of
from config_sync_service.db.models import (
    Agent,
    AgentConfiguration,
    DesiredState,
    LiveHealth,
    ObserverTurn,
    SyncStatus,
)
from config_sync_service.db.tables import AGENTS, CONFIGURATIONS

TURNS: sa.Table = ObserverTurn.__table__  # type: ignore[attr-defined]
TURN = "observer"


def _seconds(name: str) -> sa.ColumnElement[Any]:
    return sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.bindparam(name, type_=sa.Float))


_NOW = sa.func.now()
_REQUESTED = sa.and_(AGENTS.c.observe_at.is_not(None), AGENTS.c.observe_at <= _NOW)


async def ensure_turn(session: AsyncSession, *, first_due_in_s: float) -> None:
    """The turn's row, created once (the first full observation due `first_due_in_s` from now)."""
    await session.execute(
        sa.text(
            "INSERT INTO observer_turns (name, next_due_at) VALUES (:name, now() + make_interval(secs => :due)) "
            "ON CONFLICT (name) DO NOTHING"
        ),
        {"name": TURN, "due": first_due_in_s},
    )


async def take_turn(session: AsyncSession, *, owner: str, lease_s: float) -> str | None:
    """Take the turn if it is free and there is something to observe: `full`, `requested`, or None."""
    requested = sa.exists().where(_REQUESTED)
    statement = (
        sa.update(TURNS)
        .where(
            TURNS.c.name == TURN,
            sa.or_(TURNS.c.expires_at.is_(None), TURNS.c.expires_at < _NOW, TURNS.c.owner == owner),
            sa.or_(TURNS.c.next_due_at <= _NOW, requested),
        )
        .values(owner=owner, expires_at=_NOW + _seconds("lease_s"))
        .returning((TURNS.c.next_due_at <= _NOW).label("full"))
    )
    row = (await session.execute(statement, {"lease_s": lease_s})).first()
    return None if row is None else ("full" if row.full else "requested")


async def renew_turn(session: AsyncSession, *, owner: str, lease_s: float) -> bool:
    statement = (
        sa.update(TURNS)
        .where(TURNS.c.name == TURN, TURNS.c.owner == owner)
        .values(expires_at=_NOW + _seconds("lease_s"))
    )
    return bool((await session.execute(statement, {"lease_s": lease_s})).rowcount)  # type: ignore[attr-defined]


async def end_turn(
    session: AsyncSession, *, owner: str, next_due_in_s: float | None, orphans: list[str] | None = None
) -> None:
    """Give the turn back; after a full observation, when the next one is due and the orphans it found."""
    values: dict[str, Any] = {"owner": None, "expires_at": None}
    params: dict[str, Any] = {"holder": owner}
    if next_due_in_s is not None:
        values |= {
            "next_due_at": _NOW + _seconds("due"),
            "observed_at": _NOW,
            "orphans": sa.bindparam("orphans", type_=TURNS.c.orphans.type),
        }
        params |= {"due": next_due_in_s, "orphans": sorted(orphans or [])}
    statement = sa.update(TURNS).where(TURNS.c.name == TURN, TURNS.c.owner == sa.bindparam("holder")).values(values)
    await session.execute(statement, params)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A managed agent (wanted ACTIVE, with an active configuration) as the observer read it."""

    agent: Agent
    config: AgentConfiguration
    drift: Drift
    lease_free: bool

    @property
    def observable(self) -> bool:
        """In step as far as Postgres knows, and nobody working on it: what Pipecat runs should match."""
        return self.lease_free and self.drift is Drift.IN_SYNC and self.agent.sync_status is SyncStatus.SYNCED


async def candidates(session: AsyncSession, *, requested_only: bool) -> list[Candidate]:
    """Managed agents (all, or those whose observation was asked for and is due)."""
    config_columns = [c.label(f"config_{c.name}") for c in CONFIGURATIONS.c]
    query = (
        sa.select(*AGENTS.c, *config_columns, drift_of(AGENTS.c, CONFIGURATIONS.c.version).label("drift"), LEASE_FREE)
        .select_from(
            AGENTS.join(CONFIGURATIONS, sa.and_(CONFIGURATIONS.c.agent_id == AGENTS.c.id, CONFIGURATIONS.c.is_active))
        )
        .where(AGENTS.c.desired_state == DesiredState.ACTIVE)
        .order_by(AGENTS.c.pipecat_agent_name)
    )
    if requested_only:
        query = query.where(_REQUESTED)
    found = []
    for row in (await session.execute(query)).all():
        m = row._mapping
        agent = Agent(**{c.name: m[AGENTS.c[c.name]] for c in AGENTS.c})
        config = AgentConfiguration(**{c.name: m[f"config_{c.name}"] for c in CONFIGURATIONS.c})
        found.append(Candidate(agent, config, Drift(m["drift"]), bool(row[-1])))
    return found


async def all_names(session: AsyncSession) -> set[str]:
    """Every Pipecat agent name a row holds (in any state): what is not among them is an orphan."""
    return set((await session.execute(sa.select(AGENTS.c.pipecat_agent_name))).scalars())


@dataclass(frozen=True, slots=True)
class Observation:
    """What to record for one agent: its health and differences, the next look, and self-heal's state."""

    health: LiveHealth
    differences: list[dict[str, Any]]
    observe_in_s: float | None = None  # look again this much later (None: only when asked or at the next full)
    heal: bool = False  # mark the row as needing work (heal_attempts and next_heal_in_s are then the new backoff)
    heal_attempts: int | None = None  # None: the backoff stays as it is; 0: it is forgotten
    next_heal_in_s: float = 0.0


async def record(session: AsyncSession, candidate: Candidate, observation: Observation) -> bool:
    """Write the observation (and a heal) if the agent is as it was read and nobody holds it."""
    agent = candidate.agent
    values: dict[str, Any] = {
        "live_health": observation.health,
        "live_differences": observation.differences,
        "observed_at": _NOW,
        "observe_at": None if observation.observe_in_s is None else _NOW + _seconds("observe_in"),
    }
    if observation.heal_attempts is not None:
        values["heal_attempts"] = observation.heal_attempts
        values["next_heal_at"] = _NOW + _seconds("heal_in") if observation.heal_attempts else None
    if observation.heal:  # the row then says work is needed: the plan picks the smallest operation
        values |= {"sync_status": SyncStatus.PENDING, "applied_deployment_hash": None, "updated_at": _NOW}
        if observation.health is LiveHealth.MISSING:
            values["pipecat_cloud_instance_id"] = None  # never provisioned, as far as the plan can tell: PROVISION
    statement = (
        sa.update(AGENTS)
        .where(
            AGENTS.c.id == agent.id,
            AGENTS.c.sync_status == SyncStatus.SYNCED,
            AGENTS.c.synced_version == agent.synced_version,
            AGENTS.c.updated_at == agent.updated_at,
            LEASE_FREE,
        )
        .values(values)
    )
    params = {"observe_in": observation.observe_in_s or 0.0, "heal_in": observation.next_heal_in_s}
    return bool((await session.execute(statement, params)).rowcount)  # type: ignore[attr-defined]


async def request_observation(session: AsyncSession, *, agent_id: uuid.UUID, in_s: float = 0.0) -> None:
    """Ask for the agent to be observed `in_s` from now (an earlier request stands)."""
    at = _NOW + _seconds("in_s")
    await session.execute(
        sa.update(AGENTS)
        .where(AGENTS.c.id == agent_id)
        .values(observe_at=sa.func.least(sa.func.coalesce(AGENTS.c.observe_at, at), at)),
        {"in_s": in_s},
    )


async def postpone(session: AsyncSession, *, agent_id: uuid.UUID, in_s: float | None) -> None:
    """An asked-for observation that cannot be made now: again `in_s` from now (None: drop the request)."""
    value = None if in_s is None else _NOW + _seconds("in_s")
    await session.execute(
        sa.update(AGENTS).where(AGENTS.c.id == agent_id).values(observe_at=value), {"in_s": in_s or 0.0}
    )


@dataclass(frozen=True, slots=True)
class LiveReport:
    """For /status and /metrics: managed agents by health, the unhealthy ones, the last full observation."""

    by_health: dict[str, int]
    unhealthy: list[dict[str, Any]]
    observed_at: datetime | None
    orphans: list[str]


async def live_report(session: AsyncSession, *, limit: int = 10) -> LiveReport:
    managed = AGENTS.c.desired_state == DesiredState.ACTIVE
    counts = await session.execute(
        sa.select(AGENTS.c.live_health, sa.func.count()).where(managed).group_by(AGENTS.c.live_health)
    )
    by_health = {h.value: 0 for h in LiveHealth} | {str(h): int(n) for h, n in counts.all()}
    bad = [LiveHealth.DRIFTED, LiveHealth.MISSING, LiveHealth.DEGRADED]
    unhealthy = await _unhealthy(session, managed, bad, limit) if limit > 0 else []  # /metrics asks for counts only
    turn = (await session.execute(sa.select(TURNS.c.observed_at, TURNS.c.orphans).where(TURNS.c.name == TURN))).first()
    return LiveReport(by_health, unhealthy, turn.observed_at if turn else None, list(turn.orphans) if turn else [])


async def _unhealthy(
    session: AsyncSession, managed: sa.ColumnElement[bool], bad: list[LiveHealth], limit: int
) -> list[dict[str, Any]]:
    rows = await session.execute(
        sa.select(AGENTS.c.id, AGENTS.c.name, AGENTS.c.live_health, AGENTS.c.live_differences, AGENTS.c.observed_at)
        .where(managed, AGENTS.c.live_health.in_(bad))
        .order_by(AGENTS.c.observed_at, AGENTS.c.id)
        .limit(limit)
    )
    return [
        {
            "agent_id": str(r.id),
            "name": r.name,
            "health": str(r.live_health),
            "differences": r.live_differences,
            "observed_at": r.observed_at.isoformat() if r.observed_at else None,
        }
        for r in rows.all()
    ]
