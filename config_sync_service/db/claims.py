"""The claim on an agent (a lease row, DESIGN §5): take it and read the agent in one statement, renew it while
Pipecat calls run, give it back unless the agent changed meanwhile.

Processes never share a worker, so the lease is what keeps two of them from syncing one agent at once; a crashed
holder's lease simply expires. Every read here also computes the agent's drift (db/drift.py).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.db import crud
from config_sync_service.db.drift import Drift, drift_of
from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState
from config_sync_service.db.tables import AGENTS, CONFIGURATIONS


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An agent and its active configuration as one statement read them, and their drift."""

    agent: Agent
    config: AgentConfiguration | None
    drift: Drift


@dataclass(frozen=True, slots=True)
class Claim:
    """What an attempt to claim an agent found: a `snapshot` when the claim is ours; `present`: the agent exists."""

    present: bool
    snapshot: Snapshot | None = None


_LEASE_FREE = sa.or_(
    AGENTS.c.lease_owner.is_(None),
    AGENTS.c.lease_owner == sa.bindparam("owner"),
    AGENTS.c.lease_expires_at < sa.func.now(),
)
_CLAIMED_UNTIL = sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.bindparam("lease_s", type_=sa.Float))
_CLAIMED = (
    sa.update(AGENTS)
    .where(AGENTS.c.id == sa.bindparam("agent_id"), _LEASE_FREE)
    .values(
        lease_owner=sa.bindparam("owner", type_=AGENTS.c.lease_owner.type),
        lease_expires_at=_CLAIMED_UNTIL,
    )
    .returning(*AGENTS.c)
    .cte("claimed")
)
_CONFIG_COLUMNS = [column.label(f"config_{column.name}") for column in CONFIGURATIONS.c]
# one row whatever happened: whether the agent exists, and the agent, its active configuration and drift if claimed
_CLAIM = (
    sa.select(
        sa.exists().where(AGENTS.c.id == sa.bindparam("agent_id")).label("present"),
        *_CLAIMED.c,
        *_CONFIG_COLUMNS,
        drift_of(_CLAIMED.c, CONFIGURATIONS.c.version).label("drift"),
    )
    .select_from(sa.select(sa.literal(1)).subquery("one"))
    .outerjoin(_CLAIMED, sa.true())
    .outerjoin(CONFIGURATIONS, sa.and_(CONFIGURATIONS.c.agent_id == _CLAIMED.c.id, CONFIGURATIONS.c.is_active))
)
_READ = (
    sa.select(*AGENTS.c, *_CONFIG_COLUMNS, drift_of(AGENTS.c, CONFIGURATIONS.c.version).label("drift"))
    .select_from(
        AGENTS.outerjoin(CONFIGURATIONS, sa.and_(CONFIGURATIONS.c.agent_id == AGENTS.c.id, CONFIGURATIONS.c.is_active))
    )
    .where(AGENTS.c.id == sa.bindparam("agent_id"))
)


def _snapshot(row: sa.RowMapping, agent_columns: sa.ColumnCollection[str, sa.ColumnElement[object]]) -> Snapshot:
    agent = Agent(**{column.name: row[agent_columns[column.name]] for column in AGENTS.c})
    config = None
    if row["config_id"] is not None:
        config = AgentConfiguration(**{column.name: row[f"config_{column.name}"] for column in CONFIGURATIONS.c})
    return Snapshot(agent, config, Drift(row["drift"]))


async def claim_agent(session: AsyncSession, *, agent_id: uuid.UUID, owner: str, lease_s: float) -> Claim:
    """Take (or extend) the lease on an agent and read it, in one statement; no snapshot when another live
    process holds it (or there is no such agent: `present` says which)."""
    params = {"agent_id": agent_id, "owner": owner, "lease_s": lease_s}
    row = (await session.execute(_CLAIM, params)).one()._mapping
    if row[_CLAIMED.c.id] is None:
        return Claim(present=bool(row["present"]))
    return Claim(present=True, snapshot=_snapshot(row, _CLAIMED.c))


async def read_agent(session: AsyncSession, *, agent_id: uuid.UUID) -> Snapshot | None:
    """The agent, its active configuration and drift in one query (a claim holder reading again); None: no agent."""
    row = (await session.execute(_READ, {"agent_id": agent_id})).first()
    return None if row is None else _snapshot(row._mapping, AGENTS.c)


_RENEW = (
    sa.update(AGENTS)
    .where(AGENTS.c.id == sa.bindparam("agent_id"), AGENTS.c.lease_owner == sa.bindparam("owner"))
    .values(lease_expires_at=_CLAIMED_UNTIL)
)


async def renew_claim(session: AsyncSession, *, agent_id: uuid.UUID, owner: str, lease_s: float) -> bool:
    """Extend `owner`'s lease; False when it is no longer theirs."""
    result = await session.execute(_RENEW, {"agent_id": agent_id, "owner": owner, "lease_s": lease_s})
    return bool(result.rowcount)  # type: ignore[attr-defined]


_NEWER_ACTIVE = sa.exists().where(
    CONFIGURATIONS.c.agent_id == sa.bindparam("agent_id"),
    CONFIGURATIONS.c.is_active.is_(True),
    CONFIGURATIONS.c.version > sa.bindparam("seen_version", type_=sa.Integer),
)
_KEEP_CLAIM = sa.or_(AGENTS.c.desired_state != sa.bindparam("seen_desired_state"), _NEWER_ACTIVE)


@functools.cache
def _release(columns: frozenset[str]) -> sa.Update:
    """Give the claim back unless the agent changed, and write `columns` (under crud's compare-and-set), in one
    statement; it returns a row only to the holder, saying whether the claim was kept. Built once per shape."""
    free = {
        "lease_owner": sa.case((_KEEP_CLAIM, AGENTS.c.lease_owner), else_=sa.null()),
        "lease_expires_at": sa.case((_KEEP_CLAIM, AGENTS.c.lease_expires_at), else_=sa.null()),
    }
    return (
        sa.update(AGENTS)
        .where(AGENTS.c.id == sa.bindparam("agent_id"), AGENTS.c.lease_owner == sa.bindparam("owner"))
        .values(crud.guarded_values(columns) | free)
        .returning(AGENTS.c.lease_owner.is_not(None).label("kept"))
    )


async def release_claim(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    owner: str,
    seen_version: int | None,
    seen_desired_state: DesiredState,
    write: crud.SyncWrite | None = None,
) -> bool | None:
    """Give the lease back, unless the agent changed while we held it (then keep it and go again: False); and
    write the pass's outcome (`write`), in the same statement. None: the claim was no longer ours (taken over
    after it lapsed), so nothing was written.

    A process that lost the claim drops its copy of a message; this check, atomic with the release, is
    what guarantees the holder sees any version committed before that copy was dropped.
    """
    params: dict[str, Any] = {
        "agent_id": agent_id,
        "owner": owner,
        "seen_version": seen_version or 0,
        "seen_desired_state": seen_desired_state,
    }
    columns: frozenset[str] = frozenset()
    if write is not None:
        params |= crud.sync_params(write.values, version=write.version)
        columns = frozenset(write.values)
    kept = (await session.execute(_release(columns), params)).scalar_one_or_none()
    # no row: the lease was taken over after expiry; it is not ours to keep (only a change makes us go again)
    return None if kept is None else not kept
