"""`admin.dlq` on real Redis, without a daemon: durations, filters, pages, foreign items, purge."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from config_sync_service.admin import dlq, replay
from config_sync_service.mq.dead_letter import DeadLetterQueue
from tests.admin.support import Recorder, entry


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1h30m", 5400), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert dlq.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "-3s", "1h and a bit"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        dlq.parse_duration(text)


async def test_filters_and_pages(queue: DeadLetterQueue) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    for e in (
        entry(a, age_s=7200),
        entry(b, reason="unknown_agent", age_s=60),
        entry(a),
        entry(None, reason="not_json"),
    ):
        await queue.push(e)
    everything = await dlq.list_entries(queue, limit=2, offset=1)
    assert (everything.total, everything.matching, [i.index for i in everything.entries]) == (4, 4, [1, 2])
    of_a = await dlq.list_entries(queue, dlq.Filter(agent_id=a.upper()))
    assert [i.index for i in of_a.entries] == [1, 3]
    old = await dlq.list_entries(queue, dlq.Filter(older_than_s=3600))
    assert [i.entry.agent_id for i in old.entries] == [a]
    recent = await dlq.list_entries(queue, dlq.Filter(newer_than_s=120, reason="unknown_agent"))
    assert [i.entry.agent_id for i in recent.entries] == [b]


async def test_foreign_items_are_listed_and_purged_not_fatal(queue: DeadLetterQueue, redis: aioredis.Redis) -> None:
    await queue.push(entry(str(uuid.uuid4()), age_s=7200))
    await redis.lpush(queue.key, b"\xffnot an entry")
    page = await dlq.list_entries(queue, dlq.Filter(reason="unreadable_entry"))
    [item] = page.entries
    assert item.index == 0 and item.entry.raw is not None and "not an entry" in item.entry.raw
    shown = await dlq.show(queue, item.entry.id[:8])
    assert shown is not None and shown.index == 0
    report = await replay.replay(queue, Recorder(), replay_all=True, dry_run=True)
    assert (report.replayed, len(report.skipped)) == (1, 1)
    purged = await dlq.purge(queue, dlq.Filter(reason="unreadable_entry"))
    assert (purged.total, purged.matching, purged.purged) == (2, 1, 1)
    assert await dlq.purge(queue, dlq.Filter(older_than_s=3600)) == dlq.PurgeReport(1, 1, 1)
    assert await queue.depth() == 0


async def test_a_replay_id_is_spent_once(queue: DeadLetterQueue) -> None:
    rid = uuid.uuid4().hex
    assert await queue.claim_replay(rid, "worker-a")
    assert not await queue.claim_replay(rid, "worker-b")
    await queue.redis.delete(f"{queue.key}:replay:{rid}")
