"""Every query config-sync runs, as keyword-only async functions over an `AsyncSession`.

The backend writes agents and configurations (`create_agent`, `update_agent`, `add_configuration`);
config-sync writes only the sync columns, always with a compare-and-set on the version it applied.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus, utcnow

_UNSET: Any = object()
# the tables themselves: the hot-path statements are Core, built once, with bound parameters
AGENTS: sa.Table = Agent.__table__  # type: ignore[attr-defined]
CONFIGURATIONS: sa.Table = AgentConfiguration.__table__  # type: ignore[attr-defined]


async def get_agent_details(session: AsyncSession, *, agent_id: uuid.UUID) -> Agent | None:
    return await session.get(Agent, agent_id, populate_existing=True)


async def get_active_configuration(session: AsyncSession, *, agent_id: uuid.UUID) -> AgentConfiguration | None:
    result = await session.execute(
        select(AgentConfiguration).where(
            col(AgentConfiguration.agent_id) == agent_id, col(AgentConfiguration.is_active).is_(True)
        )
    )
    return result.scalar_one_or_none()


_AGENT_WITH_ACTIVE_CONFIGURATION = (
    select(Agent, AgentConfiguration)
    .outerjoin(
        AgentConfiguration,
        sa.and_(col(AgentConfiguration.agent_id) == col(Agent.id), col(AgentConfiguration.is_active).is_(True)),
    )
    .where(col(Agent.id) == sa.bindparam("agent_id"))
    .execution_options(populate_existing=True)
)


async def get_agent_with_active_configuration(
    session: AsyncSession, *, agent_id: uuid.UUID
) -> tuple[Agent, AgentConfiguration | None] | None:
    """The agent and its active configuration in one query (what each sync pass reads); None: no such agent."""
    row = (await session.execute(_AGENT_WITH_ACTIVE_CONFIGURATION, {"agent_id": agent_id})).first()
    return None if row is None else (row[0], row[1])


async def get_llm_context_data(session: AsyncSession, *, agent_id: uuid.UUID) -> dict[str, Any] | None:
    """The active configuration's conversation context, or None when the agent has no active version."""
    config = await get_active_configuration(session, agent_id=agent_id)
    return None if config is None else dict(config.llm_context)


async def create_agent(
    session: AsyncSession,
    *,
    name: str,
    pipecat_agent_name: str,
    agent_id: uuid.UUID | None = None,
    desired_state: DesiredState = DesiredState.ACTIVE,
) -> Agent:
    agent = Agent(
        id=agent_id or uuid.uuid4(), name=name, pipecat_agent_name=pipecat_agent_name, desired_state=desired_state
    )
    session.add(agent)
    await session.flush()
    return agent


