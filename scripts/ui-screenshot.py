"""Take the README's screenshots of the status page (docs/ui-agents.png, docs/ui-agent.png).

What `make run` runs, in one process, on a scratch database that is dropped afterwards: the built-in emulator, the
daemon and the demo agents; then a few things worth seeing (a new version applied, one refused by Pipecat, one
agent paused) and headless Chromium (playwright with Debian's chromium) photographs /ui and one agent's page.

    .venv/bin/python scripts/ui-screenshot.py   # Postgres and Redis from scripts/ensure-services.sh
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import uvicorn
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config_sync_service.admin import agents as agent_tools  # noqa: E402
from config_sync_service.admin import hints  # noqa: E402
from config_sync_service.api.app import create_app  # noqa: E402
from config_sync_service.core.config import Settings, load_settings  # noqa: E402
from config_sync_service.db import crud, migrate  # noqa: E402
from config_sync_service.db.models import SyncStatus  # noqa: E402
from config_sync_service.db.session import (  # noqa: E402
    SessionFactory,
    create_db_engine,
    create_session_factory,
    transaction,
)
from config_sync_service.devtools.demo import ensure_demo_agents  # noqa: E402
from config_sync_service.devtools.procs import free_port  # noqa: E402
from config_sync_service.emulator.control_client import EmulatorControl  # noqa: E402
from config_sync_service.emulator.server import EmulatorServer, dev_config  # noqa: E402
from config_sync_service.schemas.messages import ChangeType  # noqa: E402

ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
OUT = ROOT / "docs"


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    return subprocess.run(  # noqa: S603 (our own script)
        [str(ROOT / "scripts/install-chromium.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()


async def wait_for(
    sessions: SessionFactory, agent_id: uuid.UUID, status: SyncStatus, version: int | None = None
) -> None:
    for _ in range(400):
        async with sessions() as s:
            agent = await crud.get_agent_details(s, agent_id=agent_id)
        if agent is not None and agent.sync_status is status and (version is None or agent.target_version == version):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"agent {agent_id} never reached {status}")


async def scene(settings: Settings, emulator: EmulatorServer) -> uuid.UUID:
    """The demo agents synced, then a new version, a refusal and a pause; returns the agent to photograph."""
    db = create_db_engine(settings)
    sessions = create_session_factory(db)
    demo = await ensure_demo_agents(sessions, fresh_cloud=True)
    await hints.publish(settings, [(agent_id, version, ChangeType.PROVISION) for agent_id, _, version in demo])
    (support, _, _), (weather, _, _), (booking, _, _) = demo
    for agent_id, _, _ in demo:
        await wait_for(sessions, agent_id, SyncStatus.SYNCED)
    async with EmulatorControl(emulator.url) as control:
        async with transaction(sessions) as s:
            v2 = await crud.add_configuration(s, agent_id=support, llm_context={"system_prompt": "Be brief."})
        await hints.publish(settings, [(support, v2.version, ChangeType.CONTEXT_UPDATE)])
        await wait_for(sessions, support, SyncStatus.SYNCED, v2.version)
        await control.fail_next("updateService", times=1, status=400)
        async with transaction(sessions) as s:
            v2 = await crud.add_configuration(s, agent_id=booking, deployment={"image": "dailyco/pipecat-agent:1.1"})
        await hints.publish(settings, [(booking, v2.version, ChangeType.FULL_SYNC)])
        await wait_for(sessions, booking, SyncStatus.ERROR_SYNC)
    await agent_tools.pause_agent(sessions, weather, reason="Incident 1234: carrier outage, hold changes")
    await db.dispose()
    return booking


async def main() -> None:
    name = f"cs_screenshot_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_DSN.rpartition("/")
    suffix = uuid.uuid4().hex[:8]
    try:
        emulator = EmulatorServer(dev_config(deploy_delay_s=0.3, secret_ready_delay_s=0.05))
        emulator.start()
        settings = load_settings(
            database_url=f"{base}/{name}",
            updates_channel=f"screenshot_{suffix}",
            dlq_key=f"screenshot_dlq_{suffix}",
            log_level="WARNING",
        ).model_copy(update=emulator.client_settings() | {"deploy_poll_interval_s": 0.1})
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_config=None, lifespan="on"))
        serving = asyncio.create_task(server.serve())
        for _ in range(400):
            if server.started:
                break
            await asyncio.sleep(0.05)
        try:
            booking = await scene(settings, emulator)
            await photograph(f"http://127.0.0.1:{port}", booking)
        finally:
            server.should_exit = True
            await serving
            emulator.stop()
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(settings.redis_url)
            await client.delete(settings.dlq_key, *[k async for k in client.scan_iter(f"{settings.dlq_key}:*")])
            await client.aclose()
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def photograph(url: str, agent_id: uuid.UUID) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 560}, device_scale_factor=1)
            await page.goto(f"{url}/ui")
            await page.screenshot(path=str(OUT / "ui-agents.png"), full_page=True)
            await page.goto(f"{url}/ui/agents/{agent_id}")
            await page.screenshot(path=str(OUT / "ui-agent.png"), full_page=True)
        finally:
            await browser.close()
    print(f"wrote {OUT / 'ui-agents.png'} and {OUT / 'ui-agent.png'}")


if __name__ == "__main__":
    asyncio.run(main())
