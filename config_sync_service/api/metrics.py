"""`/metrics`: Prometheus text format, all gunicorn workers of the pod added up (see `config_sync_service.metrics`)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from config_sync_service import metrics
from config_sync_service.api.deps import RuntimeDep
from config_sync_service.core.logging import get_logger

router = APIRouter(tags=["operators"])
log = get_logger("config_sync.api.metrics")
REFRESH_TIMEOUT_S = 2.0


@router.get("/metrics")
async def prometheus_metrics(runtime: RuntimeDep, request: Request) -> Response:
    """Open like a probe (Prometheus scrapes it); it holds counts and states, never a secret."""
    metrics.refresh_process(runtime)
    try:
        await asyncio.wait_for(metrics.refresh_shared(runtime), timeout=REFRESH_TIMEOUT_S)
    except Exception as exc:  # Postgres or Redis down or slow: the scrape still answers, with the last values
        log.warning("metrics.refresh_failed", error=type(exc).__name__)
    body, content_type = metrics.render(request.headers.get("accept"))
    return Response(body, media_type=content_type)
