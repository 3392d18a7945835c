"""The sync history: one row per pass over an agent (append-only), read back newest first, pruned by retention.

The processor records a row in the transaction that ends the pass (`record`); a no-op that repeats the agent's
last row (same version, also a no-op: every worker that hears a message looks once) is not recorded again, so a
flood of duplicate messages does not push real history out. `prune` keeps the retention bound, in batches.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from config_sync_service.core.metrics import Outcome
from config_sync_service.core.redaction import excerpt
from config_sync_service.db.tables import HISTORY

NOOP = Outcome.NOOP.value
MESSAGE_LIMIT = 1000  # characters of an error message kept in a row
PRUNE_LOCK = 0x5C_4157  # a Postgres advisory lock: one process prunes at a time


@dataclass(frozen=True, slots=True)
class Entry:
    """One pass as it ended. `error_message` is stored redacted (core/redaction.py)."""

    agent_id: uuid.UUID
    version: int | None
    action: str
    outcome: str
    process: str
    duration_ms: int = 0
    sync_status: str | None = None
    deployment_id: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    id: int | None = None
    recorded_at: datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "agent_id": str(self.agent_id),
            "recorded_at": None if self.recorded_at is None else self.recorded_at.isoformat(),
            "version": self.version,
            "action": self.action,
            "outcome": self.outcome,
            "sync_status": self.sync_status,
            "deployment_id": self.deployment_id,
            "duration_ms": self.duration_ms,
            "error_class": self.error_class,
            "error_message": self.error_message,
            "process": self.process,
        }


_COLUMNS = [c for c in HISTORY.c if c.name not in ("id", "recorded_at")]
_VALUES = sa.select(*(sa.bindparam(c.name, type_=c.type) for c in _COLUMNS))
_LAST = (
    sa.select(HISTORY.c.version, HISTORY.c.outcome)
    .where(HISTORY.c.agent_id == sa.bindparam("agent_id"))
    .order_by(HISTORY.c.id.desc())
    .limit(1)
    .subquery("last")
)
_REPEATED_NOOP = sa.exists(
    sa.select(sa.literal(1))
    .select_from(_LAST)
    .where(_LAST.c.outcome == NOOP, _LAST.c.version.is_not_distinct_from(sa.bindparam("version")))
)
# one statement, built once: insert the row unless it is a no-op repeating the agent's last row
_RECORD = HISTORY.insert().from_select(
    [c.name for c in _COLUMNS],
    _VALUES.where(sa.or_(sa.bindparam("outcome") != NOOP, sa.not_(_REPEATED_NOOP))),
)


async def record(session: AsyncSession, entry: Entry) -> None:
    """Append one row (in the caller's transaction)."""
    message = None if entry.error_message is None else excerpt(entry.error_message, MESSAGE_LIMIT)
    params = {c.name: getattr(entry, c.name) for c in _COLUMNS} | {"error_message": message}
    await session.execute(_RECORD, params)


async def for_agent(session: AsyncSession, *, agent_id: uuid.UUID, limit: int = 50) -> list[Entry]:
    """The agent's newest `limit` rows, newest first."""
    query = sa.select(HISTORY).where(HISTORY.c.agent_id == agent_id).order_by(HISTORY.c.id.desc()).limit(limit)
    return [Entry(**row._mapping) for row in (await session.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class Retention:
    """HISTORY_RETENTION_DAYS and HISTORY_MAX_ROWS_PER_AGENT; each prune deletes at most `batch` rows per rule."""

    days: float
    max_rows_per_agent: int
    batch: int = 5000


async def prune(session: AsyncSession, retention: Retention) -> int:
    """Delete rows older than the retention, then each agent's rows beyond its newest `max_rows_per_agent`; at
    most one batch of each, and only in the one process holding the advisory lock (0 in the others)."""
    if not (await session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(PRUNE_LOCK)))).scalar_one():
        return 0
    cutoff = sa.func.now() - sa.func.make_interval(0, 0, 0, sa.literal(0), 0, 0, sa.literal(retention.days * 86400.0))
    old = sa.select(HISTORY.c.id).where(HISTORY.c.recorded_at < cutoff).limit(retention.batch)
    ranked = sa.select(
        HISTORY.c.id,
        sa.func.row_number().over(partition_by=HISTORY.c.agent_id, order_by=HISTORY.c.id.desc()).label("n"),
    ).subquery("ranked")
    extra = sa.select(ranked.c.id).where(ranked.c.n > retention.max_rows_per_agent).limit(retention.batch)
    deleted = 0
    for ids in (old, extra):
        result = await session.execute(HISTORY.delete().where(HISTORY.c.id.in_(ids.scalar_subquery())))
        deleted += int(result.rowcount)  # type: ignore[attr-defined]
    return deleted
