"""`admin.replay` on real Redis, without a daemon: each agent once, the snapshot, progress, undelivered requests."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest

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
