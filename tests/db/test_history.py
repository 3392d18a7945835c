"""The sync history table: rows are appended and read newest first, a repeated no-op is recorded once, rows cannot
be changed, and the retention bound (age, and rows per agent) is kept by the sweep's prune, in batches."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from config_sync_service.core import redaction
from config_sync_service.db import history
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.db.tables import HISTORY
from config_sync_service.processing.sweeper import Sweeper
from tests.helpers import make_agent


def entry(agent_id: object, version: int, outcome: str, **more: object) -> history.Entry:
    return history.Entry(agent_id=agent_id, version=version, action="update", outcome=outcome, process="p", **more)  # type: ignore[arg-type]


async def test_rows_are_appended_redacted_and_a_repeated_noop_is_recorded_once(session_factory: SessionFactory) -> None:
    agent = await make_agent(session_factory)
    async with transaction(session_factory) as s:
        for outcome, version in (("applied", 1), ("noop", 1), ("noop", 1), ("noop", 2), ("failed", 2), ("noop", 2)):
            await history.record(s, entry(agent.id, version, outcome))
        with redaction.scope(["sk_live_abcdef0123456789"]):  # a value the pass knows to be secret
            failed = entry(agent.id, 2, "failed", error_class="X", error_message="key sk_live_abcdef0123456789 refused")
            await history.record(s, failed)
    async with session_factory() as s:
        rows = await history.for_agent(s, agent_id=agent.id, limit=10)
    assert [(r.version, r.outcome) for r in reversed(rows)] == [
        (1, "applied"), (1, "noop"), (2, "noop"), (2, "failed"), (2, "noop"), (2, "failed"),
    ]  # fmt: skip
    assert rows[0].error_message is not None and "sk_live_abcdef0123456789" not in rows[0].error_message
    assert rows[0].recorded_at is not None and rows[0].to_dict()["agent_id"] == str(agent.id)


async def test_rows_cannot_be_changed(session_factory: SessionFactory) -> None:
    agent = await make_agent(session_factory)
    async with transaction(session_factory) as s:
        await history.record(s, entry(agent.id, 1, "applied"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with transaction(session_factory) as s:
            await s.execute(sa.update(HISTORY).values(outcome="noop"))


async def test_the_sweep_prunes_old_rows_and_rows_past_the_bound_per_agent(session_factory: SessionFactory) -> None:
    busy, quiet = await make_agent(session_factory), await make_agent(session_factory)
    async with transaction(session_factory) as s:
        for version in range(1, 8):
            await history.record(s, entry(busy.id, version, "applied"))
        await history.record(s, entry(quiet.id, 1, "applied"))
        await history.record(s, entry(quiet.id, 2, "applied"))
        # the quiet agent's first row is 40 days old (rows are never updated: inserted as such)
        await s.execute(
            HISTORY.insert().values(
                agent_id=quiet.id, version=0, action="provision", outcome="applied", process="p",
                recorded_at=sa.func.now() - sa.text("interval '40 days'"),
            )
        )  # fmt: skip
    retention = history.Retention(days=30, max_rows_per_agent=5, batch=1)
    sweeper = Sweeper(
        sessions=session_factory, enqueue=lambda _: None, interval_s=60, retention=retention, prune_interval_s=600
    )
    assert await sweeper.prune_history(now=1000.0) == 2  # one batch of each rule
    assert await sweeper.prune_history(now=1500.0) == 0  # not yet: once per interval
    assert await sweeper.prune_history(now=1600.0) == 1  # the busy agent's other extra row
    assert await sweeper.prune_history(now=2200.0) == 0  # within the bound now
    async with session_factory() as s:
        kept_busy = await history.for_agent(s, agent_id=busy.id, limit=100)
        kept_quiet = await history.for_agent(s, agent_id=quiet.id, limit=100)
    assert [r.version for r in kept_busy] == [7, 6, 5, 4, 3]
    assert [r.version for r in kept_quiet] == [2, 1]
