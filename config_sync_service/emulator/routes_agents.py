"""Agents (services): create, list, get, update, delete, logs (pipecat-cloud-api.md §2–§3)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from config_sync_service.emulator.deps import ApiError, get_state, private_key, read_json
from config_sync_service.emulator.state import EmulatorState, Service, iso

private = APIRouter(prefix="/v1", dependencies=[Depends(private_key)])

SERVICE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])$")
PROFILES = {"agent-1x", "agent-2x", "agent-3x"}


def service_of(state: EmulatorState, name: str, *, error: str = "Service not found", code: str = "404") -> Service:
    service = state.services.get(name)
    if service is None:
        raise ApiError(404, error, code)
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
    body = await read_json(request)
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
    state: EmulatorState = Depends(get_state),
    include_active: Annotated[bool, Query(alias="includeActiveDeployment")] = False,
    region: str | None = None,
) -> dict[str, Any]:
    items = []
    with state.lock:
        for service in state.services.values():
            if region not in (None, service.region):
                continue
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
            item |= {"id": service.id, "organizationId": "org-emulator", "deletedAt": None}
            if include_active:
                item["deployment"] = details["deployment"]
            items.append(item)
    return {"services": items}


@private.get("/agents/{name}")
async def get_service(name: str, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    with state.lock:
        service = service_of(state, name, error="Not found", code="NOT_FOUND")  # getService's documented 404
        return service.details(state.config.deploy_delay_s, len(state.active_sessions(name)))


@private.post("/agents/{name}")
async def update_service(name: str, request: Request, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    body = await read_json(request)
    with state.lock:
        service = service_of(state, name)
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
        service_of(state, name)
        del state.services[name]  # sessions keep running: deleting an agent does not end them
    return {"status": "OK"}


def _unix(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise ApiError(400, "Invalid timestamp format", "GENERIC_BAD_REQUEST") from None


def _log_lines(state: EmulatorState, service: Service) -> list[tuple[float, str, str | None, str | None]]:
    """(time, line, deployment id, session id): a line per deployment and per session start, oldest first."""
    lines: list[tuple[float, str, str | None, str | None]] = [
        (d.created_wall, f"INFO deployment {d.id} created with image {d.image}", d.id, None)
        for d in service.deployments
    ]
    lines += [
        (s.created, f"INFO session {s.id} started", s.deployment_id, s.id)
        for s in state.sessions.values()
        if s.agent == service.name
    ]
    return sorted(lines, key=lambda line: line[0])


@private.get("/agents/{name}/logs")
async def service_logs(
    name: str,
    state: EmulatorState = Depends(get_state),
    limit: int = 10,
    offset: int = 0,
    deployment_id: Annotated[str | None, Query(alias="deploymentId")] = None,
    session_id: Annotated[str | None, Query(alias="sessionId")] = None,
    query: str | None = None,
    order: str = "desc",
    start_time: Annotated[str | None, Query(alias="startTime")] = None,
    end_time: Annotated[str | None, Query(alias="endTime")] = None,
) -> dict[str, Any]:
    """Timestamps are ISO 8601 strings (the official CLI parses them); `startTime`/`endTime` are unix seconds."""
    start, end = _unix(start_time), _unix(end_time)
    if order not in ("asc", "desc"):
        raise ApiError(400, "order must be asc or desc", "GENERIC_BAD_REQUEST")
    with state.lock:
        lines = [
            {"log": line, "timestamp": iso(at), "deploymentId": deployment}
            for at, line, deployment, session in _log_lines(state, service_of(state, name))
            if deployment_id in (None, deployment)
            and session_id in (None, session)
            and (query is None or query.lower() in line.lower())
            and (start is None or at >= start)
            and (end is None or at <= end)
        ]
    if order == "desc":
        lines.reverse()
    return {"total": {"value": len(lines), "relation": "eq"}, "logs": lines[offset : offset + limit]}
