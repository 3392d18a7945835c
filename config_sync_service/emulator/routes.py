"""The documented Private and Public API surface (pipecat-cloud-api.md §2–§7)."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from config_sync_service.emulator.faults import key_type
from config_sync_service.emulator.state import EmulatorState, SecretSet, Service

SERVICE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])$")
SET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PROFILES = {"agent-1x", "agent-2x", "agent-3x"}


class ApiError(HTTPException):
    """An answer in the API's error shape `{error, code}`."""

    def __init__(self, status: int, error: str, code: str) -> None:
        super().__init__(status_code=status, detail={"error": error, "code": code})


def state_of(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


# every dependency is `async def`: FastAPI runs a plain `def` one in its thread pool, a hop per request
async def get_state(request: Request) -> EmulatorState:
    return state_of(request)


async def private_key(request: Request) -> EmulatorState:
    state = state_of(request)
    if key_type(state, request.headers.get("authorization")) != "private":
        raise ApiError(401, "Unauthorized", "UNAUTHORIZED")
    return state


async def public_key(request: Request) -> EmulatorState:
    state = state_of(request)
    kind = key_type(state, request.headers.get("authorization"))
    if kind == "none":
        raise ApiError(401, "Missing public API key", "PCC-1002")
    if kind != "public":
        raise ApiError(401, "Unauthorized", "UNAUTHORIZED")
    return state


private = APIRouter(prefix="/v1", dependencies=[Depends(private_key)])
public = APIRouter(prefix="/v1/public", dependencies=[Depends(public_key)])


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "Invalid JSON body", "GENERIC_BAD_REQUEST") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Body must be a JSON object", "GENERIC_BAD_REQUEST")
    return body


def _service(state: EmulatorState, name: str) -> Service:
    service = state.services.get(name)
    if service is None:
        raise ApiError(404, "Service not found", "404")
    return service


def _check_spec(state: EmulatorState, body: dict[str, Any], region: str) -> None:
    image = body.get("image")
    if image is not None and (not isinstance(image, str) or ":" not in image.rsplit("/", 1)[-1]):
        raise ApiError(400, "Image must include a tag (repo:tag)", "GENERIC_BAD_REQUEST")
    if body.get("agentProfile") not in (None, *PROFILES):
        raise ApiError(400, f"Unknown agent profile {body['agentProfile']}", "GENERIC_BAD_REQUEST")
    scaling = body.get("autoScaling") or {}
    low, high = scaling.get("minAgents", 0), scaling.get("maxAgents", 1)
    if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high and 1 <= high <= 50):
        raise ApiError(400, "autoScaling: 0 <= minAgents <= maxAgents <= 50", "GENERIC_BAD_REQUEST")
    duration = body.get("maxSessionDuration")
    if duration is not None and not (isinstance(duration, int) and 60 <= duration <= 14400):
        raise ApiError(400, "maxSessionDuration must be between 60 and 14400", "GENERIC_BAD_REQUEST")
    set_name = body.get("secretSet")
    if set_name is not None:
        secret_set = state.secret_sets.get(set_name)
        if secret_set is None:
            raise ApiError(404, f"Secret set {set_name} not found", "NOT_FOUND")
        if secret_set.region != region:
            raise ApiError(400, "Secret set is in another region", "GENERIC_BAD_REQUEST")
        if secret_set.status(state.config.secret_ready_delay_s) != "ready":
            raise ApiError(409, f"Secret set {set_name} is not ready", "CONFLICT")


