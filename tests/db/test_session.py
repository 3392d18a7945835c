"""The database engine's pool never hands out a connection the server has ended."""

from __future__ import annotations

import asyncio

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from config_sync_service.db.session import create_session_factory, transaction


async def _backend_pid(db_engine: AsyncEngine) -> int:
    async with transaction(create_session_factory(db_engine)) as s:
        return int((await s.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_ended_by_the_server_is_replaced_at_checkout(
    db_engine: AsyncEngine, database_url: str
) -> None:
    before = await _backend_pid(db_engine)  # the connection is back in the pool, idle
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", before)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the client reads the server's goodbye
    after = await _backend_pid(db_engine)  # would raise "connection was closed" if the dead one were handed out
    assert after != before
