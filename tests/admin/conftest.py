"""Fixtures of the admin tests."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from config_sync_service.mq.dead_letter import DeadLetterQueue


@pytest.fixture
def queue(redis: aioredis.Redis, test_names: dict[str, str]) -> DeadLetterQueue:
    return DeadLetterQueue(redis, key=test_names["dlq_key"], max_len=1000)
