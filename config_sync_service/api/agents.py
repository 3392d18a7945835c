"""Operator endpoints for one agent: `GET /operator/agents/{id}/history` (behind the operator token like
/status), `POST /operator/agents/{id}/pause` and `/resume` (only when `OPERATOR_TOKEN` is set, like /operator/dlq)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from config_sync_service.admin import agents
from config_sync_service.api.deps import OperatorDep, OperatorEndpointsDeps, RuntimeDep
from config_sync_service.db.pause import REASON_MAX

reading = APIRouter(prefix="/operator/agents", tags=["operators"], dependencies=[OperatorDep])
changing = APIRouter(prefix="/operator/agents", tags=["operators"], dependencies=OperatorEndpointsDeps)


def _agent_id(value: str) -> uuid.UUID:
    try:
        return agents.parse_agent_id(value)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@reading.get("/{agent_id}/history")
async def agent_history(
    runtime: RuntimeDep, agent_id: str, limit: Annotated[int, Query(ge=1, le=agents.HISTORY_LIMIT_MAX)] = 50
) -> dict[str, Any]:
    """The agent's sync history, newest first."""
    try:
        rows = await agents.agent_history(runtime.sessions, _agent_id(agent_id), limit=limit)
    except agents.NoSuchAgentError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"agent_id": agent_id, "history": [row.to_dict() for row in rows]}


class PauseRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=REASON_MAX)


@changing.post("/{agent_id}/pause")
async def pause_agent(runtime: RuntimeDep, agent_id: str, request: PauseRequest) -> dict[str, Any]:
    """Pause the agent: observed and reported, never changed, until resumed."""
    try:
        await agents.pause_agent(runtime.sessions, _agent_id(agent_id), reason=request.reason)
    except agents.NoSuchAgentError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"agent_id": agent_id, "paused": True, "reason": request.reason.strip()}


@changing.post("/{agent_id}/resume")
async def resume_agent(runtime: RuntimeDep, agent_id: str) -> dict[str, Any]:
    """Resume the agent; whatever is pending is applied at once."""
    try:
        resumed = await agents.resume_agent(
            runtime.sessions, runtime.redis, _agent_id(agent_id), channel=runtime.settings.updates_channel
        )
    except agents.NoSuchAgentError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"agent_id": agent_id, "paused": False, "version": resumed.version}
