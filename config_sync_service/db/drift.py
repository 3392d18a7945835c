"""One definition of "out of sync" (DESIGN §5), as one SQL expression: `drift_of()`.

The sweep queues what drifted (and is not held by a live claim); /status counts and lists what is not in step;
the claim statement computes the claimed row's drift, so that the processor's plan starts from the same answer.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.db.models import DesiredState, SyncStatus
from config_sync_service.db.tables import AGENTS, CONFIGURATIONS

# the queue's own retry timer may fire a hair before `next_retry_at`: a retry is due a second early
RETRY_SLACK_S = 1.0


class Drift(enum.StrEnum):
    """How an agent's Pipecat state relates to Postgres. Everything but IN_SYNC is out of sync."""

    IN_SYNC = "in_sync"  # in step, or nothing to apply yet (no active configuration)
    RETRY_PENDING = "retry_pending"  # failed; waits for its retry time, a new version or a replay
    DESIRED_DELETED = "desired_deleted"
    DEPLOYING = "deploying"  # a deployment to poll
    STALE_CLAIM = "stale_claim"  # left SYNCING by a process that stopped
    NEW_VERSION = "new_version"
    RETRY_DUE = "retry_due"
    DESIRED_ACTIVE = "desired_active"  # deleted (or deleting) on Pipecat, wanted again
    NOT_SYNCED = "not_synced"
    PAUSED = "paused"  # would need work (any of the above but IN_SYNC), but an operator paused it: left alone

    @property
    def needs_work(self) -> bool:
        """What a sweep queues (a live claim aside) and a plan acts on (a replay also acts on RETRY_PENDING)."""
        return self not in (Drift.IN_SYNC, Drift.RETRY_PENDING, Drift.PAUSED)


def drift_of(agent: Any, active_version: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """SQL for the `Drift` of an agent row: `agent` is a column collection of the agents table (the table's, or a
    CTE's that returns it), `active_version` the version of its active configuration (NULL: none)."""
    active = sa.func.coalesce(active_version, 0)
    synced = sa.func.coalesce(agent.synced_version, 0)
    target = sa.func.coalesce(agent.target_version, 0)
    status = agent.sync_status
    retry_due = sa.and_(
        agent.next_retry_at.is_not(None),
        agent.next_retry_at
        <= sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.literal(RETRY_SLACK_S, sa.Float)),
    )
    deleting = agent.desired_state == DesiredState.DELETED
    rules: list[tuple[Any, Drift]] = [
        (sa.and_(deleting, status == SyncStatus.DELETED), Drift.IN_SYNC),
        (sa.and_(deleting, status == SyncStatus.ERROR_DEPROVISIONING, sa.not_(retry_due)), Drift.RETRY_PENDING),
        (deleting, Drift.DESIRED_DELETED),
        (active_version.is_(None), Drift.IN_SYNC),
        (status == SyncStatus.DEPLOYING, Drift.DEPLOYING),
        (status == SyncStatus.SYNCING, Drift.STALE_CLAIM),
        (sa.and_(status == SyncStatus.ERROR_SYNC, active > target), Drift.NEW_VERSION),
        (sa.and_(status == SyncStatus.ERROR_SYNC, retry_due), Drift.RETRY_DUE),
        (status == SyncStatus.ERROR_SYNC, Drift.RETRY_PENDING),
        (
            status.in_([SyncStatus.DELETED, SyncStatus.PENDING_DELETE, SyncStatus.ERROR_DEPROVISIONING]),
            Drift.DESIRED_ACTIVE,
        ),
        (active > synced, Drift.NEW_VERSION),
        (status != SyncStatus.SYNCED, Drift.NOT_SYNCED),
    ]
    unpaused = sa.case(
        *((when, sa.literal(drift.value)) for when, drift in rules), else_=sa.literal(Drift.IN_SYNC.value)
    )
    # the one place "paused" enters the plan: a paused agent out of step is PAUSED, so nothing acts on it (the
    # sweep skips it, the plan is a no-op, a replay cannot force it); one in step stays IN_SYNC, and a deployment
    # Pipecat already accepted for the active version is still polled to its end (a read, which changes nothing)
    following = sa.and_(status == SyncStatus.DEPLOYING, active == target)
    paused = sa.and_(agent.paused, unpaused != sa.literal(Drift.IN_SYNC.value), sa.not_(following))
    return sa.case((paused, sa.literal(Drift.PAUSED.value)), else_=unpaused)


