"""Fixtures for real Postgres and Redis.

One database is created per test run (`cs_test_<random>`), migrated once, and dropped at the end; each test
starts with empty tables. Redis is shared, so each test gets its own channel and dead-letter key names.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from config_sync_service.core.config import Settings, load_settings
from config_sync_service.core.logging import configure_logging
from config_sync_service.db import migrate
from config_sync_service.db.session import SessionFactory, create_db_engine, create_session_factory
from config_sync_service.emulator.config import EmulatorConfig, Faults
from config_sync_service.emulator.server import EmulatorServer
from tests.emulator_control import EmulatorControl
from tests.helpers import RedisServer

PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _dsn_for(database: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def new_database() -> Iterator[object]:
    """A factory of empty databases, each dropped when the run ends."""
    import asyncio

    made: list[str] = []

    def make(prefix: str = "cs_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return _dsn_for(name)

    yield make
    for name in made:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(new_database: object) -> str:
    """The run's migrated database (asyncpg URL)."""
    url = new_database()  # type: ignore[operator]
    async_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    migrate.upgrade(async_url)
    return str(async_url)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Logging back to its defaults after the test. Requested before `capsys`, it ends after it, so logging points
    away from capsys's closed stream."""
    yield
    configure_logging()


@pytest.fixture
def test_names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {"updates_channel": f"test_updates_{suffix}", "dlq_key": f"test_dlq_{suffix}"}


@pytest.fixture
def settings(database_url: str, test_names: dict[str, str]) -> Settings:
    return load_settings(
        database_url=database_url,
        redis_url=REDIS_URL,
        log_format="json",
        **test_names,
    )


@pytest.fixture
async def db_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """SQLAlchemy's engine (the pool) on the run's database, its tables emptied."""
    db = create_db_engine(settings, application_name="config-sync-tests")
    async with db.begin() as conn:
        from sqlalchemy import text

        await conn.execute(text("TRUNCATE agents, agent_configurations, observer_turns CASCADE"))
    yield db
    await db.dispose()


@pytest.fixture
def session_factory(db_engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(db_engine)


@pytest.fixture
async def session(session_factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
async def redis(test_names: dict[str, str]) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    # the list and its markers (`{key}:once:…`, `key:replay:…`)
    key = test_names["dlq_key"]
    keys: list[str | bytes] = [key]
    for pattern in (f"{key}:*", f"{{{key}}}:*"):
        keys += [k async for k in client.scan_iter(match=pattern)]
    await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A test-owned redis-server on its own port (tests stop and restart it)."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    """The Pipecat Cloud emulator on a real port, for the whole run (reset before each test)."""
    with EmulatorServer(EmulatorConfig(deploy_delay_s=0.2, secret_ready_delay_s=0.05)) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> EmulatorServer:
    emulator_server.state.reset()
    emulator_server.state.config.faults = Faults()
    emulator_server.state.config.deploy_delay_s = 0.2
    emulator_server.state.config.secret_ready_delay_s = 0.05
    emulator_server.state.config.reveal_secret_values = False
    emulator_server.state.config.default_region = "us-west"  # PATCH /v1/properties changes it
    emulator_server.app.state.injector.reseed()
    return emulator_server


@pytest.fixture
def reveal_secret_values(emulator: EmulatorServer) -> Iterator[None]:
    """Opt in: the emulator shows recorded secret values (for a test that checks what reached a secret set)."""
    emulator.state.config.reveal_secret_values = True
    yield
    emulator.state.config.reveal_secret_values = False


@pytest.fixture
async def control(emulator: EmulatorServer) -> AsyncIterator[EmulatorControl]:
    async with EmulatorControl(emulator.url) as ctl:
        yield ctl


@pytest.fixture
def daemon_settings(settings: Settings, emulator: EmulatorServer) -> Settings:
    """Settings of a daemon under test: the emulator, fast polling, a shared bot secret."""
    return settings.model_copy(
        update=emulator.client_settings()
        | {
            "deploy_poll_interval_s": 0.05,
            "retry_base_delay_s": 0.05,
            "retry_max_delay_s": 0.5,
            "max_concurrency": 4,
            "shutdown_grace_s": 10.0,
            "agent_secrets": {"AWS_ACCESS_KEY_ID": SecretStr("AKIA-shared-test")},
        }
    )
