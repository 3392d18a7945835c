"""Operator endpoints for the dead-letter list: `/operator/dlq…` (only when `OPERATOR_TOKEN` is set)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from config_sync_service.admin import dlq, replay
from config_sync_service.api.deps import OperatorEndpointsDeps, RuntimeDep
from config_sync_service.mq.dead_letter import DeadLetterEntry
from config_sync_service.processing.hints import Hint
from config_sync_service.runtime import Runtime

router = APIRouter(prefix="/operator/dlq", tags=["operators"], dependencies=OperatorEndpointsDeps)


def _duration(name: str, value: str | None) -> float | None:
    try:
        return None if value is None else dlq.parse_duration(value)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


def _agent(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value  # entries of invalid messages may carry any string


@router.get("")
async def list_dead_letters(
    runtime: RuntimeDep,
    agent_id: str | None = None,
    reason: str | None = None,
    older_than: Annotated[str | None, Query(description="e.g. 30m, 2h, 7d")] = None,
    newer_than: Annotated[str | None, Query(description="e.g. 30m, 2h, 7d")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Entries newest first (index 0 is the newest), filtered and paged."""
    flt = dlq.Filter(_agent(agent_id), reason, _duration("older_than", older_than), _duration("newer_than", newer_than))
    page = await dlq.list_entries(runtime.dead_letters, flt, offset=offset, limit=limit)
    return page.to_dict()


@router.get("/{ref}")
async def show_dead_letter(runtime: RuntimeDep, ref: str) -> dict[str, Any]:
    """One entry by index or id."""
    found = await dlq.show(runtime.dead_letters, ref)
    if found is None:
        raise HTTPException(404, f"no dead-letter entry {ref}")
    return found.to_dict()


def _into_queue(runtime: Runtime) -> replay.Requeue:
    """Straight into this process's queue (it claims the agent like any worker)."""

    async def requeue(agent_id: uuid.UUID, *, replay_count: int, replay_id: str, entry: DeadLetterEntry) -> bool:
        runtime.engine.submit(agent_id, Hint(force=True, replay_count=replay_count, replay_id=replay_id))
        return True

    return requeue


class ReplayRequest(BaseModel):
    agent_id: str | None = None
    all: bool = False
    dry_run: bool = False


@router.post("/replay")
async def replay_dead_letters(runtime: RuntimeDep, request: ReplayRequest) -> dict[str, Any]:
    """Re-queue the agents of one agent's entries (or all entries) in this process; see `admin/replay.py`."""
    if (request.agent_id is None) == (not request.all):
        raise HTTPException(422, "give exactly one of agent_id or all=true")
    report = await replay.replay(
        runtime.dead_letters,
        _into_queue(runtime),
        agent_id=_agent(request.agent_id),
        replay_all=request.all,
        dry_run=request.dry_run,
    )
    return report.to_dict()


class PurgeRequest(BaseModel):
    older_than: str | None = None
    agent_id: str | None = None
    reason: str | None = None


@router.post("/purge")
async def purge_dead_letters(runtime: RuntimeDep, request: PurgeRequest) -> dict[str, int]:
    """Remove the selected entries (all of them without a filter)."""
    flt = dlq.Filter(_agent(request.agent_id), request.reason, _duration("older_than", request.older_than))
    return (await dlq.purge(runtime.dead_letters, flt)).to_dict()
