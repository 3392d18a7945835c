"""`operators.dlq` on real Redis, without a daemon: filters, snapshots, replay bookkeeping, progress, purge."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest
import redis.asyncio as aioredis

from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from config_sync_service.operators import dlq


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


def entry(
    agent: str | None = None, *, reason: str = "permanent_error", age_s: float = 0, count: int = 0
) -> DeadLetterEntry:
    return DeadLetterEntry(
        reason=reason,
        error_class="X",
        error_message="x",
        agent_id=agent,
        version=1,
        change_type="FULL_SYNC",
        dead_at=time.time() - age_s,
        replay_count=count,
    )


class Recorder:
    def __init__(self, delivered: bool = True, delay_s: float = 0.0) -> None:
        self.calls: list[tuple[uuid.UUID, int]] = []
        self.delivered = delivered
        self.delay_s = delay_s

    async def __call__(self, agent_id: uuid.UUID, *, replay_count: int, entry: DeadLetterEntry) -> bool:
        import asyncio

        await asyncio.sleep(self.delay_s)
        self.calls.append((agent_id, replay_count))
        return self.delivered


@pytest.fixture
def queue(redis: aioredis.Redis, test_names: dict[str, str]) -> DeadLetterQueue:
    return DeadLetterQueue(redis, key=test_names["dlq_key"], max_len=1000)


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


async def test_replay_requeues_each_agent_once_and_skips_entries_without_one(queue: DeadLetterQueue) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    for e in (entry(a, count=2), entry(None, reason="not_json"), entry(a), entry(b), entry("not-a-uuid")):
        await queue.push(e)
    requeue = Recorder()
    report = await dlq.replay(queue, requeue, replay_all=True)
    assert sorted(requeue.calls) == sorted([(uuid.UUID(a), 3), (uuid.UUID(b), 1)])
    assert (report.replayed, report.agents, len(report.skipped), report.undelivered) == (3, 2, 2, 0)
    assert sorted(str(e.agent_id) for e in await queue.entries()) == ["None", "not-a-uuid"]
    with pytest.raises(ValueError, match="exactly one"):
        await dlq.replay(queue, requeue)


async def test_replay_walks_the_snapshot_it_started_with(queue: DeadLetterQueue) -> None:
    """An agent that fails again while the replay runs is not replayed again in the same run."""
    agents = [str(uuid.uuid4()) for _ in range(3)]
    for agent in agents:
        await queue.push(entry(agent))

    class FailsAgain(Recorder):
        async def __call__(self, agent_id: uuid.UUID, *, replay_count: int, entry: DeadLetterEntry) -> bool:
            await queue.push(
                DeadLetterEntry(
                    reason="permanent_error",
                    error_class="X",
                    error_message="again",
                    agent_id=str(agent_id),
                    replay_count=replay_count,
                )
            )
            return await super().__call__(agent_id, replay_count=replay_count, entry=entry)

    requeue = FailsAgain()
    report = await dlq.replay(queue, requeue, replay_all=True)
    assert report.replayed == 3 and len(requeue.calls) == 3
    assert sorted(e.replay_count for e in await queue.entries()) == [1, 1, 1]


async def test_progress_at_most_every_interval_and_a_summary(
    queue: DeadLetterQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dlq, "PROGRESS_EVERY_S", 0.1)
    for _ in range(12):
        await queue.push(entry(str(uuid.uuid4())))
    lines: list[tuple[float, str]] = []
    report = await dlq.replay(
        queue,
        Recorder(delay_s=0.03),
        replay_all=True,
        progress=lambda r: lines.append((time.monotonic(), r.progress_line())),
    )
    assert 1 <= len(lines) < 12
    assert all(later - earlier >= 0.1 for (earlier, _), (later, _) in itertools.pairwise(lines))
    assert lines[0][1].startswith("replayed ") and lines[0][1].endswith("/12 … (0 skipped)")
    assert report.summary_line().startswith("replayed 12 of 12 entries (12 agents re-queued) in ")


async def test_undelivered_replays_keep_their_entries(queue: DeadLetterQueue) -> None:
    await queue.push(entry(str(uuid.uuid4())))
    report = await dlq.replay(queue, Recorder(delivered=False), replay_all=True)
    assert (report.replayed, report.undelivered) == (0, 1) and await queue.depth() == 1
    assert "kept 1: no config-sync process is subscribed" in report.summary_line()


async def test_foreign_items_are_listed_and_purged_not_fatal(queue: DeadLetterQueue, redis: aioredis.Redis) -> None:
    await queue.push(entry(str(uuid.uuid4()), age_s=7200))
    await redis.lpush(queue.key, b"\xffnot an entry")
    page = await dlq.list_entries(queue, dlq.Filter(reason="unreadable_entry"))
    [item] = page.entries
    assert item.index == 0 and item.entry.raw is not None and "not an entry" in item.entry.raw
    shown = await dlq.show(queue, item.entry.id[:8])
    assert shown is not None and shown.index == 0
    report = await dlq.replay(queue, Recorder(), replay_all=True, dry_run=True)
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
