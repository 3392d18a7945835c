"""Migrations on an empty database: upgrade creates, downgrade removes, models and migration agree."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from config_sync_service.db import migrate
from config_sync_service.db import models as _models  # noqa: F401  (registers the tables)


async def _catalog(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await conn.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname='public'")
        }
        types = {r["typname"] for r in await conn.fetch("SELECT typname FROM pg_type WHERE typtype='e'")}
        return {"tables": tables, "indexes": indexes, "types": types}
    finally:
        await conn.close()


def _diff(url: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:

                def compare(sync_conn: Connection) -> list[Any]:
                    ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                    return list(compare_metadata(ctx, SQLModel.metadata))

                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_downgrade_and_autogenerate_agree(new_database: Callable[[str], str]) -> None:
    dsn = new_database("cs_migr")
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    assert asyncio.run(_catalog(dsn))["tables"] == set()

    migrate.upgrade(url)
    catalog = asyncio.run(_catalog(dsn))
    assert {"agents", "agent_configurations", "alembic_version"} <= catalog["tables"]
    one_active = catalog["indexes"]["uq_agent_configurations_one_active"]
    assert "UNIQUE" in one_active and "WHERE is_active" in one_active
    assert {"sync_status", "desired_state"} <= catalog["types"]
    assert _diff(url) == []

    command.downgrade(migrate.alembic_config(url), "base")
    catalog = asyncio.run(_catalog(dsn))
    assert catalog["tables"] == {"alembic_version"}
    assert not {"sync_status", "desired_state"} & catalog["types"]
