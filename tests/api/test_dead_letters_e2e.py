"""The HTTP operator endpoints `/operator/dlq…`: absent without OPERATOR_TOKEN, refused without the right one,
and list/show/replay/purge through the daemon's own engine."""

from __future__ import annotations

import json
import uuid

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.mq.dead_letter import DeadLetterEntry
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, publish, running_daemon, wait_until

TOKEN = "operator-token-for-tests-7f3a"
ENDPOINTS = [
    ("GET", "/operator/dlq", None),
    ("GET", "/operator/dlq/0", None),
    ("POST", "/operator/dlq/replay", {"all": True}),
    ("POST", "/operator/dlq/purge", {}),
]


async def test_operator_endpoints_do_not_exist_without_a_token(daemon_settings: Settings) -> None:
    async with running_daemon(daemon_settings) as daemon:
        for method, path, body in ENDPOINTS:
            response = await daemon.http.request(method, path, json=body)
            assert response.status_code == 404, (method, path)
            response = await daemon.http.request(method, path, json=body, headers={"Authorization": "Bearer x"})
            assert response.status_code == 404, (method, path)
        assert (await daemon.get("/status")).status_code == 200  # open when no token is configured


async def test_an_empty_token_counts_as_none(daemon_settings: Settings) -> None:
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr("")})
    async with running_daemon(settings) as daemon:
        response = await daemon.get("/operator/dlq", headers={"Authorization": "Bearer"})
        assert response.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
    ids=["missing", "wrong", "basic_scheme", "no_scheme"],
)
async def test_operator_endpoints_refuse_a_missing_or_wrong_token(
    daemon_settings: Settings, headers: dict[str, str]
) -> None:
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr(TOKEN)})
    async with running_daemon(settings) as daemon:
        for method, path, body in [*ENDPOINTS, ("GET", "/status", None)]:
            response = await daemon.http.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in response.text
        assert (await daemon.get("/metrics")).status_code == 200  # scraped like a probe


async def test_list_show_replay_and_purge_over_http(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr(TOKEN)})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    agent = await make_agent(session_factory)
    await control.fail_next("createService", times=1, status=403)
    async with running_daemon(settings) as daemon:
        await redis.publish(settings.updates_channel, b"[1, 2]")
        await publish(redis, settings, agent.id, 1, ChangeType.PROVISION)

        async def two() -> list[DeadLetterEntry]:
            found = await daemon.runtime.dead_letters.entries()
            return found if len(found) == 2 else []

        entries = await wait_until(two, what="two dead letters")
        failed = next(e for e in entries if e.agent_id == str(agent.id))
        assert failed.error_class == "PipecatAuthError"

        page = (await daemon.get("/operator/dlq", headers=auth)).json()
        assert (page["total"], page["matching"]) == (2, 2)
        assert {e["reason"] for e in page["entries"]} == {"not_an_object", "permanent_error"}
        only = (await daemon.get("/operator/dlq", params={"agent_id": str(agent.id)}, headers=auth)).json()
        assert [e["id"] for e in only["entries"]] == [failed.id]
        paged = (await daemon.get("/operator/dlq", params={"offset": 1, "limit": 1}, headers=auth)).json()
        assert [e["index"] for e in paged["entries"]] == [1]
        aged = await daemon.get("/operator/dlq", params={"older_than": "1d"}, headers=auth)
        assert aged.json()["matching"] == 0
        assert (await daemon.get("/operator/dlq", params={"older_than": "later"}, headers=auth)).status_code == 422

        shown = (await daemon.get(f"/operator/dlq/{failed.id}", headers=auth)).json()
        assert shown["agent_id"] == str(agent.id) and shown["replay_count"] == 0
        assert (await daemon.get("/operator/dlq/99", headers=auth)).status_code == 404

        neither = await daemon.http.post("/operator/dlq/replay", json={}, headers=auth)
        assert neither.status_code == 422
        dry = (await daemon.http.post("/operator/dlq/replay", json={"all": True, "dry_run": True}, headers=auth)).json()
        assert (dry["replayed"], dry["agents"], len(dry["skipped"])) == (1, 1, 1)
        assert [e["id"] for e in dry["would_replay"]] == [failed.id]
        assert await daemon.runtime.dead_letters.depth() == 2

        body = {"agent_id": str(agent.id)}
        report = (await daemon.http.post("/operator/dlq/replay", json=body, headers=auth)).json()
        assert (report["replayed"], report["agents"], report["skipped"]) == (1, 1, [])

        async def synced() -> bool:
            return (await agent_row(session_factory, agent.id)).sync_status is SyncStatus.SYNCED

        await wait_until(synced, what="the replayed agent SYNCED")
        assert [e.reason for e in await daemon.runtime.dead_letters.entries()] == ["not_an_object"]

        purged = (await daemon.http.post("/operator/dlq/purge", json={"older_than": "1h"}, headers=auth)).json()
        assert purged == {"total": 1, "matching": 0, "purged": 0}
        purged = (await daemon.http.post("/operator/dlq/purge", json={}, headers=auth)).json()
        assert purged == {"total": 1, "matching": 1, "purged": 1}
        assert await daemon.runtime.dead_letters.depth() == 0


