"""Observation through the real daemon and the emulator: changes made by hand on Pipecat Cloud are seen within one
observation, reported with their fields, and healed (or only reported, with SELF_HEAL=false); orphans are counted.
Detection and repair times are measured with a short OBSERVE_INTERVAL_S."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from config_sync_service.admin.agents import pause_agent, resume_agent
from config_sync_service.cli.render import render_status
from config_sync_service.core.config import Settings
from config_sync_service.db import history
from config_sync_service.db.models import LiveHealth, SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.emulator.server import EmulatorServer
from tests.emulator_control import MUTATING_OPS, EmulatorControl
from tests.helpers import DEPLOYMENT, agent_row, make_agent, running_daemon, wait_until
from tests.processing.observe_support import by_hand, fields, health, record, synced

INTERVAL_S = 0.5
HAND_IMAGE = "dailyco/pipecat-agent:by-hand"


def observing(settings: Settings, **more: object) -> Settings:
    return settings.model_copy(update={"observe_interval_s": INTERVAL_S} | more)


async def live_image(control: EmulatorControl, name: str) -> str | None:
    agent = await control.agent(name)
    return None if agent is None else str(agent["deployment"]["manifest"]["spec"]["image"])


async def test_an_image_deployed_by_hand_is_drift_and_is_healed(
    daemon_settings: Settings, session_factory: SessionFactory, control: EmulatorControl, emulator: EmulatorServer
) -> None:
    agent = await make_agent(session_factory, secrets={"TWILIO_AUTH_TOKEN": "tw-own-secret"})
    async with running_daemon(observing(daemon_settings)) as daemon:
        await synced(session_factory, agent.id)
        await health(session_factory, agent.id, LiveHealth.HEALTHY)
        changed = time.monotonic()
        await by_hand(emulator, "POST", f"/agents/{agent.pipecat_agent_name}", {"image": HAND_IMAGE})
        drifted = await health(session_factory, agent.id, LiveHealth.DRIFTED)
        detected_s = time.monotonic() - changed
        assert {"image", "deployment"} <= fields(drifted)
        [image] = [d for d in drifted.live_differences if d["field"] == "image"]
        assert image == {"field": "image", "desired": DEPLOYMENT["image"], "live": HAND_IMAGE}

        async def repaired() -> bool:
            return await live_image(control, agent.pipecat_agent_name) == DEPLOYMENT["image"]

        await wait_until(repaired, timeout=30, interval=0.02, what="the desired image back on Pipecat")
        repaired_s = time.monotonic() - changed
        healed = await health(session_factory, agent.id, LiveHealth.HEALTHY)
        assert healed.sync_status is SyncStatus.SYNCED and healed.heal_attempts == 1
        live = await control.agent(agent.pipecat_agent_name)
        assert live is not None and healed.created_deployment_id == live["desiredDeploymentId"]
        async with session_factory() as s:  # the repair is in the agent's history as such
            outcomes = [e.outcome for e in await history.for_agent(s, agent_id=agent.id)]
        assert outcomes.count("healed") == 1, outcomes
        status = (await daemon.get("/status")).json()
        assert status["live"]["by_health"]["HEALTHY"] == 1 and status["live"]["self_heal"] is True
        assert "sessions_behind" in status  # live sessions on an older version sit beside the live block
        shown = render_status(status, url=daemon.url)
        assert "Live health:  UNKNOWN 0, HEALTHY 1, DRIFTED 0, MISSING 0, DEGRADED 0 (self-heal on)" in shown
        assert "tw-own-secret" not in str(status) and "AKIA-shared-test" not in str(status)
        metrics = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families((await daemon.get("/metrics")).text)
            for s in f.samples
        }
        assert metrics[("config_sync_agents_live", (("health", "HEALTHY"),))] == 1
        assert metrics[("config_sync_drift_total", (("field", "image"),))] >= 1
        assert any(
            name == "config_sync_pipecat_calls_total" and ("operation", "observe.listServices") in labels
            for name, labels in metrics
        )
    record("image_by_hand", detected_s=detected_s, repaired_s=repaired_s, interval_s=INTERVAL_S)


async def test_with_self_heal_off_drift_is_reported_and_left_alone(
    daemon_settings: Settings, session_factory: SessionFactory, control: EmulatorControl, emulator: EmulatorServer
) -> None:
    agent = await make_agent(session_factory)
    async with running_daemon(observing(daemon_settings, self_heal=False)):
        await synced(session_factory, agent.id)
        await health(session_factory, agent.id, LiveHealth.HEALTHY)
        await by_hand(emulator, "POST", f"/agents/{agent.pipecat_agent_name}", {"image": HAND_IMAGE})
        [hand] = [c for c in await control.calls(agent.pipecat_agent_name, op="updateService")]
        drifted = await health(session_factory, agent.id, LiveHealth.DRIFTED)
        assert "image" in fields(drifted)

        async def observed_again() -> bool:  # two more observations after the one that found it
            row = await agent_row(session_factory, agent.id)
            return (
                row.observed_at is not None
                and drifted.observed_at is not None
                and ((row.observed_at - drifted.observed_at).total_seconds() > 2 * INTERVAL_S)
            )

        await wait_until(observed_again, timeout=20, what="later observations")
    row = await agent_row(session_factory, agent.id)
    assert row.live_health is LiveHealth.DRIFTED and row.sync_status is SyncStatus.SYNCED
    assert await live_image(control, agent.pipecat_agent_name) == HAND_IMAGE
    after = [c for c in await control.calls() if c["time"] > hand["time"] and c["op"] in MUTATING_OPS]
    assert after == []


async def test_a_deleted_agent_is_missing_then_created_again_with_its_secret_set(
    daemon_settings: Settings, session_factory: SessionFactory, control: EmulatorControl, emulator: EmulatorServer
) -> None:
    agent = await make_agent(session_factory, secrets={"TWILIO_AUTH_TOKEN": "tw-own-secret"})
    name = agent.pipecat_agent_name
    async with running_daemon(observing(daemon_settings)):
        await synced(session_factory, agent.id)
        await health(session_factory, agent.id, LiveHealth.HEALTHY)
        deleted = time.monotonic()
        await by_hand(emulator, "DELETE", f"/agents/{name}")
        await by_hand(emulator, "DELETE", f"/secrets/{name}-config")
        missing = await health(session_factory, agent.id, LiveHealth.MISSING)
        detected_s = time.monotonic() - deleted
        assert missing.live_differences == [{"field": "exists", "desired": True, "live": False}]

        async def back() -> bool:
            live = await control.agent(name)
            return live is not None and live["ready"]

        await wait_until(back, timeout=30, interval=0.02, what="the agent created again")
        repaired_s = time.monotonic() - deleted
        await health(session_factory, agent.id, LiveHealth.HEALTHY)
    live = await control.agent(name)
    assert live is not None and live["deployment"]["manifest"]["spec"]["envFromSecretNames"] == [f"{name}-config"]
    keys = await control.secret_values(f"{name}-config")
    assert keys is not None and {"AGENT_CONFIG", "TWILIO_AUTH_TOKEN", "AWS_ACCESS_KEY_ID"} <= set(keys)
    assert "createService" in [c["op"] for c in await control.calls(name) if c["time"] > 0]
    record("deleted_agent", detected_s=detected_s, repaired_s=repaired_s, interval_s=INTERVAL_S)


async def test_a_redeploy_by_hand_that_changes_no_field_is_drift_by_deployment(
    daemon_settings: Settings, session_factory: SessionFactory, control: EmulatorControl, emulator: EmulatorServer
) -> None:
    agent = await make_agent(session_factory)
    name = agent.pipecat_agent_name
    async with running_daemon(observing(daemon_settings)):
        ours = (await synced(session_factory, agent.id)).created_deployment_id
        await health(session_factory, agent.id, LiveHealth.HEALTHY)
        changed = time.monotonic()
        theirs = await by_hand(
            emulator, "POST", f"/agents/{name}", {"image": DEPLOYMENT["image"], "forceRedeploy": True}
        )
        assert theirs["desiredDeploymentId"] != ours
        drifted = await health(session_factory, agent.id, LiveHealth.DRIFTED)
        detected_s = time.monotonic() - changed
        assert fields(drifted) == {"deployment"}
        healed = await health(session_factory, agent.id, LiveHealth.HEALTHY)
        repaired_s = time.monotonic() - changed
    live = await control.agent(name)
    assert live is not None and live["desiredDeploymentId"] == healed.created_deployment_id
    assert healed.created_deployment_id not in (ours, theirs["desiredDeploymentId"])
    record("redeploy_by_hand", detected_s=detected_s, repaired_s=repaired_s, interval_s=INTERVAL_S)


async def test_an_agent_no_row_names_is_an_orphan_counted_and_never_deleted(
    daemon_settings: Settings,
    session_factory: SessionFactory,
    control: EmulatorControl,
    emulator: EmulatorServer,
    redis: aioredis.Redis,
) -> None:
    agent = await make_agent(session_factory)
    await by_hand(emulator, "POST", "/agents", {"serviceName": "someone-elses-agent", "image": "other/bot:1"})
    async with running_daemon(observing(daemon_settings)) as daemon:
        await synced(session_factory, agent.id)

        async def counted() -> dict[str, object] | None:
            orphans: dict[str, object] = (await daemon.get("/status")).json()["live"]["orphans"]
            return orphans if orphans["count"] else None

        orphans = await wait_until(counted, timeout=20, what="the orphan counted")
        assert orphans == {"count": 1, "names": ["someone-elses-agent"]}
        exposition = (await daemon.get("/metrics")).text
        assert "config_sync_orphan_agents 1.0" in exposition
        await asyncio.sleep(3 * INTERVAL_S)
    assert await control.agent("someone-elses-agent") is not None
    assert [c for c in await control.calls("someone-elses-agent") if c["op"] == "deleteService"] == []


async def test_a_paused_agent_that_drifts_is_reported_never_changed_and_healed_after_resume(
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
) -> None:
    agent = await make_agent(session_factory)
    async with running_daemon(observing(daemon_settings)):
        await synced(session_factory, agent.id)
        await health(session_factory, agent.id, LiveHealth.HEALTHY)
        await pause_agent(session_factory, agent.id, reason="incident 42")
        await by_hand(emulator, "POST", f"/agents/{agent.pipecat_agent_name}", {"image": HAND_IMAGE})
        [hand] = [c for c in await control.calls(agent.pipecat_agent_name, op="updateService")]
        drifted = await health(session_factory, agent.id, LiveHealth.DRIFTED)

        async def observed_again() -> bool:  # two more observations after the one that found it
            row = await agent_row(session_factory, agent.id)
            assert row.observed_at is not None and drifted.observed_at is not None
            return (row.observed_at - drifted.observed_at).total_seconds() > 2 * INTERVAL_S

        await wait_until(observed_again, timeout=20, what="later observations")
        paused = await agent_row(session_factory, agent.id)
        assert paused.live_health is LiveHealth.DRIFTED and paused.sync_status is SyncStatus.SYNCED
        assert paused.heal_attempts == 0  # not even queued for a heal
        after = [c for c in await control.calls() if c["time"] > hand["time"] and c["op"] in MUTATING_OPS]
        assert after == [] and await live_image(control, agent.pipecat_agent_name) == HAND_IMAGE

        await resume_agent(session_factory, redis, agent.id, channel=daemon_settings.updates_channel)

        async def repaired() -> bool:
            return await live_image(control, agent.pipecat_agent_name) == DEPLOYMENT["image"]

        await wait_until(repaired, timeout=30, interval=0.05, what="the desired image back after resume")
        await health(session_factory, agent.id, LiveHealth.HEALTHY)
