"""What tests ask the emulator: its recorded calls, state and faults, over its real HTTP surface."""

from __future__ import annotations

from typing import Any

import httpx

from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY
from config_sync_service.emulator.server import EmulatorServer

MUTATING_OPS = {
    "createService",
    "updateService",
    "deleteService",
    "upsertSecretSet",
    "deleteSecretSet",
    "stopSession",
    "sessionProxy",
}


class EmulatorControl:
    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.url, timeout=10)

    async def __aenter__(self) -> EmulatorControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def calls(
        self, agent: str | None = None, *, op: str | None = None, include_pending: bool = False
    ) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"agent": agent, "op": op}.items() if v is not None}
        found: list[dict[str, Any]] = (await self.http.get("/_emulator/calls", params=params)).json()
        return [c for c in found if include_pending or c["status"] is not None]

    async def ops(self, agent: str) -> list[str]:
        return [c["op"] for c in await self.calls(agent)]

    async def agent(self, name: str) -> dict[str, Any] | None:
        """The agent as the private API shows it (not recorded as a call the daemon made)."""
        with self.server.state.lock:
            service = self.server.state.services.get(name)
            if service is None:
                return None
            return service.details(self.server.state.config.deploy_delay_s, 0)

    async def secret_values(self, set_name: str) -> dict[str, str] | None:
        response = await self.http.get(f"/_emulator/secrets/{set_name}")
        return None if response.status_code == 404 else dict(response.json())

    async def add_session(self, agent: str) -> str:
        return str((await self.http.post("/_emulator/sessions", json={"agent": agent})).json()["sessionId"])

    async def session_context_posts(self, session_id: str) -> list[Any]:
        return list((await self.http.get(f"/_emulator/sessions/{session_id}/received")).json())

    async def active_sessions(self, agent: str) -> list[str]:
        with self.server.state.lock:
            return [s.id for s in self.server.state.active_sessions(agent)]

    async def set_faults(self, **faults: Any) -> None:
        current = (await self.http.get("/_emulator/faults")).json()
        response = await self.http.put("/_emulator/faults", json=current | faults)
        response.raise_for_status()

    async def fail_next(self, op: str, *, times: int, status: int) -> None:
        await self.set_faults(fail_next={op: [status] * times})

    async def set_latency(self, op: str, *, seconds: float) -> None:
        await self.set_faults(op_latency_s={op: seconds})

    def private_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {DEFAULT_PRIVATE_KEY}"}
