"""The tables as SQLAlchemy Core, for the hot-path statements (built once, with bound parameters)."""

from __future__ import annotations

import sqlalchemy as sa

from config_sync_service.db.models import Agent, AgentConfiguration, SyncHistory

AGENTS: sa.Table = Agent.__table__  # type: ignore[attr-defined]
CONFIGURATIONS: sa.Table = AgentConfiguration.__table__  # type: ignore[attr-defined]
HISTORY: sa.Table = SyncHistory.__table__  # type: ignore[attr-defined]