_DRIFT: sa.ColumnElement[str] = drift_of(AGENTS.c, CONFIGURATIONS.c.version)
_WITH_ACTIVE = AGENTS.outerjoin(
    CONFIGURATIONS, sa.and_(CONFIGURATIONS.c.agent_id == AGENTS.c.id, CONFIGURATIONS.c.is_active)
)
# nobody holds the agent: no lease, or a lapsed one (the sweep and the observer leave held agents alone)
LEASE_FREE = sa.or_(AGENTS.c.lease_expires_at.is_(None), AGENTS.c.lease_expires_at < sa.func.now())


@dataclass(frozen=True, slots=True)
class DriftedAgent:
    """An agent the sweep should queue, and why."""

    agent_id: uuid.UUID
    sync_status: SyncStatus
    desired_state: DesiredState
    active_version: int | None
    synced_version: int | None
    reason: Drift


async def list_drifted_agents(session: AsyncSession, *, limit: int | None = None) -> list[DriftedAgent]:
    """Agents whose drift needs work and that no live claim holds, oldest change first."""
    query = (
        sa.select(
            AGENTS.c.id,
            AGENTS.c.sync_status,
            AGENTS.c.desired_state,
            CONFIGURATIONS.c.version,
            AGENTS.c.synced_version,
            _DRIFT.label("reason"),
        )
        .select_from(_WITH_ACTIVE)
        .where(LEASE_FREE, _DRIFT.not_in([d.value for d in Drift if not d.needs_work]))
        .order_by(AGENTS.c.updated_at)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [DriftedAgent(row[0], row[1], row[2], row[3], row[4], Drift(row.reason)) for row in rows]


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
    paused: bool = False
    paused_reason: str | None = None


async def list_out_of_sync_agents(session: AsyncSession, *, limit: int = 10) -> tuple[int, list[OutOfSyncAgent]]:
    """How many agents are out of sync (any drift but IN_SYNC), and the `limit` that have been so longest.

    Since: the oldest version not yet applied (else the agent's last change).
    """
    older = CONFIGURATIONS.alias("older")
    pending_since = (
        sa.select(sa.func.min(older.c.created_at))
        .where(older.c.agent_id == AGENTS.c.id, older.c.version > sa.func.coalesce(AGENTS.c.synced_version, 0))
        .scalar_subquery()
    )
    deleting = AGENTS.c.desired_state == DesiredState.DELETED
    since = sa.case((deleting, AGENTS.c.updated_at), else_=sa.func.coalesce(pending_since, AGENTS.c.updated_at))
    query = (
        sa.select(
            sa.func.count().over(),
            AGENTS.c.id,
            AGENTS.c.name,
            AGENTS.c.sync_status,
            AGENTS.c.desired_state,
            CONFIGURATIONS.c.version,
            AGENTS.c.synced_version,
            since,
            AGENTS.c.attempts,
            AGENTS.c.last_error_class,
            AGENTS.c.last_error_message,
            AGENTS.c.paused,
            AGENTS.c.paused_reason,
        )
        .select_from(_WITH_ACTIVE)
        .where(sa.literal(Drift.IN_SYNC.value) != _DRIFT)
        .order_by(since, AGENTS.c.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    total = int(rows[0][0]) if rows else 0
    return total, [OutOfSyncAgent(*row[1:]) for row in rows]
