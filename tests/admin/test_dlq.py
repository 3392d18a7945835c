"""`admin.dlq` on real Redis, without a daemon: durations, filters, pages, foreign items, purge."""

from __future__ import annotations

import json
import uuid

import pytest
import redis.asyncio as aioredis

from config_sync_service.admin import dlq, replay
from config_sync_service.mq.dead_letter import REPLAY_TTL_S, DeadLetterQueue
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


async def test_only_a_registered_replay_id_is_spent_and_only_once(queue: DeadLetterQueue) -> None:
    assert not await queue.replay_registered("guessed") and not await queue.spend_replay("guessed")
    rid = await queue.register_replay()
    assert 0 < await queue.redis.ttl(f"{queue.key}:replay:{rid}") <= REPLAY_TTL_S
    assert await queue.replay_registered(rid)
    assert await queue.spend_replay(rid)  # the first worker to claim the agent
    assert not await queue.spend_replay(rid) and not await queue.replay_registered(rid)  # the others


async def test_a_replay_registers_one_id_per_agent(queue: DeadLetterQueue) -> None:
    agents = [str(uuid.uuid4()) for _ in range(2)]
    for agent in [*agents, agents[0]]:
        await queue.push(entry(agent))
    requeue = Recorder()
    await replay.replay(queue, requeue, replay_all=True)
    assert len(set(requeue.replay_ids)) == 2
    assert all([await queue.replay_registered(rid) for rid in requeue.replay_ids])
    await queue.push(entry(agents[0]))
    registered = sorted([k async for k in queue.redis.scan_iter(match=f"{queue.key}:replay:*")])
    assert len(registered) == 2
    dry = Recorder()
    await replay.replay(queue, dry, replay_all=True, dry_run=True)  # registers nothing
    assert (
        dry.calls == []
        and sorted([k async for k in queue.redis.scan_iter(match=f"{queue.key}:replay:*")]) == registered
    )


def malformed(agent: str) -> list[str]:
    """Items that look like entries but are not: each field of the wrong type or shape (issue 19)."""
    base: dict[str, object] = {"reason": "permanent_error", "error_class": "X", "error_message": "x"}
    base |= {"agent_id": agent, "dead_at": 1.0, "id": uuid.uuid4().hex}
    return [
        json.dumps(base | {"dead_at": "yesterday"}),
        json.dumps(base | {"id": 12345}),
        json.dumps(base | {"replay_count": "many"}),
        json.dumps(base | {"attempts": [1]}),
        json.dumps(base | {"reason": 7}),
        json.dumps(base | {"version": {"v": 1}}),
        json.dumps(base | {"agent_id": ["a"]}),
        json.dumps(base).replace('"dead_at": 1.0', '"dead_at": NaN'),
        json.dumps({k: v for k, v in base.items() if k != "id"}),
        json.dumps([base]),
    ]


async def test_malformed_entries_are_shown_as_unreadable_and_nothing_raises(
    queue: DeadLetterQueue, redis: aioredis.Redis
) -> None:
    agent = str(uuid.uuid4())
    await queue.push(entry(agent, age_s=7200))
    bad = malformed(agent)
    for item in bad:
        await redis.lpush(queue.key, item)
    await queue.push(entry(agent))
    total = len(bad) + 2

    everything = await dlq.list_entries(queue, limit=100)
    assert everything.total == total
    reasons = [i.entry.reason for i in everything.entries]
    assert reasons == ["permanent_error", *["unreadable_entry"] * len(bad), "permanent_error"]
    for flt in (dlq.Filter(older_than_s=3600), dlq.Filter(newer_than_s=60), dlq.Filter(agent_id=agent)):
        await dlq.list_entries(queue, flt)  # filtering reads every entry's dead_at and agent
    old = await dlq.list_entries(queue, dlq.Filter(older_than_s=3600, reason="permanent_error"))
    assert [i.index for i in old.entries] == [total - 1]
    for listed in everything.entries:
        shown = await dlq.show(queue, listed.entry.id)
        assert shown is not None and shown.index == listed.index
        assert (await dlq.show(queue, str(listed.index))) is not None
    assert await dlq.show(queue, "²") is None  # a digit to str.isdigit, no index

    report = await replay.replay(queue, Recorder(), replay_all=True)
    assert (report.replayed, report.agents, len(report.skipped)) == (2, 1, len(bad))
    purged = await dlq.purge(queue, dlq.Filter(reason="unreadable_entry"))
    assert (purged.total, purged.matching, purged.purged) == (len(bad), len(bad), len(bad))
    assert await queue.depth() == 0
