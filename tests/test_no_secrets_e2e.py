"""No secret value leaves config-sync through what operators read: `/status`, `/metrics`, the operator endpoints,
the dead-letter entries, the history, the status page, the CLI's output, or the log lines of the run. And every
state change is a log event with a stable name and the fields to follow an agent."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.cli.support import run_cli
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, new_version, publish, running_daemon, wait_until

OPERATOR_TOKEN = "op-token-never-shown-5d1e"
SHARED_SECRET = "twilio-shared-secret-77a0c4"
AGENT_OWN_SECRET = "tenant-own-secret-98765xyz"
OWN = {"TWILIO_AUTH_TOKEN": AGENT_OWN_SECRET}


async def test_no_secret_value_is_shown_or_logged(
    reveal_secret_values: None,
    restore_logging: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = daemon_settings.model_copy(
        update={
            "operator_token": SecretStr(OPERATOR_TOKEN),
            "agent_secrets": daemon_settings.agent_secrets | {"TWILIO_ACCOUNT_TOKEN": SecretStr(SHARED_SECRET)},
            "retry_max_attempts": 2,
            "redeploy_min_interval_s": 0.0,  # v2 redeploys on its message's pass, logged with its change type
        }
    )
    secrets = [*settings.secret_values(), AGENT_OWN_SECRET]
    assert settings.pipecat_api_key is not None and settings.pipecat_api_key.get_secret_value() in secrets
    auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    refused = await make_agent(session_factory, secrets=OWN)  # the startup sweep provisions it: Pipecat says 401
    await control.fail_next("createService", times=1, status=401)
    shown: list[str] = []
    async with running_daemon(settings) as daemon:
        await wait_until(lambda: _status_is(session_factory, refused.id, SyncStatus.ERROR_SYNC), what="401 refused")
        good = await make_agent(session_factory, secrets=OWN)  # these two by their messages
        bad = await make_agent(session_factory, deployment={"image": "dailyco/pipecat-agent"}, secrets=OWN)
        for agent in (good, bad):
            await publish(redis, settings, agent.id, 1, ChangeType.PROVISION)
        await redis.publish(settings.updates_channel, b'{"agent_id": 7}')
        await wait_until(lambda: _status_is(session_factory, good.id, SyncStatus.SYNCED), what="good SYNCED")
        await wait_until(lambda: _status_is(session_factory, bad.id, SyncStatus.ERROR_SYNC), what="bad ERROR_SYNC")
        await new_version(session_factory, good.id, llm_context={"system_prompt": "v2"})
        await publish(redis, settings, good.id, 2, ChangeType.CONTEXT_UPDATE)

        async def v2_synced() -> bool:
            return (await agent_row(session_factory, good.id)).synced_version == 2

        await wait_until(v2_synced, what="v2 SYNCED")
        await wait_until(lambda: _depth(daemon.runtime.dead_letters, 3), what="three dead letters")
        # the secrets did reach Pipecat, in the agent's secret set: what follows checks they went nowhere else
        values = await control.secret_values(f"{good.pipecat_agent_name}-config")
        assert values is not None and values["TWILIO_AUTH_TOKEN"] == AGENT_OWN_SECRET
        assert values["TWILIO_ACCOUNT_TOKEN"] == SHARED_SECRET

        pages = [f"/operator/agents/{a.id}/history" for a in (refused, good, bad)]
        pages += ["/ui", "/ui/dead-letters", *(f"/ui/agents/{a.id}" for a in (refused, good, bad))]
        for path in ("/status", "/metrics", "/operator/dlq", "/operator/dlq/0", "/operator/dlq/2", *pages):
            response = await daemon.get(path, headers=auth)
            assert response.status_code == 200, path
            shown.append(response.text)
        dry = await daemon.http.post("/operator/dlq/replay", json={"all": True, "dry_run": True}, headers=auth)
        shown.append(dry.text)
        shown += [
            raw.decode() if isinstance(raw, bytes) else raw for raw in await redis.lrange(settings.dlq_key, 0, -1)
        ]
        for args in (
            ("status", "--url", daemon.url),
            ("status", "--url", daemon.url, "--json"),
            ("dlq", "list", "--json"),
            ("dlq", "show", "0"),
            ("history", str(refused.id)),
            ("history", str(bad.id), "--json"),
            ("dlq", "replay", "--agent", str(bad.id), "-v"),
        ):
            result = await run_cli(settings, *args)
            assert result.code == 0, (args, result.stderr)
            shown += [result.stdout, result.stderr]
        await wait_until(lambda: _depth(daemon.runtime.dead_letters, 3), what="the replayed agent's dead letter")
        cli_events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    logs = capsys.readouterr().err
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert len(records) > 20

    for text in [*shown, logs]:
        for secret in secrets:
            assert secret not in text, f"a secret value leaked: {text[:300]}"
    dead = [json.loads(s) for s in shown if s.startswith('{"reason"')]
    assert {d["error_class"] for d in dead} >= {"PipecatAuthError", "InvalidConfigurationError", "InvalidMessage"}

    # every state change has a stable event name with the agent, version, change type (and duration); sync.started
    # is debug
    events = _by_event(records)
    for name in ("sync.succeeded", "sync.failed"):
        assert events[name], name
        for record in events[name]:
            assert {"agent_id", "version", "change_type"} <= record.keys(), record
    for name in ("sync.succeeded", "sync.failed"):
        assert all(isinstance(r["duration_s"], float | int) for r in events[name])
    succeeded = {(r["agent_id"], r["version"], r["change_type"], r["outcome"]) for r in events["sync.succeeded"]}
    assert (str(good.id), 2, "CONTEXT_UPDATE", "deploying") in succeeded
    failed = {(r["agent_id"], r["error_class"]) for r in events["sync.failed"]}
    assert failed == {(str(refused.id), "PipecatAuthError"), (str(bad.id), "InvalidConfigurationError")}
    rejected = events["message.rejected"]
    assert [r["reason"] for r in rejected] == ["wrong_type"] and {"version", "change_type"} <= rejected[0].keys()
    dead_lettered = events["dlq.dead_lettered"]
    assert {r["reason"] for r in dead_lettered} == {"permanent_error", "invalid_configuration", "wrong_type"}
    assert all({"entry_id", "agent_id", "version", "change_type", "replay_count"} <= r.keys() for r in dead_lettered)
    [replayed] = [r for r in cli_events if r["event"] == "dlq.replayed"]
    assert replayed["agent_id"] == str(bad.id) and replayed["version"] == 1 and replayed["replay_count"] == 1
    assert replayed["change_type"] == "PROVISION"


async def _status_is(sessions: SessionFactory, agent_id: Any, status: SyncStatus) -> bool:
    return (await agent_row(sessions, agent_id)).sync_status is status


async def _depth(dlq: Any, n: int) -> bool:
    return bool(await dlq.depth() == n)


def _by_event(records: list[dict[str, Any]]) -> defaultdict[str, list[dict[str, Any]]]:
    found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        found[str(record.get("event"))].append(record)
    return found
