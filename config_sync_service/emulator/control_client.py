"""A client of the emulator's `/_emulator` controls, over HTTP: what the tests and the benchmark ask it (the calls
it received, its state) and tell it (faults, sessions). The emulator may run in this process or another."""

from __future__ import annotations

from typing import Any

import httpx


class EmulatorControl:
    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.url, timeout=timeout_s)

    async def __aenter__(self) -> EmulatorControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()

    async def _send(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    # --- what it received and holds ------------------------------------------------------------------------
    async def calls(
        self, agent: str | None = None, *, op: str | None = None, include_pending: bool = False
    ) -> list[dict[str, Any]]:
        """The calls received, oldest first; those still being answered (status null) only if asked for."""
        found: list[dict[str, Any]] = await self._get("/_emulator/calls", agent=agent, op=op)
        return [c for c in found if include_pending or c["status"] is not None]

    async def ops(self, agent: str) -> list[str]:
        return [c["op"] for c in await self.calls(agent)]

    async def agent(self, name: str) -> dict[str, Any] | None:
        """The agent as the private API shows it (not recorded as a call), or None."""
        response = await self.http.get(f"/_emulator/agents/{name}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        details: dict[str, Any] = response.json()
        return details

    async def secret_values(self, set_name: str) -> dict[str, str] | None:
        response = await self.http.get(f"/_emulator/secrets/{set_name}")
        return None if response.status_code == 404 else dict(response.json())

    async def active_sessions(self, agent: str) -> list[str]:
        return list(await self._get("/_emulator/sessions", agent=agent))

    async def session_context_posts(self, session_id: str) -> list[Any]:
        """The context updates a session received through the Session API."""
        return list(await self._get(f"/_emulator/sessions/{session_id}/received"))

    # --- what it is told -----------------------------------------------------------------------------------
    async def reset(self) -> None:
        """Forget every agent, secret set, session and call; no faults."""
        await self._send("POST", "/_emulator/reset")

    async def add_session(self, agent: str) -> str:
        """An active session for the agent, as if a caller had connected."""
        return str((await self._send("POST", "/_emulator/sessions", {"agent": agent}))["sessionId"])

    async def set_faults(self, **faults: Any) -> None:
        """Change the named fault settings (the others stay); see `emulator.config.Faults`."""
        current = await self._get("/_emulator/faults")
        await self._send("PUT", "/_emulator/faults", current | faults)

    async def clear_faults(self) -> None:
        await self._send("PUT", "/_emulator/faults", {})

    async def fail_next(self, op: str, *, times: int, status: int) -> None:
        await self.set_faults(fail_next={op: [status] * times})

    async def hold_next(self, op: str, *, seconds: float) -> None:
        """The next call of `op` is held `seconds` before it is handled (it stays in flight meanwhile)."""
        await self.set_faults(delay_next={op: [seconds]})

    async def set_latency(self, op: str, *, seconds: float) -> None:
        await self.set_faults(op_latency_s={op: seconds})
