"""`admin.replay` on real Redis, without a daemon: each agent once, the snapshot, progress, undelivered requests."""

from __future__ import annotations

import itertools
import json
import time
import uuid

import pytest
import redis.asyncio as aioredis

from config_sync_service.admin import replay
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from tests.admin.support import Recorder, entry


async def test_replay_requeues_each_agent_once_and_skips_entries_without_one(queue: DeadLetterQueue) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    for e in (entry(a, count=2), entry(None, reason="not_json"), entry(a), entry(b), entry("not-a-uuid")):
        await queue.push(e)
    requeue = Recorder()
    report = await replay.replay(queue, requeue, replay_all=True)
    assert sorted(requeue.calls) == sorted([(uuid.UUID(a), 3), (uuid.UUID(b), 1)])
    assert (report.replayed, report.agents, len(report.skipped), report.undelivered) == (3, 2, 2, 0)
    assert sorted(str(e.agent_id) for e in await queue.entries()) == ["None", "not-a-uuid"]
    with pytest.raises(ValueError, match="exactly one"):
        await replay.replay(queue, requeue)


async def test_replay_walks_the_snapshot_it_started_with(queue: DeadLetterQueue) -> None:
    """An agent that fails again while the replay runs is not replayed again in the same run."""
    agents = [str(uuid.uuid4()) for _ in range(3)]
    for agent in agents:
        await queue.push(entry(agent))

    class FailsAgain(Recorder):
        async def __call__(
            self, agent_id: uuid.UUID, *, replay_count: int, replay_id: str, entry: DeadLetterEntry
        ) -> bool:
            await queue.push(
                DeadLetterEntry(
                    reason="permanent_error",
                    error_class="X",
                    error_message="again",
                    agent_id=str(agent_id),
                    replay_count=replay_count,
                )
            )
            return await super().__call__(agent_id, replay_count=replay_count, replay_id=replay_id, entry=entry)

    requeue = FailsAgain()
    report = await replay.replay(queue, requeue, replay_all=True)
    assert report.replayed == 3 and len(requeue.calls) == 3
    assert sorted(e.replay_count for e in await queue.entries()) == [1, 1, 1]


async def test_progress_at_most_every_interval_and_a_summary(
    queue: DeadLetterQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "PROGRESS_EVERY_S", 0.1)
    for _ in range(12):
        await queue.push(entry(str(uuid.uuid4())))
    lines: list[tuple[float, str]] = []
    report = await replay.replay(
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
    report = await replay.replay(queue, Recorder(delivered=False), replay_all=True)
    assert (report.replayed, report.undelivered) == (0, 1) and await queue.depth() == 1
    assert "kept 1: no config-sync process is subscribed" in report.summary_line()


async def test_a_malformed_entry_never_leaves_a_replay_half_done(queue: DeadLetterQueue, redis: aioredis.Redis) -> None:
    """The replay plans every agent before it hands any on: an entry it cannot read is skipped (kept in the list),
    never a reason to stop after earlier agents' entries were removed (issue 19)."""
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    await queue.push(entry(first))
    broken = json.dumps(
        {"reason": "permanent_error", "error_class": "X", "error_message": "x", "agent_id": second}
        | {"dead_at": 1.0, "id": uuid.uuid4().hex, "replay_count": "many"}
    )
    await redis.lpush(queue.key, broken)
    await queue.push(entry(third, count=1))
    requeue = Recorder()
    report = await replay.replay(queue, requeue, replay_all=True)
    assert requeue.calls == [(uuid.UUID(first), 1), (uuid.UUID(third), 2)]
    assert (report.replayed, report.agents, [s.entry.reason for s in report.skipped]) == (2, 2, ["unreadable_entry"])
    assert await redis.lrange(queue.key, 0, -1) == [broken.encode()]


async def test_an_agent_that_cannot_be_handed_on_keeps_its_entries_and_the_others_go_on(
    queue: DeadLetterQueue,
) -> None:
    agents = [str(uuid.uuid4()) for _ in range(3)]
    for agent in agents:
        await queue.push(entry(agent))

    class Flaky(Recorder):
        async def __call__(
            self, agent_id: uuid.UUID, *, replay_count: int, replay_id: str, entry: DeadLetterEntry
        ) -> bool:
            if str(agent_id) == agents[1]:
                raise ConnectionError("the channel went away")
            return await super().__call__(agent_id, replay_count=replay_count, replay_id=replay_id, entry=entry)

    report = await replay.replay(queue, Flaky(), replay_all=True)
    assert (report.replayed, report.agents, report.failed) == (2, 2, 1)
    assert [e.agent_id for e in await queue.entries()] == [agents[1]]
    assert "kept 1: could not hand its agent on" in report.summary_line()
