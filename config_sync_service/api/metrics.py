"""`/metrics`: Prometheus text format, all gunicorn workers of the pod added up, and the refresh of the gauges.

Under gunicorn every worker is its own process: with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn.conf.py sets it)
prometheus_client keeps each metric in a file per process and the worker that answers a scrape adds them up.
How each gauge (core/metrics.py) is added up is chosen per gauge:

- `livesum`: what each live worker holds (queue depth, in flight) — the pod's total.
- `mostrecent`: facts about shared state (dead-letter depth, agents per status and per live health, orphans) —
  the scraping worker reads Postgres and Redis just before it answers, so the newest value is the true one.
- `livemin`: the time of the last successful sweep — the worker that swept longest ago is the one to alert on.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from config_sync_service.api.deps import RuntimeDep
from config_sync_service.core import metrics
from config_sync_service.core.logging import get_logger
from config_sync_service.db import crud, observed, pause
from config_sync_service.db.models import SyncStatus
from config_sync_service.runtime import Runtime

router = APIRouter(tags=["operators"])
log = get_logger("config_sync.api.metrics")
REFRESH_TIMEOUT_S = 2.0
PROCESS_REFRESH_S = 1.0
SECONDS_SINCE_SWEEP = f"{metrics.PREFIX}_seconds_since_last_sweep"


def refresh_process(runtime: Runtime) -> None:
    """This process's own gauges; every second (`refresh_process_forever`) and before each scrape."""
    engine = runtime.engine
    metrics.QUEUE_DEPTH.set(len(engine.queue))
    metrics.IN_FLIGHT.set(engine.queue.in_flight)
    metrics.LAST_SWEEP.set(engine.sweeper.last_sweep_at or runtime.started_at)


async def refresh_process_forever(runtime: Runtime) -> None:
    """So that whichever worker answers a scrape sees every live worker's gauges (the app's lifespan runs it)."""
    while True:
        refresh_process(runtime)
        await asyncio.sleep(PROCESS_REFRESH_S)


async def refresh_shared(runtime: Runtime) -> None:
    """Gauges of shared state (Redis, Postgres), read by the worker that answers the scrape."""
    metrics.DLQ_DEPTH.set(await runtime.dead_letters.depth())
    async with runtime.sessions() as s:
        by_status = await crud.count_agents_by_status(s)
        live = await observed.live_report(s, limit=0)
        metrics.PAUSED.set(await pause.count_paused(s))
    for health, n in live.by_health.items():
        metrics.AGENTS_LIVE.labels(health=health).set(n)
    metrics.ORPHANS.set(len(live.orphans))
    for status in SyncStatus:
        metrics.AGENTS.labels(sync_status=status.value).set(by_status.get(status.value, 0))


class _Exposition:
    """Every family (this process's, or all workers' in multiprocess mode) plus the time since the last sweep,
    computed at scrape time from the (aggregated) sweep timestamp."""

    def collect(self) -> Iterator[Metric]:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            families = list(MultiProcessCollector(None, path=directory).collect())  # type: ignore[no-untyped-call]
        else:
            families = list(REGISTRY.collect())
        yield from families
        stamps = [s.value for f in families if f.name == metrics.LAST_SWEEP_NAME for s in f.samples if s.value > 0]
        family = GaugeMetricFamily(SECONDS_SINCE_SWEEP, "Seconds since the last successful sweep (see last_sweep).")
        if stamps:
            family.add_metric([], max(0.0, time.time() - min(stamps)))
        yield family


def render(accept: str | None = None) -> tuple[bytes, str]:
    """The exposition in the format the scraper accepts (Prometheus text, or OpenMetrics when it asks for it);
    summed over gunicorn's workers in multiprocess mode."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exposition())
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


@router.get("/metrics")
async def prometheus_metrics(runtime: RuntimeDep, request: Request) -> Response:
    """Open like a probe (Prometheus scrapes it); it holds counts and states, never a secret."""
    refresh_process(runtime)
    try:
        await asyncio.wait_for(refresh_shared(runtime), timeout=REFRESH_TIMEOUT_S)
    except Exception as exc:  # Postgres or Redis down or slow: the scrape still answers, with the last values
        log.warning("metrics.refresh_failed", error=type(exc).__name__)
    body, content_type = render(request.headers.get("accept"))
    return Response(body, media_type=content_type)
