"""Probes for Kubernetes: `/healthz` (liveness) and `/readyz` (readiness)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Response

from config_sync_service.api.deps import RuntimeDep

router = APIRouter(tags=["probes"])
READY_CACHE_S = 2.0
CHECK_TIMEOUT_S = 1.0
_cache: dict[int, tuple[float, dict[str, Any]]] = {}


@router.get("/healthz")
async def healthz(runtime: RuntimeDep, response: Response) -> dict[str, Any]:
    """Liveness: the event loop answers and the listener and workers run. Touches no dependency."""
    if not runtime.alive:
        response.status_code = 503
        return {"status": "dead", "listener": runtime.listener_task is not None and not runtime.listener_task.done()}
    return {"status": "ok"}


async def _check_postgres(runtime: RuntimeDep) -> None:
    async with runtime.db.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def _run_checks(runtime: RuntimeDep) -> dict[str, Any]:
    checks: dict[str, str] = {}
    for name, probe in (("postgres", _check_postgres(runtime)), ("redis", runtime.redis.ping())):
        try:
            await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"failed: {type(exc).__name__}"
    checks["subscription"] = "ok" if runtime.listener.subscribed else "failed: not subscribed"
    checks["first_sweep"] = "ok" if runtime.engine.sweeper.first_sweep_done.is_set() else "failed: not yet"
    failing = [name for name, state in checks.items() if state != "ok"]
    return {"status": "ready" if not failing else "not_ready", "failing": failing, "checks": checks}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep, response: Response) -> dict[str, Any]:
    """Readiness: Postgres, Redis, the subscription and the first sweep; cached for a few seconds."""
    now = time.monotonic()
    cached = _cache.get(id(runtime))
    if cached is None or now - cached[0] > READY_CACHE_S:
        cached = (now, await _run_checks(runtime))
        _cache[id(runtime)] = cached
    body = cached[1]
    if body["failing"]:
        response.status_code = 503
    return body