async def update_agent(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    name: str | None = None,
    desired_state: DesiredState | None = None,
) -> Agent | None:
    """The backend's edit of an agent's own fields (not the sync columns)."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if name is not None:
        values["name"] = name
    if desired_state is not None:
        values["desired_state"] = desired_state
    await session.execute(sa.update(Agent).where(col(Agent.id) == agent_id).values(**values))
    return await get_agent_details(session, agent_id=agent_id)


async def add_configuration(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    deployment: dict[str, Any] | None = None,
    llm_context: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> AgentConfiguration:
    """A new version that becomes the active one; omitted parts are carried over from the previous version."""
    # the row lock serialises concurrent writers of one agent, so versions stay gap-free and unique
    locked = await session.execute(select(Agent.id).where(col(Agent.id) == agent_id).with_for_update())
    if locked.scalar_one_or_none() is None:
        raise LookupError(f"agent {agent_id} does not exist")
    previous = await get_active_configuration(session, agent_id=agent_id)
    top = await session.execute(
        select(sa.func.coalesce(sa.func.max(AgentConfiguration.version), 0)).where(
            col(AgentConfiguration.agent_id) == agent_id
        )
    )
    version = int(top.scalar_one()) + 1
    await session.execute(
        sa.update(AgentConfiguration)
        .where(col(AgentConfiguration.agent_id) == agent_id, col(AgentConfiguration.is_active).is_(True))
        .values(is_active=False)
    )
    config = AgentConfiguration(
        agent_id=agent_id,
        version=version,
        is_active=True,
        deployment=deployment if deployment is not None else dict(previous.deployment if previous else {}),
        llm_context=llm_context if llm_context is not None else dict(previous.llm_context if previous else {}),
        secrets=secrets if secrets is not None else dict(previous.secrets if previous else {}),
    )
    session.add(config)
    await session.flush()
    return config


async def update_agent_sync_status(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    version: int,
    status: SyncStatus,
    synced: bool = False,
    error_message: str | None = _UNSET,
    error_class: str | None = _UNSET,
    next_retry_at: datetime | None = _UNSET,
    attempts: int | None = None,
    pipecat_cloud_instance_id: str | None = _UNSET,
    applied_deployment_hash: str | None = _UNSET,
    applied_context_hash: str | None = _UNSET,
    deploying_since: datetime | None = _UNSET,
    owner: str | None = None,
) -> bool:
    """Record the outcome of work on `version`; refused (False) when a newer version was already applied, or,
    with `owner`, when the claim on the agent is no longer `owner`'s (only the holder writes).

    `synced=True` also moves `synced_version` to `version` and stamps `last_synced_at`.
    """
    now = utcnow()
    values: dict[str, Any] = {"sync_status": status, "target_version": version, "updated_at": now}
    if synced:
        values |= {"synced_version": version, "last_synced_at": now}
    optional = {
        "last_error_message": error_message,
        "last_error_class": error_class,
        "next_retry_at": next_retry_at,
        "pipecat_cloud_instance_id": pipecat_cloud_instance_id,
        "applied_deployment_hash": applied_deployment_hash,
        "applied_context_hash": applied_context_hash,
        "deploying_since": deploying_since,
    }
    values |= {k: v for k, v in optional.items() if v is not _UNSET}
    if attempts is not None:
        values["attempts"] = attempts
    params = {f"set_{name}": value for name, value in values.items()} | {"agent_id": agent_id, "version": version}
    if owner is not None:
        params["owner"] = owner
    result = await session.execute(_sync_update(frozenset(values), held=owner is not None), params)
    return bool(result.rowcount)  # type: ignore[attr-defined]


@functools.cache
def _sync_update(columns: frozenset[str], *, held: bool) -> sa.Update:
    """The compare-and-set UPDATE of `columns` (`held`: only while `:owner` holds the claim), built once per
    shape (statement building is the costly part of a short query; every value is a bound parameter)."""
    values = {name: sa.bindparam(f"set_{name}", type_=AGENTS.c[name].type) for name in sorted(columns)}
    synced = AGENTS.c.synced_version
    conditions = [AGENTS.c.id == sa.bindparam("agent_id"), sa.or_(synced.is_(None), synced <= sa.bindparam("version"))]
    if held:
        conditions.append(AGENTS.c.lease_owner == sa.bindparam("owner"))
    return sa.update(AGENTS).where(*conditions).values(values)


@dataclass(frozen=True, slots=True)
class DriftedAgent:
    """An agent the sweep should queue, and why."""

    agent_id: uuid.UUID
    sync_status: SyncStatus
    desired_state: DesiredState
    active_version: int | None
    synced_version: int | None
    reason: str


def _drift_reason() -> sa.Case[Any]:
    """SQL for DESIGN §5's drift rules; NULL means "in step"."""
    active = sa.func.coalesce(col(AgentConfiguration.version), 0)
    synced = sa.func.coalesce(col(Agent.synced_version), 0)
    target = sa.func.coalesce(col(Agent.target_version), 0)
    status = col(Agent.sync_status)
    retry_due = sa.and_(col(Agent.next_retry_at).is_not(None), col(Agent.next_retry_at) <= sa.func.now())
    lease_free = sa.or_(col(Agent.lease_expires_at).is_(None), col(Agent.lease_expires_at) < sa.func.now())
    deleting = col(Agent.desired_state) == DesiredState.DELETED
    return sa.case(
        # someone holds a live claim: theirs to finish
        (sa.not_(lease_free), sa.null()),
        (sa.and_(deleting, status == SyncStatus.DELETED), sa.null()),
        (sa.and_(deleting, status == SyncStatus.ERROR_DEPROVISIONING, sa.not_(retry_due)), sa.null()),
        (deleting, sa.literal("desired_deleted")),
        (col(AgentConfiguration.version).is_(None), sa.null()),  # nothing to apply yet
        (status == SyncStatus.DEPLOYING, sa.literal("deploying")),
        (status == SyncStatus.SYNCING, sa.literal("stale_claim")),
        (sa.and_(status == SyncStatus.ERROR_SYNC, active > target), sa.literal("new_version")),
        (sa.and_(status == SyncStatus.ERROR_SYNC, retry_due), sa.literal("retry_due")),
        (status == SyncStatus.ERROR_SYNC, sa.null()),
        (
            status.in_([SyncStatus.DELETED, SyncStatus.PENDING_DELETE, SyncStatus.ERROR_DEPROVISIONING]),
            sa.literal("desired_active"),
        ),
        (active > synced, sa.literal("new_version")),
        (status != SyncStatus.SYNCED, sa.literal("not_synced")),
        else_=sa.null(),
    )


