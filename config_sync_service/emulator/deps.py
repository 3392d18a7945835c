"""What every route of the emulated API shares: the state, the two key checks, the error shape, JSON bodies."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from config_sync_service.emulator.faults import key_type
from config_sync_service.emulator.state import EmulatorState


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


async def read_json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "Invalid JSON body", "GENERIC_BAD_REQUEST") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Body must be a JSON object", "GENERIC_BAD_REQUEST")
    return body
