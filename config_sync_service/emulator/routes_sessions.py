"""Sessions: list, get and stop them (private key), start one and reach its bot through the Session API
(public key) (pipecat-cloud-api.md §4–§7)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from config_sync_service.emulator.deps import ApiError, get_state, private_key, public_key
from config_sync_service.emulator.state import EmulatorState, Session

private = APIRouter(prefix="/v1", dependencies=[Depends(private_key)])
public = APIRouter(prefix="/v1/public", dependencies=[Depends(public_key)])
START = ("cold", "warm", "all")


def _zod(field: str) -> JSONResponse:
    issue = {"code": "invalid_enum_value", "path": [field], "message": f"Invalid {field}"}
    return JSONResponse(
        {"error": "Invalid query", "code": "GENERIC_BAD_REQUEST", "err": {"name": "ZodError", "issues": [issue]}},
        status_code=400,
    )


@private.get("/agents/{name}/sessions")
async def list_sessions(
    name: str,
    state: EmulatorState = Depends(get_state),
    status: str = "all",
    limit: int = 10,
    offset: int = 0,
    deployment_id: Annotated[str | None, Query(alias="deploymentId")] = None,
    start_type: Annotated[str, Query(alias="startType")] = "all",
) -> Any:
    """Oldest first (the order is not documented); every session the emulator starts is warm."""
    for field, value, allowed in (("status", status, ("active", "ended", "all")), ("startType", start_type, START)):
        if value not in allowed:
            return _zod(field)
    if limit < 1 or offset < 0:
        return _zod("limit" if limit < 1 else "offset")
    with state.lock:
        if name not in state.services and not any(s.agent == name for s in state.sessions.values()):
            raise ApiError(404, "Service not found", "404")
        found = [
            s
            for s in state.sessions.values()
            if s.agent == name
            and (status == "all" or (status == "active") == (s.ended is None))
            and deployment_id in (None, s.deployment_id)
            and start_type != "cold"
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
        if bot is None:
            return _stand_in(session, path, request.method)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "authorization")}
    headers["x-daily-session-id"] = session_id
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.request(
            request.method, f"{bot.rstrip('/')}/{path}", content=raw, headers=headers, params=dict(request.query_params)
        )
    return Response(answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type"))


def _stand_in(session: Session, path: str, method: str) -> Response:
    """Answer as agent_bot's `/context` routes would, for a session with no bot registered: a push applies a newer
    version and keeps a newer one it already runs (`stale`); `GET /context` reports the version it runs."""
    if path != "context" or method not in ("GET", "POST"):
        return JSONResponse({"error": "Not found", "code": "404"}, status_code=404)
    if method == "GET":
        return JSONResponse({"session_id": session.id, "version": session.version})
    pushed = session.received[-1].get("version") if isinstance(session.received[-1], dict) else None
    if not isinstance(pushed, int) or pushed < 1:
        return JSONResponse({"detail": "version: a positive integer is required"}, status_code=422)
    if session.version is not None and pushed < session.version:
        return JSONResponse({"status": "stale", "version": session.version})
    session.version = pushed
    return JSONResponse({"status": "applied", "version": pushed, "mode": "reset"})
