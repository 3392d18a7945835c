"""`config-sync dlq list|show|replay|purge` as an operator runs them (a subprocess, settings from the environment)
against a running daemon, real Redis and Postgres, and the Pipecat Cloud emulator on a real port."""

from __future__ import annotations

import json
import uuid

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.core.metrics import Event
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.mq.dead_letter import DeadLetterEntry
from config_sync_service.schemas.messages import ChangeType
from tests.cli.support import channel_spy, run_cli
from tests.emulator_control import EmulatorControl
from tests.helpers import Daemon, agent_row, make_agent, publish, running_daemon, wait_until


async def _entries(daemon: Daemon, n: int, what: str) -> list[DeadLetterEntry]:
    async def enough() -> list[DeadLetterEntry]:
        found = await daemon.runtime.dead_letters.entries()
        return found if len(found) >= n else []

    return await wait_until(enough, what=what)


async def test_list_show_and_purge(daemon_settings: Settings, redis: aioredis.Redis) -> None:
    agent_id = str(uuid.uuid4())
    async with running_daemon(daemon_settings) as daemon:
        channel = daemon_settings.updates_channel
        await redis.publish(channel, b"{not json")
        await redis.publish(channel, json.dumps({"agent_id": agent_id, "version": 0, "change_type": "PROVISION"}))
        await redis.publish(channel, json.dumps({"agent_id": agent_id, "version": 1, "change_type": "REBOOT"}))
        entries = await _entries(daemon, 3, "three dead letters")
        assert [e.reason for e in entries] == ["unknown_change_type", "invalid_version", "not_json"]

        listed = await run_cli(daemon_settings, "dlq", "list")
        assert listed.code == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split()[:4] == ["#", "ID", "DEAD", "AT"]
        assert [line.split()[0] for line in lines[1:4]] == ["0", "1", "2"]
        assert "unknown_change_type" in lines[1] and "not_json" in lines[3]
        assert lines[-1] == "1-3 of 3 matching (3 in the list), newest first"

        page = (await run_cli(daemon_settings, "dlq", "list", "--json", "--offset", "1", "--limit", "1")).json()
        assert (page["total"], page["matching"], page["offset"]) == (3, 3, 1)
        assert [(e["index"], e["reason"]) for e in page["entries"]] == [(1, "invalid_version")]
        by_agent = (await run_cli(daemon_settings, "dlq", "list", "--json", "--agent", agent_id)).json()
        assert [e["reason"] for e in by_agent["entries"]] == ["unknown_change_type", "invalid_version"]
        by_reason = (await run_cli(daemon_settings, "dlq", "list", "--json", "--reason", "not_json")).json()
        assert [e["index"] for e in by_reason["entries"]] == [2]
        old = await run_cli(daemon_settings, "dlq", "list", "--older-than", "1h")
        assert old.code == 0 and old.stdout.strip() == "no dead letters (of 3) match"
        recent = (await run_cli(daemon_settings, "dlq", "list", "--json", "--newer-than", "10m")).json()
        assert recent["matching"] == 3
        bad = await run_cli(daemon_settings, "dlq", "list", "--older-than", "soon")
        assert bad.code == 2 and "not a duration" in bad.stderr

        by_index = await run_cli(daemon_settings, "dlq", "show", "2")
        assert by_index.code == 0 and "not_json" in by_index.stdout and entries[2].id in by_index.stdout
        by_id = (await run_cli(daemon_settings, "dlq", "show", entries[1].id, "--json")).json()
        assert by_id["index"] == 1 and by_id["version"] == 0 and by_id["raw"].startswith("{")
        by_prefix = (await run_cli(daemon_settings, "dlq", "show", entries[0].id[:12], "--json")).json()
        assert by_prefix["id"] == entries[0].id
        missing = await run_cli(daemon_settings, "dlq", "show", "17")
        assert missing.code == 1 and "no dead-letter entry 17" in missing.stderr

        nothing = await run_cli(daemon_settings, "dlq", "purge", "--older-than", "1h", "--yes")
        assert nothing.code == 0 and "nothing to purge" in nothing.stdout
        declined = await run_cli(daemon_settings, "dlq", "purge", input="n\n")
        assert declined.code == 1 and "Purge 3 of 3" in declined.stdout and "aborted" in declined.stderr
        assert await daemon.runtime.dead_letters.depth() == 3
        one = await run_cli(daemon_settings, "dlq", "purge", "--reason", "not_json", "--yes")
        assert one.code == 0 and "purged 1 entries (2 left)" in one.stdout
        assert [e.id for e in await daemon.runtime.dead_letters.entries()] == [entries[0].id, entries[1].id]
        confirmed = await run_cli(daemon_settings, "dlq", "purge", input="y\n")
        assert confirmed.code == 0 and "purged 2 entries (0 left)" in confirmed.stdout
        assert await daemon.runtime.dead_letters.depth() == 0


