"""What the admin tests share: dead-letter entries as the daemon writes them, and a recording `Requeue`."""

from __future__ import annotations

import asyncio
import time
import uuid

from config_sync_service.mq.dead_letter import DeadLetterEntry


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
        self.replay_ids: list[str] = []
        self.delivered = delivered
        self.delay_s = delay_s

    async def __call__(self, agent_id: uuid.UUID, *, replay_count: int, replay_id: str, entry: DeadLetterEntry) -> bool:
        await asyncio.sleep(self.delay_s)
        self.calls.append((agent_id, replay_count))
        self.replay_ids.append(replay_id)
        return self.delivered
