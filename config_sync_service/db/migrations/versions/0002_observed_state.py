"""observed state: live health, differences, the deployment config-sync created, observation requests, heal
backoff, and the observer's turn (DESIGN §13)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_HEALTH = sa.Enum("UNKNOWN", "HEALTHY", "DRIFTED", "MISSING", "DEGRADED", name="live_health")


def upgrade() -> None:
    LIVE_HEALTH.create(op.get_bind(), checkfirst=True)
    op.add_column("agents", sa.Column("live_health", LIVE_HEALTH, server_default="UNKNOWN", nullable=False))
    op.add_column(
        "agents",
        sa.Column("live_differences", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
    )
    op.add_column("agents", sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("agents", sa.Column("created_deployment_id", sa.String(length=200), nullable=True))
    op.add_column("agents", sa.Column("observe_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("agents", sa.Column("heal_attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("agents", sa.Column("next_heal_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_agents_observe_at",
        "agents",
        ["observe_at"],
        unique=False,
        postgresql_where=sa.text("observe_at IS NOT NULL"),
    )
    # what a SYNCED agent's row recorded as its deployment is the one config-sync made
    op.execute("UPDATE agents SET created_deployment_id = pipecat_cloud_instance_id WHERE sync_status = 'SYNCED'")
    op.create_table(
        "observer_turns",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_due_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("orphans", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("observer_turns")
    op.drop_index("ix_agents_observe_at", table_name="agents", postgresql_where=sa.text("observe_at IS NOT NULL"))
    for column in (
        "next_heal_at",
        "heal_attempts",
        "observe_at",
        "created_deployment_id",
        "observed_at",
        "live_differences",
        "live_health",
    ):
        op.drop_column("agents", column)
    LIVE_HEALTH.drop(op.get_bind(), checkfirst=True)