async def list_drifted_agents(session: AsyncSession, *, limit: int | None = None) -> list[DriftedAgent]:
    """Agents whose Pipecat state may disagree with Postgres (DESIGN §5), oldest change first."""
    reason = _drift_reason()
    query = (
        sa.select(
            col(Agent.id),
            col(Agent.sync_status),
            col(Agent.desired_state),
            col(AgentConfiguration.version),
            col(Agent.synced_version),
            reason.label("reason"),
        )
        .select_from(Agent)
        .outerjoin(
            AgentConfiguration,
            sa.and_(col(AgentConfiguration.agent_id) == col(Agent.id), col(AgentConfiguration.is_active)),
        )
        .where(reason.is_not(None))
        .order_by(col(Agent.updated_at))
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [DriftedAgent(*row) for row in rows]


async def count_agents_by_status(session: AsyncSession) -> dict[str, int]:
    rows = (await session.execute(select(Agent.sync_status, sa.func.count()).group_by(Agent.sync_status))).all()
    return {str(status): int(n) for status, n in rows}


@dataclass(frozen=True, slots=True)
class OutOfSyncAgent:
    """An agent whose Pipecat state does not yet match Postgres: since when, and the last error (for `/status`)."""

    agent_id: uuid.UUID
    name: str
    sync_status: SyncStatus
    desired_state: DesiredState
    active_version: int | None
    synced_version: int | None
    since: datetime
    attempts: int
    last_error_class: str | None
    last_error_message: str | None


async def list_out_of_sync_agents(session: AsyncSession, *, limit: int = 10) -> tuple[int, list[OutOfSyncAgent]]:
    """How many agents are out of sync, and the `limit` that have been so longest.

    Out of sync: to be deleted but not `DELETED`; or with an active version that is not `SYNCED` or newer than
    `synced_version`. Since: the oldest version not yet applied (else the agent's last change).
    """
    older = aliased(AgentConfiguration)
    pending_since = (
        sa.select(sa.func.min(col(older.created_at)))
        .where(
            col(older.agent_id) == col(Agent.id),
            col(older.version) > sa.func.coalesce(col(Agent.synced_version), 0),
        )
        .scalar_subquery()
    )
    deleting = col(Agent.desired_state) == DesiredState.DELETED
    status = col(Agent.sync_status)
    since = sa.case((deleting, col(Agent.updated_at)), else_=sa.func.coalesce(pending_since, col(Agent.updated_at)))
    query = (
        sa.select(
            sa.func.count().over(),
            col(Agent.id),
            col(Agent.name),
            status,
            col(Agent.desired_state),
            col(AgentConfiguration.version),
            col(Agent.synced_version),
            since,
            col(Agent.attempts),
            col(Agent.last_error_class),
            col(Agent.last_error_message),
        )
        .select_from(Agent)
        .outerjoin(
            AgentConfiguration,
            sa.and_(col(AgentConfiguration.agent_id) == col(Agent.id), col(AgentConfiguration.is_active)),
        )
        .where(
            sa.or_(
                sa.and_(deleting, status != SyncStatus.DELETED),
                sa.and_(
                    sa.not_(deleting),
                    col(AgentConfiguration.version).is_not(None),
                    sa.or_(
                        status != SyncStatus.SYNCED,
                        col(AgentConfiguration.version) > sa.func.coalesce(col(Agent.synced_version), 0),
                    ),
                ),
            )
        )
        .order_by(since, col(Agent.id))
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    total = int(rows[0][0]) if rows else 0
    return total, [OutOfSyncAgent(*row[1:]) for row in rows]


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
# one row whatever happened: whether the agent exists, and the agent and its active configuration if claimed
_CLAIM = (
    sa.select(
        sa.exists().where(AGENTS.c.id == sa.bindparam("agent_id")).label("present"),
        *_CLAIMED.c,
        *(column.label(f"config_{column.name}") for column in CONFIGURATIONS.c),
    )
    .select_from(sa.select(sa.literal(1)).subquery("one"))
    .outerjoin(_CLAIMED, sa.true())
    .outerjoin(CONFIGURATIONS, sa.and_(CONFIGURATIONS.c.agent_id == _CLAIMED.c.id, CONFIGURATIONS.c.is_active))
)


@dataclass(frozen=True, slots=True)
class Claim:
    """What an attempt to claim an agent found: `agent` (with its active `config`) when the claim is ours."""

    present: bool
    agent: Agent | None = None
    config: AgentConfiguration | None = None


async def claim_agent(session: AsyncSession, *, agent_id: uuid.UUID, owner: str, lease_s: float) -> Claim:
    """Take (or extend) the lease on an agent and read it, in one statement; no `agent` when another live
    process holds it (or there is no such agent: `present` says which).

    Processes never share a worker, so the lease is what keeps two of them from syncing one agent at once.
    A crashed holder's lease simply expires.
    """
    params = {"agent_id": agent_id, "owner": owner, "lease_s": lease_s}
    row = (await session.execute(_CLAIM, params)).one()._mapping
    if row[_CLAIMED.c.id] is None:
        return Claim(present=bool(row["present"]))
    agent = Agent(**{column.name: row[_CLAIMED.c[column.name]] for column in AGENTS.c})
    config = None
    if row["config_id"] is not None:
        config = AgentConfiguration(**{column.name: row[f"config_{column.name}"] for column in CONFIGURATIONS.c})
    return Claim(present=True, agent=agent, config=config)


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
_RELEASE = (
    sa.update(AGENTS)
    .where(
        AGENTS.c.id == sa.bindparam("agent_id"),
        AGENTS.c.lease_owner == sa.bindparam("owner"),
        AGENTS.c.desired_state == sa.bindparam("seen_desired_state"),
        sa.not_(_NEWER_ACTIVE),
    )
    .values(lease_owner=None, lease_expires_at=None)
)
_LEASE_HOLDER = sa.select(AGENTS.c.lease_owner).where(AGENTS.c.id == sa.bindparam("agent_id"))


async def release_claim(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    owner: str,
    seen_version: int | None,
    seen_desired_state: DesiredState,
) -> bool:
    """Give the lease back, unless the agent changed while we held it (then keep it and go again: False).

    A process that lost the claim drops its copy of a message; this check, atomic with the release, is
    what guarantees the holder sees any version committed before that copy was dropped.
    """
    params = {
        "agent_id": agent_id,
        "owner": owner,
        "seen_version": seen_version or 0,
        "seen_desired_state": seen_desired_state,
    }
    result = await session.execute(_RELEASE, params)
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    # a lease taken over after expiry is not ours to keep; only a change should make us go again
    holder = await session.execute(_LEASE_HOLDER, {"agent_id": agent_id})
    return holder.scalar_one_or_none() != owner
