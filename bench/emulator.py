"""The Pipecat Cloud emulator as the benchmark runs it: its own process, plus bench-only controls.

`python -m bench.emulator --port N` serves the emulator's app (config_sync_service.emulator) with three more
routes under `/_emulator/bench` (never faulted, never recorded, like every `/_emulator` control):

- `POST /seed`: agents that are already deployed (an Active revision, a ready secret set), so that a scenario
  can start from provisioned agents without spending Pipecat calls on it;
- `GET /summary?since=`: the calls received since a time (by operation and status, per agent, and how many
  were observation's, by their User-Agent) and the deployments made since then per agent: what the tables count;
- `GET /sessions/{id}/received`: when each context update reached a session, and its version.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from pydantic import BaseModel

from config_sync_service.emulator.app import create_app
from config_sync_service.emulator.config import EmulatorConfig, check_bind
from config_sync_service.emulator.deps import get_state
from config_sync_service.emulator.state import EmulatorState, SecretSet, Service

router = APIRouter(prefix="/_emulator/bench", tags=["benchmark"])
LONG_AGO_S = 3600.0
OBSERVER_AGENT = "config-sync-observer"  # the User-Agent of config-sync's observation requests (runtime.py)


class SeedBody(BaseModel):
    agents: list[str]
    image: str
    max_agents: int = 2


@router.post("/seed")
async def seed(body: SeedBody, state: EmulatorState = Depends(get_state)) -> dict[str, str]:
    """Deployed agents with ready secret sets; returns each agent's deployment id."""
    ids: dict[str, str] = {}
    with state.lock:
        region = state.config.default_region
        for name in body.agents:
            secret_set = SecretSet(f"{name}-config", region, values={"AGENT_CONFIG": "{}"})
            secret_set.changed -= LONG_AGO_S
            state.secret_sets[secret_set.name] = secret_set
            spec = {
                "image": body.image,
                "secretSet": secret_set.name,
                "autoScaling": {"minAgents": 0, "maxAgents": body.max_agents},
                "agentProfile": "agent-1x",
            }
            service = Service(name=name, region=region, spec=spec)
            deployment = state.new_deployment(service, body.image)
            deployment.created -= LONG_AGO_S
            deployment.created_wall -= LONG_AGO_S
            state.services[name] = service
            ids[name] = deployment.id
    return ids


@router.get("/summary")
async def summary(since: float = 0.0, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    """Calls received at or after `since` (time.time()) and deployments created since then."""
    with state.lock:
        calls = [c for c in state.calls if c.time >= since]
        deployments = {
            name: sum(1 for d in service.deployments if d.created_wall >= since)
            for name, service in state.services.items()
        }
    by_op = Counter(c.op for c in calls)
    by_status = Counter(str(c.status) for c in calls)
    per_agent = Counter(c.agent for c in calls if c.agent)
    observation = sum(1 for c in calls if c.user_agent == OBSERVER_AGENT)
    return {
        "calls": len(calls),
        "observation_calls": observation,
        "by_op": dict(by_op),
        "by_status": dict(by_status),
        "rate_limited": by_status.get("429", 0),
        "pending": by_status.get("None", 0),
        "calls_per_agent": dict(per_agent),
        "deployments_per_agent": {name: n for name, n in deployments.items() if n},
        "first_call_at": min((c.time for c in calls), default=None),
        "last_call_at": max((c.time for c in calls), default=None),
    }


@router.get("/sessions/{session_id}/received")
async def received(session_id: str, state: EmulatorState = Depends(get_state)) -> list[dict[str, Any]]:
    """Each context update a session received: arrival time (time.time()) and the version it carried."""
    with state.lock:
        session = state.sessions.get(session_id)
        if session is None:
            raise HTTPException(404, "no such session")
        return [
            {"at": at, "version": body.get("version") if isinstance(body, dict) else None}
            for at, body in zip(session.received_at, session.received, strict=True)
        ]


def build(config: EmulatorConfig) -> FastAPI:
    app = create_app(config)
    app.include_router(router)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="The Pipecat Cloud emulator with the benchmark's controls.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback only, unless --allow-remote")
    parser.add_argument("--allow-remote", action="store_true", help="bind beyond loopback (controls are open)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deploy-delay", type=float, default=0.2)
    parser.add_argument("--secret-ready-delay", type=float, default=0.0)
    args = parser.parse_args()
    try:
        check_bind(args.host, allow_remote=args.allow_remote)
    except ValueError as exc:
        parser.error(str(exc))
    config = EmulatorConfig(deploy_delay_s=args.deploy_delay, secret_ready_delay_s=args.secret_ready_delay)
    started = time.time()
    print(f"bench emulator on http://{args.host}:{args.port} (started {started:.3f})", flush=True)
    uvicorn.run(build(config), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
