"""`/status`: what an operator needs at a glance. Never any secret."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from config_sync_service import __version__
from config_sync_service.api.deps import OperatorDep, RuntimeDep
from config_sync_service.db import crud

router = APIRouter(tags=["operators"])


async def build_status(runtime: RuntimeDep) -> dict[str, Any]:
    engine = runtime.engine
    async with runtime.sessions() as s:
        by_status = await crud.count_agents_by_status(s)
    reconciler = engine.reconciler
    return {
        "version": __version__,
        "owner": engine.owner,
        "uptime_s": round(time.time() - runtime.started_at, 1),
        "agents_by_status": by_status,
        "queue": {"depth": len(engine.queue), "in_flight": engine.queue.in_flight, "scheduled": engine.queue.scheduled},
        "dlq_depth": await runtime.dead_letters.depth(),
        "subscribed": runtime.listener.subscribed,
        "last_sweep": {
            "at": reconciler.last_sweep_at,
            "queued": reconciler.last_sweep_queued,
            "sweeps": reconciler.sweeps,
        },
        "retry_budget": {"paused_s": round(engine.budget.pause_remaining(), 2), "pauses": engine.budget.pauses},
        **engine.stats.snapshot(),
    }


@router.get("/status", dependencies=[OperatorDep])
async def status(runtime: RuntimeDep) -> dict[str, Any]:
    return await build_status(runtime)
