"""history and pause: the sync_history table (append-only) and the agents' pause columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# append-only: a row is written once and only ever deleted (by the retention), never changed
_NO_UPDATE = (
    """CREATE FUNCTION sync_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sync_history is append-only';
END $$""",
    """CREATE TRIGGER sync_history_no_update BEFORE UPDATE ON sync_history
    FOR EACH ROW EXECUTE FUNCTION sync_history_append_only()""",
)


def upgrade() -> None:
    op.add_column("agents", sa.Column("paused", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("agents", sa.Column("paused_reason", sa.Text(), nullable=True))
    op.add_column("agents", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "sync_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("sync_status", sa.String(length=32), nullable=True),
        sa.Column("deployment_id", sa.String(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_class", sa.String(length=100), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("process", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sync_history_agent_id_id", "sync_history", ["agent_id", "id"], unique=False)
    op.create_index("ix_sync_history_recorded_at", "sync_history", ["recorded_at"], unique=False)
    for statement in _NO_UPDATE:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS sync_history_no_update ON sync_history")
    op.execute("DROP FUNCTION IF EXISTS sync_history_append_only()")
    op.drop_index("ix_sync_history_recorded_at", table_name="sync_history")
    op.drop_index("ix_sync_history_agent_id_id", table_name="sync_history")
    op.drop_table("sync_history")
    op.drop_column("agents", "paused_at")
    op.drop_column("agents", "paused_reason")
    op.drop_column("agents", "paused")
