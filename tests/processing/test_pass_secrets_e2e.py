"""An agent's own secrets are redacted from everything the pass that writes them reports (issue 19): Pipecat's
error echoes the secret set's values (as a real validation error naming the offending value might), and neither
`last_error_message`, the dead letter, the `sync.failed` log line nor /status shows them."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, publish, running_daemon, wait_until

OWN_TOKEN = "tenant-twilio-token-5be1c0"
OWN_PIN = "k9"  # shorter than 4 characters: redacted as a whole token
SHARED = "AKIA-shared-test"  # daemon_settings' AGENT_SECRET_AWS_ACCESS_KEY_ID


async def test_an_error_that_echoes_the_agents_secrets_never_shows_them(
    restore_logging: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    capsys: pytest.CaptureFixture[str],
) -> None:
    agent = await make_agent(session_factory, secrets={"TWILIO_AUTH_TOKEN": OWN_TOKEN, "SUPPORT_PIN": OWN_PIN})
    await control.set_faults(fail_next={"upsertSecretSet": [400]}, echo_request=True)
    async with running_daemon(daemon_settings) as daemon:
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)

        async def failed() -> bool:
            return (await agent_row(session_factory, agent.id)).sync_status is SyncStatus.ERROR_SYNC

        await wait_until(failed, what="the echoed 400 recorded")
        await wait_until(daemon.runtime.dead_letters.depth, what="its dead letter")
        status = (await daemon.get("/status")).json()
        stored = [
            raw.decode() if isinstance(raw, bytes) else raw
            for raw in await redis.lrange(daemon_settings.dlq_key, 0, -1)
        ]
    logs = capsys.readouterr().err
    row = await agent_row(session_factory, agent.id)
    assert row.last_error_message is not None

    # the error did quote the secret set: every place below shows the quote, with the values hidden
    [upsert] = await control.calls(agent.pipecat_agent_name, op="upsertSecretSet")
    assert upsert["status"] == 400
    [entry] = [json.loads(s) for s in stored]
    [failure] = [json.loads(line) for line in logs.splitlines() if '"sync.failed"' in line]
    [out_of_sync] = status["out_of_sync"]["oldest"]
    reported = {
        "last_error_message": row.last_error_message,
        "dead letter": entry["error_message"],
        "sync.failed": failure["error"],
        "/status last_error": status["last_error"]["message"],
        "/status out_of_sync": out_of_sync["last_error"],
    }
    for where, text in reported.items():
        assert "Invalid request" in text and "TWILIO_AUTH_TOKEN" in text and "[REDACTED]" in text, (where, text)
        assert OWN_TOKEN not in text and SHARED not in text, (where, text)
        assert OWN_PIN not in text, (where, text)
    for text in [*stored, logs, json.dumps(status)]:
        assert OWN_TOKEN not in text and SHARED not in text
