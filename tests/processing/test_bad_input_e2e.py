"""Bad input never kills the daemon: each payload is dead-lettered with its reason, the next good one applies."""

from __future__ import annotations

import json
import uuid

import pytest
import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.core.metrics import Event, Outcome
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.mq.dead_letter import DeadLetterEntry
from config_sync_service.schemas.messages import ChangeType
from tests.helpers import agent_row, make_agent, publish, running_daemon, wait_until

GOOD_ID = str(uuid.uuid4())


def payload(**fields: object) -> bytes:
    message: dict[str, object] = {"agent_id": GOOD_ID, "version": 1, "change_type": "PROVISION"}
    message.update(fields)
    return json.dumps({k: v for k, v in message.items() if v is not ...}).encode()


CASES = [
    ("not_json", b"{this is not json", "not_json"),
    ("empty", b"", "empty"),
    ("one_mib", b'{"agent_id": "' + b"a" * (1 << 20) + b'"}', "too_large"),
    ("missing_agent_id", payload(agent_id=...), "missing_field"),
    ("version_as_string", payload(version="2"), "wrong_type"),
    ("version_zero", payload(version=0), "invalid_version"),
    ("unknown_change_type", payload(change_type="REBOOT"), "unknown_change_type"),
    ("unknown_agent", payload(), "unknown_agent"),
]


@pytest.mark.parametrize(("case", "raw", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_bad_payload_is_dead_lettered_and_the_daemon_keeps_going(
    case: str,
    raw: bytes,
    reason: str,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
) -> None:
    good = await make_agent(session_factory)
    async with running_daemon(daemon_settings) as daemon:
        await redis.publish(daemon_settings.updates_channel, raw)

        async def dead_letters() -> list[DeadLetterEntry]:
            return await daemon.runtime.dead_letters.entries()

        entries = await wait_until(dead_letters, what=f"a dead letter for {case}")
        assert [e.reason for e in entries] == [reason]
        entry = entries[0]
        assert entry.raw_size == len(raw) or (entry.raw_size is None and raw == b"")
        assert entry.error_message and entry.writer and entry.dead_at
        if case == "unknown_agent":
            assert entry.agent_id == GOOD_ID and entry.version == 1 and entry.change_type == "PROVISION"
        assert (await daemon.get("/healthz")).status_code == 200

        await publish(redis, daemon_settings, good.id, 1, ChangeType.PROVISION)

        async def synced() -> bool:
            return (await agent_row(session_factory, good.id)).sync_status is SyncStatus.SYNCED

        await wait_until(synced, what="the next good message applied")
        counters = daemon.runtime.engine.stats.counters
        assert counters[Outcome.DEAD_LETTERED] == 1


async def test_image_without_tag_is_an_invalid_configuration(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis
) -> None:
    agent = await make_agent(session_factory, deployment={"image": "dailyco/pipecat-agent"})
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)

        async def errored() -> bool:
            return (await agent_row(session_factory, agent.id)).sync_status is SyncStatus.ERROR_SYNC

        await wait_until(errored, what="ERROR_SYNC")
        entries = await daemon.runtime.dead_letters.entries()
    row = await agent_row(session_factory, agent.id)
    assert row.last_error_message == "deployment.image: must name a tag or a digest (image:1.0, image@sha256:…)"
    assert row.next_retry_at is None  # permanent: no retry until the configuration changes
    assert [(e.reason, e.agent_id, e.version) for e in entries] == [("invalid_configuration", str(agent.id), 1)]


@pytest.mark.parametrize(
    ("raw", "reason"), [(b"{this is not json", "not_json"), (payload(), "unknown_agent")], ids=["invalid", "unknown"]
)
async def test_a_payload_every_worker_hears_is_dead_lettered_once(
    raw: bytes, reason: str, daemon_settings: Settings, redis: aioredis.Redis
) -> None:
    """Two processes on one channel (two gunicorn workers): both reject the payload, one entry is written."""
    async with running_daemon(daemon_settings) as first, running_daemon(daemon_settings) as second:
        await redis.publish(daemon_settings.updates_channel, raw)
        counters = [first.runtime.engine.stats.counters, second.runtime.engine.stats.counters]

        async def both_done() -> bool:
            return sum(c[Outcome.DEAD_LETTERED] + c[Event.DEAD_LETTER_COPIES_SKIPPED] for c in counters) == 2

        await wait_until(both_done, what="both processes to dead-letter the payload")
        assert sorted(c[Outcome.DEAD_LETTERED] for c in counters) == [0, 1]
        assert [e.reason for e in await first.runtime.dead_letters.entries()] == [reason]
