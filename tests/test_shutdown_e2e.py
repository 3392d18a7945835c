"""SIGTERM during a slow sync: the sync finishes before the process exits (a real process, a real signal)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, daemon_env, free_port, kill_group, make_agent, publish, wait_until


async def test_sigterm_lets_the_in_flight_sync_finish(
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    tmp_path: object,
) -> None:
    agent = await make_agent(session_factory)
    await control.set_latency("createService", seconds=3.0)
    port = free_port()
    env = daemon_env(daemon_settings) | {"SHUTDOWN_GRACE_S": "20"}
    log_path = f"{tmp_path}/daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config_sync_service.main:app",
                "--port",
                str(port),
                "--log-level",
                "info",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        import httpx

        async def ready() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(ready, timeout=30, what="subprocess daemon ready")
        await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)

        async def in_flight() -> bool:
            return bool(await control.calls(agent.pipecat_agent_name, op="createService", include_pending=True))

        await wait_until(in_flight, what="the slow createService call has started")
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        exit_code = await _wait_exit(proc, timeout=25)
        took = time.monotonic() - sent_at
    finally:
        kill_group(proc)
    output = open(log_path).read()
    # uvicorn re-raises the signal it handled once shutdown is complete, so a clean exit reads as -SIGTERM
    assert exit_code in (0, -signal.SIGTERM), output[-3000:]
    assert "Application shutdown complete" in output
    assert took < 20, f"exit took {took:.1f}s"
    row = await agent_row(session_factory, agent.id)
    assert row.sync_status in (SyncStatus.DEPLOYING, SyncStatus.SYNCED), row.sync_status  # the sync finished
    assert await control.agent(agent.pipecat_agent_name) is not None
    assert '"engine.stopped"' in output and '"cancelled": 0' in output


async def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int:
    import asyncio

    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    code = proc.poll()
    assert code is not None, "daemon did not exit after SIGTERM"
    return code
