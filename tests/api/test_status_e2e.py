"""`/status` in full and `config-sync status` rendering it, against a running daemon."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import SecretStr

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.cli.support import run_cli
from tests.helpers import agent_row, make_agent, new_version, publish, running_daemon, wait_until

TOKEN = "status-token-for-tests-91c2"


async def test_status_shows_what_an_operator_needs(
    daemon_settings: Settings, session_factory: SessionFactory, redis: aioredis.Redis
) -> None:
    settings = daemon_settings.model_copy(update={"reconcile_interval_s": 3600.0})
    good = await make_agent(session_factory, "status-good")
    bad = await make_agent(session_factory, "status-bad", deployment={"image": "dailyco/pipecat-agent"})
    async with running_daemon(settings) as daemon:
        waiting = await make_agent(session_factory, "status-waiting")  # after the sweep, never published: PENDING
        for agent in (good, bad):
            await publish(redis, settings, agent.id, 1, ChangeType.PROVISION)
        await redis.publish(settings.updates_channel, b"nope")

        async def settled() -> bool:
            rows = [await agent_row(session_factory, a.id) for a in (good, bad)]
            return [r.sync_status for r in rows] == [SyncStatus.SYNCED, SyncStatus.ERROR_SYNC]

        await wait_until(settled, what="one agent SYNCED, one ERROR_SYNC")
        await new_version(session_factory, good.id, llm_context={"system_prompt": "v2, not yet published"})

        status = (await daemon.get("/status")).json()
        assert status["agents_by_status"] == {"SYNCED": 1, "ERROR_SYNC": 1, "PENDING": 1}
        assert status["dlq_depth"] == 2
        assert status["queue"] == {"depth": 0, "in_flight": 0, "scheduled": 0}
        assert status["subscribed"] is True and status["uptime_s"] >= 0 and status["version"]
        assert status["last_sweep"]["at"] is not None and status["last_sweep"]["ago_s"] < 60
        assert status["pacing"] == {"next_slot_in_s": 0.0, "pauses": 0}  # no 429 came back
        counters = status["counters"]  # this process's
        assert counters["received"] == 3 and counters["invalid"] == 1 and counters["dead_lettered"] == 2
        assert counters["applied"] == 1 and counters["failed"] == 1 and counters["processed"] >= 2
        last = status["last_error"]
        assert last["agent_id"] == str(bad.id) and last["error_class"] == "InvalidConfigurationError"
        out = status["out_of_sync"]
        assert out["count"] == 3
        oldest = {a["agent_id"]: a for a in out["oldest"]}
        assert [a["agent_id"] for a in out["oldest"]] == [str(bad.id), str(waiting.id), str(good.id)]
        assert oldest[str(bad.id)]["last_error_class"] == "InvalidConfigurationError"
        assert oldest[str(bad.id)]["last_error"].startswith("deployment.image: must name a tag or a digest")
        assert oldest[str(good.id)]["active_version"] == 2 and oldest[str(good.id)]["synced_version"] == 1
        assert oldest[str(waiting.id)]["sync_status"] == "PENDING" and oldest[str(waiting.id)]["last_error"] is None

        shown = await run_cli(settings, "status", "--url", daemon.url)
        assert shown.code == 0, shown.stderr
        text = shown.stdout
        assert text.startswith("config-sync ") and "subscribed" in text
        for expected in ("Agents by sync status", "SYNCED", "ERROR_SYNC", "PENDING", "Dead letters: 2"):
            assert expected in text
        assert "Queue:        0 waiting, 0 in flight" in text and "Last sweep:" in text
        assert "Pipecat:      next request slot in 0.0s, 0 pause(s)" in text
        assert "Counters:     " in text and "received 3" in text and "dead-lettered 2" in text
        assert "Out of sync: 3 agent(s), oldest first" in text
        bad_line = next(line for line in text.splitlines() if str(bad.id) in line and "status-bad" in line)
        assert "ERROR_SYNC" in bad_line and "InvalidConfigurationError" in bad_line
        print(text)  # the sample in the report

        as_json = await run_cli(settings, "status", "--url", daemon.url, "--json")
        assert as_json.json()["out_of_sync"]["count"] == 3


async def test_status_command_with_an_operator_token(daemon_settings: Settings) -> None:
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr(TOKEN)})
    async with running_daemon(settings) as daemon:
        refused = await run_cli(settings, "status", "--url", daemon.url, OPERATOR_TOKEN="wrong")
        assert refused.code == 1 and "refused the operator token" in refused.stderr
        from_env = await run_cli(settings, "status", "--url", daemon.url)  # OPERATOR_TOKEN from the settings
        assert from_env.code == 0 and "Agents by sync status" in from_env.stdout
        from_flag = await run_cli(settings, "status", "--url", daemon.url, "--token", TOKEN, OPERATOR_TOKEN="")
        assert from_flag.code == 0
    gone = await run_cli(settings, "status", "--url", daemon.url)
    assert gone.code == 1 and gone.stderr.startswith("config-sync: ConnectError")
