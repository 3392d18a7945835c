"""The dead-letter list on real Redis: newest first, capped, payloads kept, secrets scrubbed."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from config_sync_service.core.logging import configure_logging
from config_sync_service.mq.dead_letter import MAX_RAW_CHARS, DeadLetterEntry, DeadLetterQueue


async def test_push_is_newest_first_and_capped(redis: aioredis.Redis, test_names: dict[str, str]) -> None:
    dlq = DeadLetterQueue(redis, key=test_names["dlq_key"], max_len=3)
    for n in range(5):
        await dlq.push(
            DeadLetterEntry.from_raw(
                f"payload-{n}".encode(), reason="not_json", error_class="X", error_message=f"bad {n}"
            )
        )
    assert await dlq.depth() == 3
    entries = await dlq.entries()
    assert [e.raw for e in entries] == ["payload-4", "payload-3", "payload-2"]
    stored = json.loads((await redis.lrange(test_names["dlq_key"], 0, 0))[0])
    assert {
        "raw",
        "reason",
        "error_class",
        "error_message",
        "attempts",
        "first_failure_at",
        "last_failure_at",
        "dead_at",
        "writer",
        "agent_id",
        "version",
        "change_type",
        "replay_count",
        "id",
    } <= stored.keys()
    assert await dlq.remove(entries[1].id)
    assert [e.raw for e in await dlq.entries()] == ["payload-4", "payload-2"]
    assert not await dlq.remove("nope")


async def test_large_and_binary_payloads_are_kept_as_their_head(
    redis: aioredis.Redis, test_names: dict[str, str]
) -> None:
    dlq = DeadLetterQueue(redis, key=test_names["dlq_key"], max_len=10)
    await dlq.push(
        DeadLetterEntry.from_raw(
            b"\xff" * 10 + b"x" * (1 << 20), reason="too_large", error_class="X", error_message="big"
        )
    )
    entry = (await dlq.entries())[0]
    assert entry.raw_size == 10 + (1 << 20)
    assert entry.raw is not None and entry.raw.startswith("\\xff") and len(entry.raw) <= 4 * MAX_RAW_CHARS


async def test_error_messages_are_scrubbed(redis: aioredis.Redis, test_names: dict[str, str]) -> None:
    configure_logging(secret_values=["sk_live_very_secret"])
    dlq = DeadLetterQueue(redis, key=test_names["dlq_key"], max_len=10)
    await dlq.push(
        DeadLetterEntry(
            reason="permanent_error",
            error_class="PipecatAuthError",
            error_message="401 with key sk_live_very_secret and Bearer abc.def",
        )
    )
    raw = str((await redis.lrange(test_names["dlq_key"], 0, -1))[0])
    assert "sk_live_very_secret" not in raw and "abc.def" not in raw
