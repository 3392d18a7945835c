"""The paused-process race (issue 14), with two real daemon processes and a short LEASE_S: the process syncing
version 2 is stopped (SIGSTOP) past its lease while its Pipecat call is in flight, or just before it sends one;
the other applies version 3; the stopped one resumes (SIGCONT). Pipecat Cloud must end on version 3's image and
secret set, and the stale process logs `sync.fenced`, never `sync.succeeded` for version 2.

The emulator holds the stale call (a one-shot delay) so that it stays in flight while version 3 is applied: in
flight, the held call is the update itself, which lands after version 3's (the observer then repairs it); about
to be sent, the held call is the secret set's readiness check, and the update after it is never sent.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db import history
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import DEPLOYMENT, agent_row, make_agent, new_version, publish, wait_until
from tests.processing.observe_support import record
from tests.resilience.support import DaemonProcess

HOLD_S = 10.0  # the stale call's time in flight: longer than the lease, the takeover and version 3's sync
IMAGES = {v: f"dailyco/pipecat-agent:{v}.0" for v in (1, 2, 3)}


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        if daemon.proc is not None and daemon.proc.poll() is None:
            os.kill(daemon.proc.pid, signal.SIGCONT)  # a stopped process must not outlive the test
        daemon.kill()


def _events(daemon: DaemonProcess) -> list[dict[str, Any]]:
    found = []
    for line in daemon.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


async def _synced_at(sessions: SessionFactory, agent_id: Any, version: int) -> bool:
    row = await agent_row(sessions, agent_id)
    return row.sync_status is SyncStatus.SYNCED and row.synced_version == version


@pytest.mark.parametrize("held", ["updateService", "getSecretSet"], ids=["call_in_flight", "call_about_to_be_sent"])
async def test_a_paused_process_that_lost_its_claim_is_fenced(
    held: str,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    reveal_secret_values: None,
    daemons: list[DaemonProcess],
    tmp_path: Path,
) -> None:
    settings = daemon_settings.model_copy(
        update={"lease_s": 1.5, "reconcile_interval_s": 1.0, "deploy_poll_interval_s": 0.1, "observe_interval_s": 300}
    )
    agent = await make_agent(session_factory, deployment=DEPLOYMENT | {"image": IMAGES[1]})
    name = agent.pipecat_agent_name
    for i in range(2):
        daemons.append(DaemonProcess(settings, tmp_path / f"daemon-{i}.log", log_level="INFO"))
        daemons[-1].start()
    for daemon in daemons:
        await daemon.wait_ready()
    await wait_until(lambda: _synced_at(session_factory, agent.id, 1), timeout=60, what="version 1 SYNCED")

    await control.hold_next(held, seconds=HOLD_S)
    await new_version(session_factory, agent.id, deployment=DEPLOYMENT | {"image": IMAGES[2]})
    await publish(redis, settings, agent.id, 2, ChangeType.FULL_SYNC)

    async def in_flight() -> list[dict[str, Any]]:
        return [c for c in await control.calls(name, op=held, include_pending=True) if c["status"] is None]

    [stale_call] = await wait_until(in_flight, what=f"version 2's {held} in flight")
    holder = (await agent_row(session_factory, agent.id)).lease_owner
    assert holder is not None
    pid = int(holder.split(":")[1])
    [stale] = [d for d in daemons if d.proc is not None and d.proc.pid == pid]
    [other] = [d for d in daemons if d is not stale]
    os.kill(pid, signal.SIGSTOP)  # a GC pause, a VM freeze, a slow node: past its lease

    await new_version(session_factory, agent.id, deployment=DEPLOYMENT | {"image": IMAGES[3]})
    await publish(redis, settings, agent.id, 3, ChangeType.FULL_SYNC)
    await wait_until(lambda: _synced_at(session_factory, agent.id, 3), timeout=HOLD_S, what="version 3 by the other")

    async def answered() -> bool:
        return all(c["status"] is not None for c in await control.calls(name, op=held, include_pending=True))

    await wait_until(answered, timeout=HOLD_S + 5, what="the held call answered")
    if held == "updateService":  # the stale update landed after version 3's: Pipecat runs version 2's image
        live = await control.agent(name)
        assert live is not None and live["deployment"]["manifest"]["spec"]["image"] == IMAGES[2]
    resumed = time.monotonic()
    os.kill(pid, signal.SIGCONT)

    async def converged() -> bool:
        live = await control.agent(name)
        values = await control.secret_values(f"{name}-config") or {}
        config = json.loads(values.get("AGENT_CONFIG", "{}"))
        image = live["deployment"]["manifest"]["spec"]["image"] if live else None
        return bool(live and live["ready"] and image == IMAGES[3] and config.get("version") == 3)

    await wait_until(converged, timeout=30, interval=0.05, what="Pipecat on version 3's image and secret set")
    repaired_s = time.monotonic() - resumed
    await wait_until(lambda: _synced_at(session_factory, agent.id, 3), timeout=30, what="SYNCED at version 3")
    for daemon in daemons:
        daemon.kill(signal.SIGTERM)

    stale_events = _events(stale)
    assert any(e["event"] == "sync.fenced" and e.get("version") == 2 for e in stale_events), stale.tail()
    async with session_factory() as s:  # the stale pass is in the history as fenced, never as applied
        rows = [(e.version, e.outcome) for e in await history.for_agent(s, agent_id=agent.id)]
    assert (2, "fenced") in rows and (2, "applied") not in rows, rows
    for daemon in (stale, other):
        assert not [e for e in _events(daemon) if e["event"] == "sync.succeeded" and e.get("version") == 2]
    updates = await control.calls(name, op="updateService")
    # a 409 (the update tried before its secret set was ready) deploys nothing
    stale_updates = [c for c in updates if c["body"]["image"] == IMAGES[2] and c["status"] != 409]
    assert len(stale_updates) == (1 if held == "updateService" else 0)  # about to be sent: never sent
    assert stale_call["time"] < min(c["time"] for c in updates if c["body"]["image"] == IMAGES[3])
    record(f"fenced_{held}", repaired_after_resume_s=repaired_s, lease_s=settings.lease_s, hold_s=HOLD_S)
