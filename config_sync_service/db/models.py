"""The tables: `agents` (with config-sync's sync columns), `agent_configurations` (versions),
`agent_session_versions` (what each live session runs), `observer_turns` and `sync_history` (one row per pass,
append-only)."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

PIPECAT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])$"
PIPECAT_NAME_MAX = 54


def utcnow() -> datetime:
    return datetime.now(UTC)


class SyncStatus(enum.StrEnum):
    PENDING = "PENDING"
    SYNCING = "SYNCING"
    DEPLOYING = "DEPLOYING"
    SYNCED = "SYNCED"
    ERROR_SYNC = "ERROR_SYNC"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR_DEPROVISIONING = "ERROR_DEPROVISIONING"


class DesiredState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    DELETED = "DELETED"


class LiveHealth(enum.StrEnum):
    """What the last observation of Pipecat Cloud found (DESIGN §13), beside the sync status."""

    UNKNOWN = "UNKNOWN"  # never observed (or not since the agent was last changed by config-sync)
    HEALTHY = "HEALTHY"
    DRIFTED = "DRIFTED"  # differs from the configuration: `live_differences` says where
    MISSING = "MISSING"  # no such agent on Pipecat Cloud
    DEGRADED = "DEGRADED"  # its revision failed or is not ready


def _tz_column(*, nullable: bool, default: bool = False) -> Any:
    return sa.Column(
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.func.now() if default else None,
    )


class Agent(SQLModel, table=True):
    """One voice agent. The backend writes name and `desired_state`; config-sync writes the sync columns."""

    __tablename__ = "agents"
    __table_args__ = (
        sa.CheckConstraint(
            f"pipecat_agent_name ~ '{PIPECAT_NAME_PATTERN}' AND length(pipecat_agent_name) <= {PIPECAT_NAME_MAX}",
            name="ck_agents_pipecat_agent_name",
        ),
        sa.Index("ix_agents_sync_status", "sync_status"),
        sa.Index("ix_agents_observe_at", "observe_at", postgresql_where=sa.text("observe_at IS NOT NULL")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    pipecat_agent_name: str = Field(sa_column=sa.Column(sa.String(PIPECAT_NAME_MAX), nullable=False, unique=True))
    pipecat_cloud_instance_id: str | None = Field(default=None, max_length=200)
    desired_state: DesiredState = Field(
        default=DesiredState.ACTIVE,
        sa_column=sa.Column(
            sa.Enum(DesiredState, name="desired_state"), nullable=False, server_default=DesiredState.ACTIVE.value
        ),
    )
    sync_status: SyncStatus = Field(
        default=SyncStatus.PENDING,
        sa_column=sa.Column(
            sa.Enum(SyncStatus, name="sync_status"), nullable=False, server_default=SyncStatus.PENDING.value
        ),
    )
    synced_version: int | None = Field(default=None)
    # the version an attempt or a deployment in progress is about; synced_version follows it on success
    target_version: int | None = Field(default=None)
    applied_deployment_hash: str | None = Field(default=None, max_length=64)
    applied_context_hash: str | None = Field(default=None, max_length=64)
    last_error_message: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    last_error_class: str | None = Field(default=None, max_length=100)
    last_synced_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    # when a failed agent may be retried by the sweep; NULL after a permanent error
    next_retry_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    # when the current deployment was accepted by Pipecat (DEPLOYING timeout)
    deploying_since: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    # lease: which process works on the agent, and until when the claim holds
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    # observed state (db/observed.py): what Pipecat Cloud runs, as the observer last saw it
    live_health: LiveHealth = Field(
        default=LiveHealth.UNKNOWN,
        sa_column=sa.Column(
            sa.Enum(LiveHealth, name="live_health"), nullable=False, server_default=LiveHealth.UNKNOWN.value
        ),
    )
    # [{field, desired, live}]: never a secret value (secret sets are compared by their keys)
    live_differences: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False, server_default="[]")
    )
    observed_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    # the deployment config-sync's own create or update made last (another one live means someone else deployed)
    created_deployment_id: str | None = Field(default=None, max_length=200)
    # observe the agent at (or after) this time: a doubtful pass, a fenced one, a heal to verify
    observe_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    # self-heal's backoff: heals in a row, and no new heal before next_heal_at
    heal_attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    next_heal_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))

    # an operator's pause (`config-sync pause`): observed and reported, never changed (db/drift.py PAUSED)
    paused: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default="false"))
    paused_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    paused_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False, default=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False, default=True))


class AgentConfiguration(SQLModel, table=True):
    """One version of an agent's configuration; at most one per agent is active."""

    __tablename__ = "agent_configurations"
    __table_args__ = (
        sa.UniqueConstraint("agent_id", "version", name="uq_agent_configurations_agent_version"),
        sa.CheckConstraint("version >= 1", name="ck_agent_configurations_version"),
        sa.Index(
            "uq_agent_configurations_one_active",
            "agent_id",
            unique=True,
            postgresql_where=sa.text("is_active"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agent_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    is_active: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default="false"))
    deployment: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default="{}")
    )
    llm_context: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default="{}")
    )
    # per-agent secret values: written into the agent's secret set, never logged or shown
    secrets: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default="{}"), repr=False
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False, default=True))


class AgentSessionVersion(SQLModel, table=True):
    """The configuration version a live session of an agent runs, as its bot last answered a context push
    (`applied`, `stale`: it keeps a newer one, `refused`: it kept its older one). Rows of ended sessions go at the
    agent's next push."""

    __tablename__ = "agent_session_versions"

    agent_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    )
    session_id: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    version: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    outcome: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    acknowledged_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False, default=True))


class ObserverTurn(SQLModel, table=True):
    """The observer's turn (one row): which process observes now, until when, and when the next full observation
    is due; and what the last one found that no row names (orphans)."""

    __tablename__ = "observer_turns"

    name: str = Field(sa_column=sa.Column(sa.String(50), primary_key=True))
    owner: str | None = Field(default=None, max_length=200)
    expires_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    next_due_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False, default=True))
    observed_at: datetime | None = Field(default=None, sa_column=_tz_column(nullable=True))
    orphans: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False, server_default="[]"))


class SyncHistory(SQLModel, table=True):
    """One pass over an agent, as it ended (db/history.py writes and prunes it; rows are never updated)."""

    __tablename__ = "sync_history"
    __table_args__ = (
        sa.Index("ix_sync_history_agent_id_id", "agent_id", "id"),
        sa.Index("ix_sync_history_recorded_at", "recorded_at"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))
    agent_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)
    )
    version: int | None = Field(default=None)
    action: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    sync_status: str | None = Field(default=None, max_length=32)  # the status the pass wrote (none: left as it was)
    deployment_id: str | None = Field(default=None, max_length=200)
    duration_ms: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    error_class: str | None = Field(default=None, max_length=100)
    error_message: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))  # redacted
    process: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=_tz_column(nullable=False, default=True))
