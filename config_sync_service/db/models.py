"""The tables: `agents` (with config-sync's sync columns), `agent_configurations` (versions) and `sync_history`
(one row per pass, append-only)."""

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