async def test_dry_run_changes_nothing_and_a_replayed_agent_that_fails_again_comes_back(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    """An image without a tag is a permanent error: each replay runs the agent again (forced) and its new dead
    letter carries the replay count."""
    agent = await make_agent(session_factory, deployment={"image": "dailyco/pipecat-agent"})
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await redis.publish(daemon_settings.updates_channel, b"garbage")
        first = await _entries(daemon, 2, "the agent's dead letter and the garbage")
        failed = next(e for e in first if e.agent_id == str(agent.id))
        assert (failed.reason, failed.replay_count) == ("invalid_configuration", 0)
        row = await agent_row(session_factory, agent.id)
        assert (row.sync_status, row.attempts) == (SyncStatus.ERROR_SYNC, 1)
        key = daemon_settings.dlq_key
        before = await redis.lrange(key, 0, -1)
        calls_before = await control.calls()

        async with channel_spy(daemon_settings) as spy:
            dry = await run_cli(daemon_settings, "dlq", "replay", "--all", "--dry-run")
            assert dry.code == 0, dry.stderr
            assert "would replay 1 of 2 entries (1 agents re-queued)" in dry.stdout
            assert "skipped 1 without an agent" in dry.stdout
            planned, skipped = dry.stdout.split("would replay:\n")[1].split("skipped (no agent to re-queue):\n")
            garbage = next(e for e in first if e.agent_id is None)
            assert str(agent.id) in planned and failed.id[:12] in planned and garbage.id[:12] not in planned
            assert garbage.id[:12] in skipped and str(agent.id) not in skipped
            assert await spy.settle() == []  # nothing published
        assert await redis.lrange(key, 0, -1) == before  # the list is byte for byte the same
        assert await control.calls() == calls_before
        assert (await agent_row(session_factory, agent.id)).attempts == 1

        async with channel_spy(daemon_settings) as spy:
            replayed = await run_cli(daemon_settings, "dlq", "replay", "--all")
            assert replayed.code == 0, replayed.stderr
            assert "replayed 1 of 2 entries (1 agents re-queued); skipped 1 without an agent" in replayed.stdout
            [message] = await spy.wait_for(1)
            request = json.loads(message)
            assert request["agent_id"] == str(agent.id) and request["version"] == 1
            assert request["replay"] is True and request["replay_count"] == 1 and request["replay_id"]

        async def came_back() -> list[DeadLetterEntry]:
            return [e for e in await daemon.runtime.dead_letters.entries() if e.agent_id == str(agent.id)]

        [again] = await wait_until(came_back, what="the agent's new dead letter")
        assert again.id != failed.id and again.replay_count == 1 and again.reason == "invalid_configuration"
        remaining = {e.id for e in await daemon.runtime.dead_letters.entries()}
        assert failed.id not in remaining and len(remaining) == 2  # the garbage entry was skipped, not removed
        assert (await agent_row(session_factory, agent.id)).attempts == 2

        second = await run_cli(daemon_settings, "dlq", "replay", "--agent", str(agent.id))
        assert second.code == 0 and "replayed 1 of 1 entries" in second.stdout

        async def replayed_twice() -> list[DeadLetterEntry]:
            return [e for e in await came_back() if e.replay_count == 2]

        await wait_until(replayed_twice, what="a dead letter with replay_count 2")
        assert [e.replay_count for e in await came_back()] == [2]


async def test_replay_after_the_cause_is_gone_syncs_the_agent(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    """Pipecat refused the create once (400: permanent, no retry); a replay reads fresh state and provisions."""
    agent = await make_agent(session_factory)
    await control.fail_next("createService", times=1, status=400)
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        [entry] = await _entries(daemon, 1, "the permanent error's dead letter")
        assert entry.reason == "permanent_error" and entry.error_class == "PipecatValidationError"
        assert (await agent_row(session_factory, agent.id)).sync_status is SyncStatus.ERROR_SYNC

        result = await run_cli(daemon_settings, "dlq", "replay", "--agent", str(agent.id))
        assert result.code == 0 and "replayed 1 of 1 entries (1 agents re-queued)" in result.stdout

        async def synced() -> bool:
            row = await agent_row(session_factory, agent.id)
            return row.sync_status is SyncStatus.SYNCED and row.synced_version == 1

        await wait_until(synced, what="the replayed agent SYNCED")
        assert await daemon.runtime.dead_letters.depth() == 0
        assert [c["status"] for c in await control.calls(agent.pipecat_agent_name, op="createService")] == [400, 200]


async def test_replay_needs_a_subscriber_and_a_choice(daemon_settings: Settings, redis: aioredis.Redis) -> None:
    """Without a daemon listening, the request would be lost: the entries stay. And --agent or --all is required."""
    from config_sync_service.mq.dead_letter import DeadLetterQueue

    dlq = DeadLetterQueue(redis, key=daemon_settings.dlq_key, max_len=10)
    await dlq.push(
        DeadLetterEntry(reason="permanent_error", error_class="X", error_message="x", agent_id=str(uuid.uuid4()))
    )
    neither = await run_cli(daemon_settings, "dlq", "replay")
    assert neither.code == 2 and "--agent ID or --all" in neither.stderr
    lost = await run_cli(daemon_settings, "dlq", "replay", "--all")
    assert lost.code == 1 and "kept 1: no config-sync process is subscribed" in lost.stdout
    assert await dlq.depth() == 1


async def test_a_replay_request_runs_once_however_many_workers_receive_it(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis
) -> None:
    """Every worker of every replica receives the replay request; one that gets to it after the first has run it
    must not force a second run (and a second dead letter). Here the same request arrives again, late."""
    agent = await make_agent(session_factory, deployment={"image": "dailyco/pipecat-agent"})
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)
        await _entries(daemon, 1, "the first dead letter")
        async with channel_spy(daemon_settings) as spy:
            assert (await run_cli(daemon_settings, "dlq", "replay", "--all")).code == 0
            [request] = await spy.wait_for(1)

        async def replayed() -> list[DeadLetterEntry]:
            return [e for e in await daemon.runtime.dead_letters.entries() if e.replay_count == 1]

        await wait_until(replayed, what="the replay's dead letter")
        assert (await agent_row(session_factory, agent.id)).attempts == 2
        await redis.publish(daemon_settings.updates_channel, request)  # another worker's copy, late

        async def seen_twice() -> bool:
            return daemon.runtime.engine.stats.counters[Event.RECEIVED] == 3

        await wait_until(seen_twice, what="the late copy received")
        await wait_until(lambda: _idle(daemon), what="the late copy processed")
        assert (await agent_row(session_factory, agent.id)).attempts == 2
        assert [e.replay_count for e in await daemon.runtime.dead_letters.entries()] == [1]


async def _idle(daemon: Daemon) -> bool:
    queue = daemon.runtime.engine.queue
    return len(queue) == 0 and queue.in_flight == 0
