"""`/_emulator/*`: test and operator controls. Unauthenticated, never faulted, never recorded.

Being unauthenticated, they hand out no secret values unless the emulator was started to (`reveal_secret_values`),
and forward nothing beyond loopback (`check_bot_url`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from config_sync_service.emulator.config import Faults, check_bot_url
from config_sync_service.emulator.deps import get_state
from config_sync_service.emulator.faults import FaultInjector
from config_sync_service.emulator.state import EmulatorState

router = APIRouter(prefix="/_emulator", tags=["emulator control"])
REDACTED = "[REDACTED]"


def _redacted(body: Any) -> Any:
    """A recorded body with every `secretValue` hidden (secret set upserts, the CLI's one-key form, pull secrets)."""
    if isinstance(body, dict):
        return {k: REDACTED if k == "secretValue" else _redacted(v) for k, v in body.items()}
    if isinstance(body, list):
        return [_redacted(v) for v in body]
    return body


async def _injector(request: Request) -> FaultInjector:
    injector: FaultInjector = request.app.state.injector
    return injector


@router.get("/calls")
async def calls(
    state: EmulatorState = Depends(get_state), op: str | None = None, agent: str | None = None, since: float = 0.0
) -> list[dict[str, Any]]:
    """The calls received, oldest first (`status` is null while a call is still being answered)."""
    with state.lock:
        found = [
            c
            for c in state.calls
            if (op is None or c.op == op) and (agent is None or c.agent == agent) and c.time >= since
        ]
        reveal = state.config.reveal_secret_values
        return [asdict(c) | ({} if reveal else {"body": _redacted(c.body)}) for c in found]


@router.post("/reset")
async def reset(
    state: EmulatorState = Depends(get_state), injector: FaultInjector = Depends(_injector)
) -> dict[str, str]:
    state.reset()
    state.config.faults = Faults()
    injector.reseed()
    return {"status": "reset"}


@router.get("/faults")
async def get_faults(state: EmulatorState = Depends(get_state)) -> Faults:
    return state.config.faults


@router.put("/faults")
async def put_faults(
    faults: Faults, state: EmulatorState = Depends(get_state), injector: FaultInjector = Depends(_injector)
) -> Faults:
    """Replace the fault configuration (and reseed the random source)."""
    state.config.faults = faults
    injector.reseed()
    return faults


@router.put("/settings")
async def put_settings(body: dict[str, float], state: EmulatorState = Depends(get_state)) -> dict[str, float]:
    """Change `deploy_delay_s` and/or `secret_ready_delay_s` at runtime."""
    for key in ("deploy_delay_s", "secret_ready_delay_s"):
        if key in body:
            setattr(state.config, key, float(body[key]))
    return {"deploy_delay_s": state.config.deploy_delay_s, "secret_ready_delay_s": state.config.secret_ready_delay_s}


@router.get("/agents/{name}")
async def agent_details(name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    """An agent as `GET /v1/agents/{name}` shows it, without being recorded as a call."""
    with state.lock:
        service = state.services.get(name)
        if service is None:
            raise HTTPException(404, "no such agent")
        details: dict[str, Any] = service.details(state.config.deploy_delay_s, len(state.active_sessions(name)))
        return details


@router.get("/sessions")
async def active_sessions(agent: str, state: EmulatorState = Depends(get_state)) -> list[str]:
    """The ids of an agent's active sessions."""
    with state.lock:
        return [s.id for s in state.active_sessions(agent)]


@router.post("/sessions")
async def add_session(body: dict[str, str], state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    """Start an active session for an agent directly (as if a caller had connected)."""
    with state.lock:
        session = state.add_session(body["agent"])
    return {"sessionId": session.id}


@router.get("/sessions/{session_id}/received")
async def received(session_id: str, state: EmulatorState = Depends(get_state)) -> list[Any]:
    """The context updates a session received through the Session API."""
    with state.lock:
        session = state.sessions.get(session_id)
        if session is None:
            raise HTTPException(404, "no such session")
        return list(session.received)


@router.put("/bots/{agent}")
async def register_bot(agent: str, body: dict[str, str], state: EmulatorState = Depends(get_state)) -> dict[str, str]:
    """Forward the agent's Session API calls to a running bot at `body.url` (loopback only)."""
    url = body.get("url", "")
    try:
        check_bot_url(url)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    with state.lock:
        state.bots[agent] = url
    return {"agent": agent, "url": url}


@router.get("/secrets/{set_name}")
async def secret_values(set_name: str, state: EmulatorState = Depends(get_state)) -> dict[str, str]:
    """A secret set's keys, and its values if the emulator reveals them (the real API never returns them; the tests
    that check what reached the set opt in)."""
    with state.lock:
        secret_set = state.secret_sets.get(set_name)
        if secret_set is None:
            raise HTTPException(404, "no such secret set")
        if state.config.reveal_secret_values:
            return dict(secret_set.values)
        return dict.fromkeys(secret_set.values, REDACTED)


@router.get("/state")
async def dump(state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        return {
            "agents": {
                n: {"deployments": [d.id for d in s.deployments], "spec": s.spec} for n, s in state.services.items()
            },
            "secret_sets": {n: {"keys": sorted(s.values), "region": s.region} for n, s in state.secret_sets.items()},
            "sessions": {i: {"agent": s.agent, "ended": s.ended} for i, s in state.sessions.items()},
        }
