"""Every pass leaves a history row, through the real daemon and the emulator: applied (with the deploying pass
before it), noop, failed (a transient error, retried) and dead_lettered (a permanent one); readable by the CLI
and `GET /operator/agents/{id}/history`. (`fenced` and `healed` come with observed state.)"""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db import history
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.cli.support import run_cli
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, publish, running_daemon, wait_until


async def rows(sessions: SessionFactory, agent_id: uuid.UUID) -> list[history.Entry]:
    async with sessions() as s:
        return list(reversed(await history.for_agent(s, agent_id=agent_id, limit=100)))  # oldest first


async def synced(sessions: SessionFactory, agent_id: uuid.UUID) -> bool:
    return (await agent_row(sessions, agent_id)).sync_status is SyncStatus.SYNCED


async def test_each_pass_leaves_a_row_with_its_outcome(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis, control: EmulatorControl
) -> None:
    settings = daemon_settings.model_copy(update={"pipecat_http_attempts": 1})
    await control.fail_next("createService", times=1, status=503)  # transient: failed, then retried
    flaky = await make_agent(session_factory)
    async with running_daemon(settings) as daemon:
        await publish(redis, settings, flaky.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: synced(session_factory, flaky.id), what="the flaky agent synced")
        await publish(redis, settings, flaky.id, 1, ChangeType.FULL_SYNC)  # in step already: a no-op
        await publish(redis, settings, flaky.id, 1, ChangeType.FULL_SYNC)  # the same no-op: not recorded again
        await wait_until(lambda: _has(session_factory, flaky.id, "noop"), what="the no-op recorded")

        await control.fail_next("createService", times=1, status=400)  # permanent: a dead letter
        refused = await make_agent(session_factory)
        await publish(redis, settings, refused.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: _has(session_factory, refused.id, "dead_lettered"), what="the dead letter recorded")

        response = await daemon.get(f"/operator/agents/{flaky.id}/history", params={"limit": 10})
        missing = await daemon.get(f"/operator/agents/{uuid.uuid4()}/history")

    passes = await rows(session_factory, flaky.id)
    assert [(r.action, r.outcome, r.sync_status) for r in passes] == [
        ("provision", "failed", "ERROR_SYNC"),
        ("provision", "deploying", "DEPLOYING"),
        ("poll", "applied", "SYNCED"),
        ("noop", "noop", None),
    ]
    failed, deploying, applied, _ = passes
    assert failed.error_class == "PipecatServerError" and "503" in (failed.error_message or "")
    assert (
        applied.deployment_id
        and applied.deployment_id == (await agent_row(session_factory, flaky.id)).pipecat_cloud_instance_id
    )
    assert {r.version for r in passes} == {1} and all(r.process == daemon.runtime.engine.owner for r in passes)
    assert deploying.duration_ms >= 0 and applied.error_class is None

    [dead] = await rows(session_factory, refused.id)
    assert (dead.action, dead.outcome, dead.sync_status) == ("provision", "dead_lettered", "ERROR_SYNC")

    assert response.status_code == 200
    assert [h["outcome"] for h in response.json()["history"]] == ["noop", "applied", "deploying", "failed"]
    assert missing.status_code == 404

    shown, table = await asyncio.gather(
        run_cli(settings, "history", str(flaky.id), "--json"), run_cli(settings, "history", str(flaky.id), "-n", "2")
    )
    assert shown.code == 0, shown.stderr
    assert [h["outcome"] for h in shown.json()] == ["noop", "applied", "deploying", "failed"]
    assert table.code == 0 and "OUTCOME" in table.stdout and "applied" in table.stdout
    assert "failed" not in table.stdout  # --limit 2: the two newest only


async def _has(sessions: SessionFactory, agent_id: uuid.UUID, outcome: str) -> bool:
    return any(r.outcome == outcome for r in await rows(sessions, agent_id))
