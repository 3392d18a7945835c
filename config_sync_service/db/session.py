"""SQLAlchemy's async engine on asyncpg (the connection pool: `create_db_engine`) and the session factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from config_sync_service.core.config import Settings

SessionFactory = async_sessionmaker[AsyncSession]


def create_db_engine(settings: Settings, *, application_name: str = "config-sync") -> AsyncEngine:
    """An engine whose pool is sized by settings; a connection the server closed is never handed out."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=10,
        connect_args={"server_settings": {"application_name": application_name}, "timeout": 5, "command_timeout": 30},
    )
    event.listen(engine.sync_engine.pool, "checkout", _discard_if_closed)
    return engine


def _discard_if_closed(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Checkout check without a round trip (SQLAlchemy's `pool_pre_ping` costs three per transaction: a third
    of a sync's): asyncpg knows a connection is closed once the server has ended it (restart,
    `pg_terminate_backend`), and the pool then takes a fresh one. A connection that dies silently fails its
    statement instead; SQLAlchemy then recycles the whole pool and the engine retries that agent."""
    connection = record.driver_connection
    if connection is not None and connection.is_closed():
        raise exc.DisconnectionError("connection closed by the server")


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction: committed on success, rolled back on error."""
    async with factory() as session, session.begin():
        yield session
