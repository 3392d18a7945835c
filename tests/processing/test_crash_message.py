"""A pass that crashed (nothing classified its error) is recorded for /status scrubbed first and cut after, so that
a secret across the cut cannot leak its start (issue 19)."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.core.logging import configure_logging
from config_sync_service.db.session import SessionFactory
from config_sync_service.mq.dead_letter import DeadLetterQueue
from config_sync_service.pipecat_client.client import PipecatCloudClient
from config_sync_service.processing.config import EngineConfig
from config_sync_service.processing.engine import SyncEngine
from config_sync_service.processing.hints import Hint

SECRET = "AKIA-shared-test"  # daemon_settings' shared AGENT_SECRET_AWS_ACCESS_KEY_ID


@pytest.fixture
async def engine(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis
) -> AsyncIterator[SyncEngine]:
    async with PipecatCloudClient.from_settings(daemon_settings) as client:
        dlq = DeadLetterQueue(redis, key=daemon_settings.dlq_key, max_len=10)
        config = EngineConfig.from_settings(daemon_settings)
        yield SyncEngine(config=config, sessions=session_factory, client=client, dead_letters=dlq)
    configure_logging()


@pytest.mark.parametrize("offset", [490, 495, 499])
async def test_a_secret_across_the_cut_does_not_leak_its_start(
    engine: SyncEngine, daemon_settings: Settings, offset: int
) -> None:
    stream = io.StringIO()
    configure_logging(secret_values=daemon_settings.secret_values(), stream=stream)
    message = "x" * offset + SECRET + " in a message nobody expected"
    # a transient error (the database away) is the crash the engine records itself; a bug goes to the processor
    await engine._crashed(uuid.uuid4(), Hint(), ConnectionError(message), started=time.monotonic())
    last = engine.stats.snapshot()["last_error"]
    assert last["error_class"] == "ConnectionError" and last["message"].startswith("x" * offset)
    assert SECRET[:4] not in last["message"], last["message"][offset - 5 :]
    assert len(last["message"]) <= 500
    assert "sync.crashed" in stream.getvalue() and SECRET[:4] not in stream.getvalue()
