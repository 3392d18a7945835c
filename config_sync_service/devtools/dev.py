"""`config-sync dev`: the emulator, demo agents and the daemon in one process, narrating each agent's status."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import uvicorn

from config_sync_service.admin import hints
from config_sync_service.api.app import create_app
from config_sync_service.core.config import Settings
from config_sync_service.db import crud
from config_sync_service.db import migrate as migrations
from config_sync_service.db.session import create_db_engine, create_session_factory
from config_sync_service.devtools.demo import ensure_demo_agents
from config_sync_service.schemas.messages import ChangeType


def run(settings: Settings, *, port: int, emulator_port: int, deploy_delay_s: float, emulator: bool) -> None:
    """Migrate, start the built-in emulator (unless told not to), then `run_dev` until Ctrl-C."""
    migrations.upgrade(settings.database_url)
    print("config-sync dev: database migrated", flush=True)
    server = None
    if emulator:
        from config_sync_service.emulator.server import EmulatorServer, dev_config

        server = EmulatorServer(dev_config(deploy_delay_s=deploy_delay_s), port=emulator_port)
        server.start()
        print(f"config-sync dev: Pipecat Cloud emulator on {server.url} (calls: {server.url}/_emulator/calls)")
        settings = settings.model_copy(update=server.client_settings() | {"deploy_poll_interval_s": 0.5})
    try:
        asyncio.run(run_dev(settings, port=port, fresh_cloud=emulator))
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()


async def _narrate(settings: Settings, agents: list[tuple[uuid.UUID, str, int]]) -> None:
    db = create_db_engine(settings, application_name="config-sync-dev-narrator")
    sessions = create_session_factory(db)
    seen: dict[uuid.UUID, tuple[str, Any]] = {}
    started = time.monotonic()
    try:
        while True:
            async with sessions() as s:
                for agent_id, name, _ in agents:
                    agent = await crud.get_agent_details(s, agent_id=agent_id)
                    if agent is None:
                        continue
                    state = (agent.sync_status.value, agent.synced_version)
                    if seen.get(agent_id) != state:
                        seen[agent_id] = state
                        error = f"  ({agent.last_error_message})" if agent.last_error_message else ""
                        print(
                            f"  {time.monotonic() - started:6.2f}s  {name:<16} {state[0]:<14} "
                            f"synced_version={state[1]}{error}",
                            flush=True,
                        )
            await asyncio.sleep(0.1)
    finally:
        await db.dispose()


async def run_dev(settings: Settings, *, port: int, fresh_cloud: bool) -> None:
    """Start the daemon on `port`, provision the demo agents, and narrate their status until interrupted."""
    db = create_db_engine(settings, application_name="config-sync-dev")
    agents = await ensure_demo_agents(create_session_factory(db), fresh_cloud=fresh_cloud)
    await db.dispose()
    print("Demo agents (watch them move PENDING → SYNCING → DEPLOYING → SYNCED):", flush=True)
    narrator = asyncio.create_task(_narrate(settings, agents))
    await asyncio.sleep(0.3)  # let the narrator print where each agent starts

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    print(
        f"config-sync dev: daemon on http://127.0.0.1:{port} (/healthz /readyz /status; the status page: /ui); "
        "publishing PROVISION for the demo agents",
        flush=True,
    )
    await hints.publish(settings, [(agent_id, version, ChangeType.PROVISION) for agent_id, _, version in agents])
    first = agents[0]
    await asyncio.sleep(settings.deploy_poll_interval_s * 8)
    print(
        "\nTo publish a change yourself (in another shell, same DATABASE_URL/REDIS_URL):\n"
        f"  config-sync publish {first[0]} {first[2]} CONTEXT_UPDATE\n"
        f"  curl -s http://127.0.0.1:{port}/status | python -m json.tool\n"
        "Ctrl-C stops everything.\n",
        flush=True,
    )
    try:
        await serving
    finally:
        narrator.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await narrator