@private.post("/agents")
async def create_service(request: Request, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    body = await _json(request)
    name = body.get("serviceName")
    if not isinstance(name, str) or len(name) > 54 or not SERVICE_NAME.match(name):
        raise ApiError(400, "serviceName must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])$ (at most 54)", "GENERIC_BAD_REQUEST")
    if ("image" in body) == ("buildId" in body):
        raise ApiError(400, "Exactly one of image or buildId is required", "GENERIC_BAD_REQUEST")
    with state.lock:
        if name in state.services:
            raise ApiError(400, f"Service {name} already exists", "GENERIC_BAD_REQUEST")
        region = body.get("region") or state.config.default_region
        _check_spec(state, body, region)
        spec = {k: v for k, v in body.items() if k not in ("serviceName", "region", "forceRedeploy")}
        service = Service(name=name, region=region, spec=spec)
        state.new_deployment(service, str(body.get("image") or f"build:{body.get('buildId')}"))
        state.services[name] = service
        return service.details(state.config.deploy_delay_s, 0)


@private.get("/agents")
async def list_services(
    state: EmulatorState = Depends(get_state), include_active: bool = Query(False, alias="includeActiveDeployment")
) -> dict[str, Any]:
    items = []
    with state.lock:
        for service in state.services.values():
            details = service.details(state.config.deploy_delay_s, len(state.active_sessions(service.name)))
            item = {
                k: details[k]
                for k in (
                    "name",
                    "region",
                    "desiredDeploymentId",
                    "activeDeploymentId",
                    "reconciledDeploymentId",
                    "createdAt",
                    "updatedAt",
                )
            }
            item |= {"id": service.name, "organizationId": "org-emulator", "deletedAt": None}
            if include_active:
                item["deployment"] = details["deployment"]
            items.append(item)
    return {"services": items}


@private.get("/agents/{name}")
async def get_service(name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        service = _service(state, name)
        return service.details(state.config.deploy_delay_s, len(state.active_sessions(name)))


@private.post("/agents/{name}")
async def update_service(name: str, request: Request, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    body = await _json(request)
    with state.lock:
        service = _service(state, name)
        merged = service.spec | {k: v for k, v in body.items() if k not in ("serviceName", "region", "forceRedeploy")}
        _check_spec(state, merged, service.region)
        changed = merged != service.spec
        service.spec = merged
        warning = None
        if changed or body.get("forceRedeploy"):
            state.new_deployment(service, str(merged.get("image")))
        else:
            warning = "identical config deployed without force; no new revision"
        details = service.details(state.config.deploy_delay_s, len(state.active_sessions(name)))
        return details | ({"warning": warning} if warning else {})


@private.delete("/agents/{name}")
async def delete_service(name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        _service(state, name)
        del state.services[name]  # sessions keep running: deleting an agent does not end them
    return {"status": "OK"}


@private.get("/agents/{name}/logs")
async def service_logs(
    name: str, state: EmulatorState = Depends(get_state), limit: int = 10, offset: int = 0
) -> dict[str, Any]:
    with state.lock:
        service = _service(state, name)
        logs = [
            {
                "log": f"deployment {d.id} created with image {d.image}",
                "timestamp": d.created_wall,
                "deploymentId": d.id,
            }
            for d in reversed(service.deployments)
        ]
    return {"total": {"value": len(logs), "relation": "eq"}, "logs": logs[offset : offset + limit]}


@private.get("/agents/{name}/sessions")
async def list_sessions(
    name: str, state: EmulatorState = Depends(get_state), status: str = "all", limit: int = 10, offset: int = 0
) -> Any:
    if status not in ("active", "ended", "all") or limit < 1 or offset < 0:
        return JSONResponse(
            {
                "error": "Invalid query",
                "code": "GENERIC_BAD_REQUEST",
                "err": {"name": "ZodError", "issues": [{"path": ["status"]}]},
            },
            status_code=400,
        )
    with state.lock:
        if name not in state.services and not any(s.agent == name for s in state.sessions.values()):
            raise ApiError(404, "Service not found", "404")
        found = [
            s
            for s in state.sessions.values()
            if s.agent == name and (status == "all" or (status == "active") == (s.ended is None))
        ]
        return {"total_count": len(found), "sessions": [s.item() for s in found[offset : offset + limit]]}


def _session(state: EmulatorState, name: str, session_id: str) -> Any:
    try:
        uuid.UUID(session_id)
    except ValueError:
        raise ApiError(400, "Invalid session id", "GENERIC_BAD_REQUEST") from None
    session = state.sessions.get(session_id)
    if session is None or session.agent != name:
        raise ApiError(404, "Session not found", "NOT_FOUND")
    return session


@private.get("/agents/{name}/sessions/{session_id}")
async def get_session(name: str, session_id: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        session = _session(state, name, session_id)
        return session.item() | {"resourceMetrics": None, "meetingIds": []}  # type: ignore[no-any-return]


@private.delete("/agents/{name}/sessions/{session_id}")
async def stop_session(name: str, session_id: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        session = _session(state, name, session_id)
        session.ended = session.ended or time.time()
    return {"status": "terminated", "session_id": session_id}


@private.get("/secrets")
async def list_secret_sets(state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        return {
            "sets": [
                {
                    "name": s.name,
                    "type": s.kind,
                    "region": s.region,
                    "status": s.status(state.config.secret_ready_delay_s),
                }
                for s in state.secret_sets.values()
            ]
        }


@private.get("/secrets/{set_name}")
async def get_secret_set(set_name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        secret_set = state.secret_sets.get(set_name)
        if secret_set is None:
            raise ApiError(404, "Set not found", "NOT_FOUND")
        if secret_set.kind == "imagePullSecret":
            raise ApiError(400, "Cannot retrieve image pull secrets by name", "GENERIC_BAD_REQUEST")
        return {
            "region": secret_set.region,
            "status": secret_set.status(state.config.secret_ready_delay_s),
            "secrets": [{"fieldName": key} for key in secret_set.values],
        }  # keys only, never values


@private.put("/secrets/{set_name}", status_code=202)
async def upsert_secret_set(set_name: str, request: Request, state: EmulatorState = Depends(get_state)) -> Any:
    body = await _json(request)
    if not (3 <= len(set_name) <= 63 and SET_NAME.match(set_name)):
        raise ApiError(400, "Invalid secret set name", "GENERIC_BAD_REQUEST")
    pull = bool(body.get("isImagePullSecret"))
    if pull:
        if not all(body.get(k) for k in ("host", "secretValue")):
            raise ApiError(400, "host and secretValue are required", "GENERIC_BAD_REQUEST")
        pairs = {"host": str(body["host"]), "auth": str(body["secretValue"])}
    elif "secretKey" in body:  # the CLI's one-key form
        pairs = {str(body["secretKey"]): str(body.get("secretValue", ""))}
    else:
        items = body.get("secrets")
        if not isinstance(items, list) or not items:
            raise ApiError(400, "secrets must be a non-empty list", "GENERIC_BAD_REQUEST")
        pairs = {str(i.get("secretKey")): str(i.get("secretValue")) for i in items if isinstance(i, dict)}
    if not all(SECRET_KEY.match(key) for key in pairs):
        raise ApiError(400, "Secret keys must match [a-zA-Z0-9_-], at most 64", "GENERIC_BAD_REQUEST")
    with state.lock:
        region = body.get("region")
        existing = state.secret_sets.get(set_name)
        if existing is not None:
            if region and region != existing.region:
                raise ApiError(400, "The region of a secret set cannot change", "GENERIC_BAD_REQUEST")
            if existing.kind != ("imagePullSecret" if pull else "secret"):
                raise ApiError(400, "A secret set cannot change type", "GENERIC_BAD_REQUEST")
        secret_set = existing or SecretSet(
            set_name, region or state.config.default_region, "imagePullSecret" if pull else "secret"
        )
        secret_set.values = ({} if pull else secret_set.values) | pairs
        secret_set.changed = time.monotonic()
        state.secret_sets[set_name] = secret_set
        return {"status": "OK", "region": secret_set.region}


@private.delete("/secrets/{set_name}")
async def delete_secret_set(set_name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        if state.secret_sets.pop(set_name, None) is None:
            raise ApiError(404, "Set not found", "NOT_FOUND")
    return {"status": "OK"}


@private.delete("/secrets/{set_name}/{key}")
async def delete_secret(set_name: str, key: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        secret_set = state.secret_sets.get(set_name)
        if secret_set is None or key not in secret_set.values or secret_set.kind != "secret":
            raise ApiError(404, "Secret not found", "NOT_FOUND")
        del secret_set.values[key]
    return {"status": "OK"}


@private.get("/regions")
async def regions() -> dict[str, Any]:
    return {
        "regions": [
            {"code": "us-west", "display_name": "US West"},
            {"code": "us-east", "display_name": "US East"},
            {"code": "eu-central", "display_name": "EU Central"},
        ]
    }


@public.post("/{name}/start")
async def start_session(name: str, request: Request, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    raw = await request.body()
    body = json.loads(raw) if raw else {}
    transport = body.get("transport") or ("daily" if body.get("createDailyRoom") else "webrtc")
    payload = json.dumps(body.get("body")).encode() if "body" in body else b""
    limit = 4096 if transport == "websocket" else 1 << 20
    if len(payload) > limit:
        raise ApiError(413, f"body is larger than {limit} bytes", "413")
    with state.lock:
        service = state.services.get(name)
        if service is None:
            raise ApiError(404, "Service not found", "404")
        if transport == "websocket" and "body" in body and service.spec.get("websocketAuth") != "token":
            raise ApiError(400, "body needs websocketAuth=token for websocket sessions", "GENERIC_BAD_REQUEST")
        details = service.details(state.config.deploy_delay_s, 0)
        if not details["available"]:
            raise ApiError(400, "Agent deployment is not ready", "PCC-1001")
        if len(state.active_sessions(name)) >= details["autoScaling"]["maxReplicas"]:
            return JSONResponse(
                {
                    "status": 429,
                    "code": "PCC-AGENT-AT-CAPACITY",  # type: ignore[return-value]
                    "message": "Rate limit exceeded. Please try again later",
                },
                status_code=429,
            )
        session = state.add_session(name)
    answer: dict[str, Any] = {"sessionId": session.id}
    if transport == "daily":
        answer |= {"dailyRoom": f"https://emulator.daily.co/{session.id[:8]}", "dailyToken": "emulator-room-token"}
    if transport == "websocket":
        answer |= {
            "token": uuid.uuid4().hex,
            "wsUrl": f"wss://us-west.api.pipecat.daily.co/ws/generic/{name}.emulator",
            "body": base64.b64encode(payload).decode(),
        }
    return answer


@public.api_route(
    "/{name}/sessions/{session_id}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
)
async def session_proxy(
    name: str, session_id: str, path: str, request: Request, state: EmulatorState = Depends(get_state)
) -> Response:
    raw = await request.body()
    with state.lock:
        session = state.sessions.get(session_id)
        if session is None or session.agent != name or session.ended is not None:
            raise ApiError(404, "Invalid or not-yet-ready session_id", "404")
        bot = state.bots.get(name)
        if path == "context" and request.method == "POST":
            session.received_at.append(time.time())
            try:
                session.received.append(json.loads(raw))
            except ValueError:
                session.received.append({"raw": raw.decode("utf-8", "replace")})
    if bot is None:  # answer as a bot with a `/context` route would
        if path == "context" and request.method == "POST":
            version = (session.received[-1] or {}).get("version") if session.received else None
            return JSONResponse({"status": "applied", "version": version})
        return JSONResponse({"error": "Not found", "code": "404"}, status_code=404)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "authorization")}
    headers["x-daily-session-id"] = session_id
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.request(
            request.method, f"{bot.rstrip('/')}/{path}", content=raw, headers=headers, params=dict(request.query_params)
        )
    return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))
