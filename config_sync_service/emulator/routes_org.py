"""The CLI's organisation-scoped paths (pipecat-cloud-api.md §9), so the official `pipecatcloud` CLI works.

They share the handlers and state of the documented API; the differences are the CLI's: `PUT /services`
updates (name in the body), `GET /services/{name}` is wrapped in `{body: …}`, sessions filter by `endState`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from config_sync_service.emulator import routes_agents, routes_secrets, routes_sessions
from config_sync_service.emulator.deps import ApiError, get_state, state_of
from config_sync_service.emulator.faults import key_type
from config_sync_service.emulator.state import EmulatorState, iso

ORG = "emulator-org"


async def cli_key(request: Request) -> EmulatorState:
    """PATs (`pcc_pat_…`) and private keys are accepted on the org paths."""
    state = state_of(request)
    if key_type(state, request.headers.get("authorization")) not in ("pat", "private"):
        raise ApiError(401, "Unauthorized / token expired", "401")
    return state


async def known_org(org: str) -> None:
    if org != ORG:
        raise ApiError(404, "Organization not found", "404")


users = APIRouter(prefix="/v1", dependencies=[Depends(cli_key)])
org = APIRouter(prefix="/v1/organizations/{org}", dependencies=[Depends(cli_key), Depends(known_org)])


@users.get("/users")
async def whoami() -> dict[str, Any]:
    return {"user": {"id": "user-emulator", "email": "dev@example.com"}, "organizations": [{"name": ORG}]}


@users.get("/organizations")
async def organizations() -> dict[str, Any]:
    return {"organizations": [{"name": ORG, "verboseName": "Emulator organization"}]}


@org.get("/properties")
async def properties(state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return {"properties": {"defaultRegion": state.config.default_region}}


@org.get("/regions")
async def regions() -> dict[str, Any]:
    return await routes_secrets.regions()


@org.get("/services")
async def list_services(state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    listed = await routes_agents.list_services(state)
    return {
        "services": [
            {k: s[k] for k in ("name", "region", "id", "activeDeploymentId", "createdAt", "updatedAt")}
            for s in listed["services"]
        ]
    }


@org.post("/services")
async def create_service(request: Request, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return await routes_agents.create_service(request, state)


@org.put("/services")
async def update_service(request: Request, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    body = await request.json()
    return await routes_agents.update_service(str(body.get("serviceName")), request, state)


@org.get("/services/{name}")
async def get_service(name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return {"body": await routes_agents.get_service(name, state)}


@org.delete("/services/{name}")
async def delete_service(name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return await routes_agents.delete_service(name, state)


@org.get("/services/{name}/deployments")
async def deployments(name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        service = routes_agents.service_of(state, name)
        return {
            "deployments": [
                {
                    "id": d.id,
                    "manifest": {"spec": {"dailyNodeType": "arm", "image": d.image}},
                    "createdAt": iso(d.created_wall),
                    "updatedAt": iso(d.created_wall),
                }
                for d in reversed(service.deployments)
            ]
        }


@org.get("/services/{name}/logs")
async def logs(
    name: str,
    state: EmulatorState = Depends(get_state),
    limit: int = 100,
    deployment_id: Annotated[str | None, Query(alias="deploymentId")] = None,
    session_id: Annotated[str | None, Query(alias="sessionId")] = None,
) -> dict[str, Any]:
    return await routes_agents.service_logs(
        name, state, limit=limit, offset=0, deployment_id=deployment_id, session_id=session_id
    )


@org.get("/services/{name}/sessions")
async def sessions(
    name: str,
    state: EmulatorState = Depends(get_state),
    end_state: Annotated[str | None, Query(alias="endState")] = None,
) -> Any:
    status = "all" if end_state in (None, "all") else ("active" if end_state == "active" else "ended")
    return await routes_sessions.list_sessions(name, state, status=status, limit=1000, offset=0)


@org.get("/services/{name}/sessions/{session_id}")
async def session(name: str, session_id: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return await routes_sessions.get_session(name, session_id, state)


@org.delete("/services/{name}/sessions/{session_id}")
async def stop_session(name: str, session_id: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return await routes_sessions.stop_session(name, session_id, state)


@org.get("/secrets")
async def list_secret_sets(state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return await routes_secrets.list_secret_sets(state)


@org.get("/secrets/{set_name}")
async def get_secret_set(set_name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return await routes_secrets.get_secret_set(set_name, state)


@org.put("/secrets/{set_name}", status_code=202)
async def upsert_secret_set(set_name: str, request: Request, state: EmulatorState = Depends(get_state)) -> Any:
    return await routes_secrets.upsert_secret_set(set_name, request, state)


@org.delete("/secrets/{set_name}")
async def delete_secret_set(set_name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return await routes_secrets.delete_secret_set(set_name, state)


@org.delete("/secrets/{set_name}/{key}")
async def delete_secret(set_name: str, key: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return await routes_secrets.delete_secret(set_name, key, state)
