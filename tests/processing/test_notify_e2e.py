"""Notifications through the real daemon to a real local HTTP receiver: one signed event (Standard Webhooks,
verified with `standardwebhooks`) per incident, none for the retries of a flapping agent; a new incident after
the agent recovered; the dead-letter list past its threshold once; drifted and missing agents (the function
observed state calls) once each; a receiver that fails at first gets the same event again, same `webhook-id`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import AnyUrl, SecretStr
from standardwebhooks import Webhook

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, free_port, make_agent, new_version, publish, running_daemon, wait_until

SECRET = "whsec_" + base64.b64encode(b"n" * 32).decode()
TENANT_SECRET = "tenant-secret-never-sent-9c1"


@dataclass
class Receiver:
    url: str
    refuse_first: int = 0  # answer 503 to this many requests first
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every request, refused ones too

    @property
    def events(self) -> list[dict[str, Any]]:
        """The accepted events, each verified against its signature."""
        return [a["event"] for a in self.attempts if a["accepted"]]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    found = Receiver(f"http://127.0.0.1:{port}/hooks/config-sync")
    app = FastAPI()

    @app.post("/hooks/config-sync")
    async def hook(request: Request) -> Response:
        body = (await request.body()).decode()
        event = Webhook(SECRET).verify(body, dict(request.headers))  # raises on a bad signature
        accepted = len(found.attempts) >= found.refuse_first
        found.attempts.append({"id": request.headers["webhook-id"], "event": event, "raw": body, "accepted": accepted})
        return Response(status_code=204 if accepted else 503)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: _started(server), what="receiver up")
        yield found
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, timeout=10)


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)


async def status_is(sessions: SessionFactory, agent_id: uuid.UUID, status: SyncStatus, attempts: int = 0) -> bool:
    row = await agent_row(sessions, agent_id)
    return row.sync_status is status and row.attempts >= attempts


async def test_one_signed_event_per_incident(
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    receiver: Receiver,
) -> None:
    receiver.refuse_first = 2  # the first event is delivered at its third attempt
    settings = daemon_settings.model_copy(
        update={
            "notify_webhook_url": AnyUrl(receiver.url),
            "notify_webhook_secret": SecretStr(SECRET),
            "notify_dlq_threshold": 1,
            "pipecat_http_attempts": 1,
        }
    )
    agent = await make_agent(session_factory, secrets={"TENANT_TOKEN": TENANT_SECRET})
    await control.set_faults(fail_next={"upsertSecretSet": [503] * 3})  # a flapping agent: three failed passes
    async with running_daemon(settings) as daemon:
        notifier = daemon.runtime.notifier
        assert notifier is not None
        await publish(redis, settings, agent.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: status_is(session_factory, agent.id, SyncStatus.SYNCED), what="recovered")
        assert (await agent_row(session_factory, agent.id)).attempts == 0
        [first] = await wait_until(lambda: _of(receiver, "agent.sync_failed", 1), what="the first incident")

        # recovered: the next failure is a new incident (refused for good: a dead letter, past the threshold of 1)
        await redis.publish(settings.updates_channel, b"not json")  # dead letter 1: at the threshold, no event
        await control.fail_next("updateService", times=1, status=400)
        version = await new_version(session_factory, agent.id, deployment={"image": "dailyco/pipecat-agent:3.0"})
        await publish(redis, settings, agent.id, version, ChangeType.FULL_SYNC)
        await wait_until(lambda: _of(receiver, "agent.sync_failed", 2), what="the second incident")
        [dlq] = await wait_until(lambda: _of(receiver, "dead_letters.threshold", 1), what="the list past 1")
        await redis.publish(settings.updates_channel, b"still not json")  # grows further: the same incident

        for health in ("DRIFTED", "DRIFTED", "MISSING", "MISSING", "HEALTHY", "DRIFTED"):
            notifier.live_health(agent.id, health, name="Agent", differences=["image"])
            await asyncio.sleep(0.05)
        await wait_until(lambda: _of(receiver, "agent.drifted", 2), what="drifted twice (healthy between)")
        await wait_until(lambda: _of(receiver, "agent.missing", 1), what="missing once")
        await asyncio.sleep(1.0)  # anything more would have been sent by now

    assert len(receiver.of_type("agent.sync_failed")) == 2 and len(receiver.of_type("dead_letters.threshold")) == 1
    assert len(receiver.of_type("agent.missing")) == 1 and len(receiver.of_type("agent.drifted")) == 2
    assert first["data"]["agent_id"] == str(agent.id) and first["data"]["sync_status"] == "ERROR_SYNC"
    assert first["data"]["error_class"] == "PipecatServerError"
    second = receiver.of_type("agent.sync_failed")[1]["data"]
    assert (second["version"], second["error_class"]) == (version, "PipecatValidationError")
    assert dlq["data"] == {"depth": 2, "threshold": 1}
    # the first event was refused twice and then accepted: three attempts of one message (one webhook-id)
    assert [a["accepted"] for a in receiver.attempts[:3]] == [False, False, True]
    assert len({a["id"] for a in receiver.attempts[:3]}) == 1
    assert len({a["id"] for a in receiver.attempts}) == len(receiver.events)
    for attempt in receiver.attempts:
        assert TENANT_SECRET not in attempt["raw"] and SECRET not in attempt["raw"] and "AKIA" not in attempt["raw"]
        json.loads(attempt["raw"])


async def _of(receiver: Receiver, kind: str, n: int) -> list[dict[str, Any]]:
    found = receiver.of_type(kind)
    return found if len(found) >= n else []
