"""What the observation tests share: changes made by hand on the emulator (as `pipecat cloud deploy` and the
dashboard would make them), waits on live health, and the figures they measure."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from config_sync_service.db.models import Agent, LiveHealth, SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY
from config_sync_service.emulator.server import EmulatorServer
from tests.helpers import agent_row, wait_until

RESULTS = Path(__file__).resolve().parents[2] / "build" / "observe" / "results.json"
BY_HAND = {"Authorization": f"Bearer {DEFAULT_PRIVATE_KEY}", "User-Agent": "PipecatCloudCLI/1.4.0"}


async def by_hand(emulator: EmulatorServer, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A request made to the private API as a person would (the CLI's User-Agent); its answer."""
    async with httpx.AsyncClient(base_url=emulator.api_url, headers=BY_HAND, timeout=10) as http:
        response = await http.request(method, path, json=body)
    response.raise_for_status()
    answer: dict[str, Any] = response.json() if response.content else {}
    return answer


async def synced(sessions: SessionFactory, agent_id: uuid.UUID, *, timeout: float = 30) -> Agent:
    async def check() -> Agent | bool:
        row = await agent_row(sessions, agent_id)
        return row if row.sync_status is SyncStatus.SYNCED and row.created_deployment_id else False

    found = await wait_until(check, timeout=timeout, what="SYNCED")
    assert isinstance(found, Agent)
    return found


async def health(sessions: SessionFactory, agent_id: uuid.UUID, wanted: LiveHealth, *, timeout: float = 30) -> Agent:
    async def check() -> Agent | bool:
        row = await agent_row(sessions, agent_id)
        return row if row.live_health is wanted else False

    found = await wait_until(check, timeout=timeout, interval=0.02, what=f"live health {wanted.value}")
    assert isinstance(found, Agent)
    return found


def fields(row: Agent) -> set[str]:
    return {d["field"] for d in row.live_differences}


def record(name: str, **figures: float) -> None:
    """Keep a test's measured times for the issue's note (build/observe/results.json)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = {k: round(v, 3) for k, v in figures.items()} | {"at": time.time()}
    RESULTS.write_text(json.dumps(data, indent=2))
    print(f"\nobserve {name}: {data[name]}")
