"""initial schema: agents and agent_configurations

Revision ID: 0001
Revises:
Create Date: 2026-11-24 19:03:15.630234
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pipecat_agent_name", sa.String(length=54), nullable=False),
        sa.Column("pipecat_cloud_instance_id", sa.String(length=200), nullable=True),
        sa.Column(
            "desired_state",
            sa.Enum("ACTIVE", "DELETED", name="desired_state"),
            server_default="ACTIVE",
            nullable=False,
        ),
        sa.Column(
            "sync_status",
            sa.Enum(
                "PENDING",
                "SYNCING",
                "DEPLOYING",
                "SYNCED",
                "ERROR_SYNC",
                "PENDING_DELETE",
                "DELETED",
                "ERROR_DEPROVISIONING",
                name="sync_status",
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("synced_version", sa.Integer(), nullable=True),
        sa.Column("target_version", sa.Integer(), nullable=True),
        sa.Column("applied_deployment_hash", sa.String(length=64), nullable=True),
        sa.Column("applied_context_hash", sa.String(length=64), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("last_error_class", sa.String(length=100), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deploying_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "pipecat_agent_name ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])$' AND length(pipecat_agent_name) <= 54",
            name="ck_agents_pipecat_agent_name",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pipecat_agent_name"),
    )
    op.create_index("ix_agents_sync_status", "agents", ["sync_status"], unique=False)
    op.create_table(
        "agent_configurations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("deployment", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("llm_context", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("secrets", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("version >= 1", name="ck_agent_configurations_version"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agent_id", "version", name="uq_agent_configurations_agent_version"),
    )
    op.create_index(op.f("ix_agent_configurations_agent_id"), "agent_configurations", ["agent_id"], unique=False)
    op.create_index(
        "uq_agent_configurations_one_active",
        "agent_configurations",
        ["agent_id"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_agent_configurations_one_active",
        table_name="agent_configurations",
        postgresql_where=sa.text("is_active"),
    )
    op.drop_index(op.f("ix_agent_configurations_agent_id"), table_name="agent_configurations")
    op.drop_table("agent_configurations")
    op.drop_index("ix_agents_sync_status", table_name="agents")
    op.drop_table("agents")
    sa.Enum(name="sync_status").drop(op.get_bind(), checkfirst=True)
    sa.Enum(name="desired_state").drop(op.get_bind(), checkfirst=True)
