"""The dead-letter list on real Redis: newest first, capped, payloads kept, secrets scrubbed."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from config_sync_service.core.logging import configure_logging
from config_sync_service.mq.dead_letter import MAX_RAW_CHARS, ONCE_TTL_S, DeadLetterEntry, DeadLetterQueue


async def test_push_is_newest_first_and_capped(redis: aioredis.Redis, test_names: dict[str, str]) -> None:
    dlq = DeadLetterQueue(redis, key=test_names["dlq_key"], max_len=3)
    for n in range(5):
        await dlq.push(
            DeadLetterEntry.build(f"payload-{n}".encode(), reason="not_json", error_class="X", error_message=f"bad {n}")
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
    [(_, newest), (second, _), _] = await dlq.snapshot()
    assert newest.raw == "payload-4"
    assert await dlq.remove_stored([second]) == 1  # by its stored text: what replay and purge remove
    assert [e.raw for e in await dlq.entries()] == ["payload-4", "payload-2"]
    assert not await dlq.remove_stored(["nope"])


async def test_large_and_binary_payloads_are_kept_as_their_head(
    redis: aioredis.Redis, test_names: dict[str, str]
) -> None:
    dlq = DeadLetterQueue(redis, key=test_names["dlq_key"], max_len=10)
    await dlq.push(
        DeadLetterEntry.build(b"\xff" * 10 + b"x" * (1 << 20), reason="too_large", error_class="X", error_message="big")
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


async def test_copies_of_one_payload_are_one_dead_letter(redis: aioredis.Redis, test_names: dict[str, str]) -> None:
    """Every worker hears each payload; the first to dead-letter it writes the entry, the others' copies are
    skipped (the marker and the entry are written together)."""
    dlq = DeadLetterQueue(redis, key=test_names["dlq_key"], max_len=10)

    def bad(raw: bytes, reason: str = "not_json") -> DeadLetterEntry:
        return DeadLetterEntry.build(raw, reason=reason, error_class="InvalidMessage", error_message="bad")

    assert await dlq.push(bad(b"{nope"), once=b"{nope")
    assert not await dlq.push(bad(b"{nope"), once=b"{nope")  # another worker's copy
    assert await dlq.push(bad(b"{nope", "too_large"), once=b"{nope")  # another reason is another dead letter
    assert await dlq.push(bad(b"{other"), once=b"{other")
    assert await dlq.push(bad(b"{nope"))  # without `once`: always written (failures are written by one process)
    assert [(e.raw, e.reason) for e in await dlq.entries()] == [
        ("{nope", "not_json"),
        ("{other", "not_json"),
        ("{nope", "too_large"),
        ("{nope", "not_json"),
    ]
    markers = [key async for key in redis.scan_iter(match=f"{{{test_names['dlq_key']}}}:once:*")]
    assert len(markers) == 3
    assert all(0 < ttl <= ONCE_TTL_S for ttl in [await redis.ttl(key) for key in markers])


def test_one_builder_coerces_version_and_change_type_one_way() -> None:
    def built(version: object, change_type: object = None) -> tuple[object, object]:
        entry = DeadLetterEntry.build(
            b"{}", reason="wrong_type", error_class="X", error_message="x", version=version, change_type=change_type
        )
        return entry.version, entry.change_type

    assert built(3, "FULL_SYNC") == (3, "FULL_SYNC")  # what a message held, as it held it
    assert built(None) == (None, None)
    assert built("2") == ("2", None)
    assert built(True, 7) == ("True", None)  # a bool is no version; a change type that is no text is dropped
    assert built([1, 2], {"x": 1}) == ("[1, 2]", None)
    assert built("9" * 5000)[0] == "9" * 200  # kept short
