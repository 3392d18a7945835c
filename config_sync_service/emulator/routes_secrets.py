"""Secret sets: list, get (keys only), upsert, delete a set or a key; the regions and the organisation's properties
(pipecat-cloud-api.md §2)."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from config_sync_service.emulator.deps import ApiError, get_state, private_key, read_json
from config_sync_service.emulator.state import EmulatorState, SecretSet

private = APIRouter(prefix="/v1", dependencies=[Depends(private_key)])

SET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
REGIONS = ("us-west", "us-east", "eu-central")


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
    body = await read_json(request)
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
    names = {"us-west": "US West", "us-east": "US East", "eu-central": "EU Central"}
    return {"regions": [{"code": code, "display_name": names[code]} for code in REGIONS]}


def _properties(state: EmulatorState) -> dict[str, Any]:
    region = {
        "type": "string",
        "description": "The region new agents and secret sets go to when none is given",
        "default": "us-west",
        "currentValue": state.config.default_region,
        "readOnly": False,
        "availableValues": list(REGIONS),
    }
    return {"properties": {"defaultRegion": region}}


@private.get("/properties")
async def properties(state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return {"properties": {"defaultRegion": state.config.default_region}}


@private.get("/properties/schema")
async def properties_schema(state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    return _properties(state)


@private.patch("/properties")
async def patch_properties(request: Request, state: EmulatorState = Depends(get_state)) -> dict[str, Any]:
    body = await read_json(request)
    if not body:
        raise ApiError(400, "No properties provided", "GENERIC_BAD_REQUEST")
    if set(body) != {"defaultRegion"}:
        raise ApiError(400, f"Unknown properties: {sorted(set(body) - {'defaultRegion'})}", "GENERIC_BAD_REQUEST")
    if body["defaultRegion"] not in REGIONS:
        raise ApiError(400, f"Invalid region {body['defaultRegion']}", "GENERIC_BAD_REQUEST")
    state.config.default_region = body["defaultRegion"]
    return _properties(state)