async def test_an_in_process_replay_that_fails_again_carries_its_count_through_retries(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    """Replayed, the agent meets 503s until its retries run out: that dead letter says replay_count 1."""
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr(TOKEN), "retry_max_attempts": 2})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    agent = await make_agent(session_factory)
    await control.fail_next("createService", times=1, status=400)
    async with running_daemon(settings) as daemon:
        await publish(redis, settings, agent.id, 1, ChangeType.PROVISION)
        [entry] = await wait_until(daemon.runtime.dead_letters.entries, what="the first dead letter")
        await control.fail_next("createService", times=50, status=503)
        report = (await daemon.http.post("/operator/dlq/replay", json={"all": True}, headers=auth)).json()
        assert report["replayed"] == 1

        async def exhausted() -> list[DeadLetterEntry]:
            return [e for e in await daemon.runtime.dead_letters.entries() if e.reason == "retries_exhausted"]

        [again] = await wait_until(exhausted, timeout=30, what="retries exhausted after the replay")
        assert again.replay_count == 1 and again.id != entry.id
        raw = json.loads((await redis.lrange(settings.dlq_key, 0, 0))[0])
        assert raw["replay_count"] == 1
        await control.set_faults(fail_next={})


async def test_a_replay_of_an_unknown_agent_comes_back_as_unknown(
    daemon_settings: Settings, redis: aioredis.Redis
) -> None:
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr(TOKEN)})
    ghost = uuid.uuid4()
    async with running_daemon(settings) as daemon:
        await publish(redis, settings, ghost, 3, ChangeType.FULL_SYNC)
        [entry] = await wait_until(daemon.runtime.dead_letters.entries, what="unknown agent dead letter")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        await daemon.http.post("/operator/dlq/replay", json={"agent_id": str(ghost)}, headers=auth)

        async def replaced() -> list[DeadLetterEntry]:
            return [e for e in await daemon.runtime.dead_letters.entries() if e.id != entry.id]

        [again] = await wait_until(replaced, what="the unknown agent's new entry")
        assert (again.reason, again.replay_count) == ("unknown_agent", 1)
        assert await daemon.runtime.dead_letters.depth() == 1


async def test_malformed_entries_never_make_the_endpoints_fail(
    daemon_settings: Settings, redis: aioredis.Redis
) -> None:
    """A bad dead_at, a numeric id, a replay_count that is no integer: listed as unreadable, purged, never a 500."""
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr(TOKEN)})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    agent = str(uuid.uuid4())
    base = {"reason": "permanent_error", "error_class": "X", "error_message": "x", "agent_id": agent, "dead_at": 1.0}
    for bad in ({"dead_at": "yesterday"}, {"id": 7}, {"replay_count": "many"}):
        await redis.lpush(settings.dlq_key, json.dumps(base | {"id": uuid.uuid4().hex} | bad))
    async with running_daemon(settings) as daemon:
        listed = await daemon.get("/operator/dlq", params={"older_than": "1h"}, headers=auth)
        assert listed.status_code == 200, listed.text
        assert [e["reason"] for e in listed.json()["entries"]] == ["unreadable_entry"] * 3
        shown = await daemon.get(f"/operator/dlq/{listed.json()['entries'][1]['id']}", headers=auth)
        assert shown.status_code == 200 and shown.json()["index"] == 1
        body = {"agent_id": agent}
        replayed = await daemon.http.post("/operator/dlq/replay", json=body, headers=auth)
        assert replayed.status_code == 200 and replayed.json()["replayed"] == 0
        purged = await daemon.http.post("/operator/dlq/purge", json={"older_than": "1h"}, headers=auth)
        assert purged.status_code == 200 and purged.json() == {"total": 3, "matching": 3, "purged": 3}
