"""Prometheus metrics of config-sync, and their exposition at `/metrics`.

Under gunicorn every worker is its own process: with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn.conf.py sets it)
prometheus_client keeps each metric in a file per process and the worker that answers a scrape adds them up.
How each gauge is added up is chosen per gauge:

- `livesum`: what each live worker holds (queue depth, in flight) — the pod's total.
- `mostrecent`: facts about shared state (dead-letter depth, agents per status) — the scraping worker reads
  Postgres and Redis just before it answers, so the newest value is the true one.
- `livemin`: the time of the last successful sweep — the worker that swept longest ago is the one to alert on.

Counters are fed by `processing.stats.Stats.count()` (the one place that counts), through `count()` below.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from config_sync_service.db.models import SyncStatus

if TYPE_CHECKING:
    from config_sync_service.runtime import Runtime

PREFIX = "config_sync"
# Stats.count() names that are the outcome of a message or a sync; the rest are engine events
OUTCOMES = frozenset({"applied", "noop", "dead_lettered", "invalid", "deploying", "deleted", "failed", "vanished"})

MESSAGES_RECEIVED = Counter(f"{PREFIX}_messages_received", "Payloads received on the updates channel.")
MESSAGES = Counter(
    f"{PREFIX}_messages",
    "Messages and syncs by outcome: applied, noop, dead_lettered, invalid (also deploying, deleted, failed).",
    ["outcome"],
)
RETRIES = Counter(f"{PREFIX}_retries", "Syncs scheduled again after a transient error.")
EVENTS = Counter(f"{PREFIX}_engine_events", "Other engine events (claimed_elsewhere, errors, …).", ["event"])
SYNC_DURATION = Histogram(
    f"{PREFIX}_sync_duration_seconds",
    "Time to process one agent taken from the queue (claim, Pipecat calls, writes).",
    ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
PIPECAT_CALLS = Counter(
    f"{PREFIX}_pipecat_calls", "Pipecat Cloud API calls by operation and HTTP status.", ["operation", "status"]
)
PIPECAT_LATENCY = Histogram(
    f"{PREFIX}_pipecat_call_duration_seconds",
    "Latency of Pipecat Cloud API calls.",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20),
)
QUEUE_DEPTH = Gauge(f"{PREFIX}_queue_depth", "Agents waiting in the work queue.", multiprocess_mode="livesum")
IN_FLIGHT = Gauge(f"{PREFIX}_in_flight", "Agents being processed now.", multiprocess_mode="livesum")
DLQ_DEPTH = Gauge(f"{PREFIX}_dlq_depth", "Entries in the dead-letter list.", multiprocess_mode="mostrecent")
AGENTS = Gauge(f"{PREFIX}_agents", "Agents by sync status (Postgres).", ["sync_status"], multiprocess_mode="mostrecent")
LAST_SWEEP_NAME = f"{PREFIX}_last_sweep_timestamp_seconds"
LAST_SWEEP = Gauge(
    LAST_SWEEP_NAME,
    "Unix time of the last successful sweep (of the worker that swept longest ago; its start before the first).",
    multiprocess_mode="livemin",
)
SECONDS_SINCE_SWEEP = f"{PREFIX}_seconds_since_last_sweep"


def count(name: str, n: int = 1) -> None:
    """Feed one `Stats.count()` increment into the Prometheus counters."""
    if name == "received":
        MESSAGES_RECEIVED.inc(n)
    elif name == "retries":
        RETRIES.inc(n)
    elif name in OUTCOMES:
        MESSAGES.labels(outcome=name).inc(n)
    else:
        EVENTS.labels(event=name).inc(n)


def observe_sync(outcome: str, seconds: float) -> None:
    SYNC_DURATION.labels(outcome=outcome).observe(seconds)


def observe_pipecat_call(operation: str, status: str, seconds: float) -> None:
    """The Pipecat client's `on_call` hook: one call (a retried call counts once per attempt)."""
    PIPECAT_CALLS.labels(operation=operation, status=status).inc()
    PIPECAT_LATENCY.labels(operation=operation).observe(seconds)


def refresh_process(runtime: Runtime) -> None:
    """This process's own gauges; called every second by the runtime and before each scrape."""
    engine = runtime.engine
    QUEUE_DEPTH.set(len(engine.queue))
    IN_FLIGHT.set(engine.queue.in_flight)
    LAST_SWEEP.set(engine.reconciler.last_sweep_at or runtime.started_at)


async def refresh_shared(runtime: Runtime) -> None:
    """Gauges of shared state (Redis, Postgres), read by the worker that answers the scrape."""
    from config_sync_service.db import crud

    DLQ_DEPTH.set(await runtime.dead_letters.depth())
    async with runtime.sessions() as s:
        by_status = await crud.count_agents_by_status(s)
    for status in SyncStatus:
        AGENTS.labels(sync_status=status.value).set(by_status.get(status.value, 0))


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Exposition:
    """Every family (this process's, or all workers' in multiprocess mode) plus the time since the last sweep,
    computed at scrape time from the (aggregated) sweep timestamp."""

    def collect(self) -> Iterator[Metric]:
        directory = multiprocess_dir()
        if directory:
            families = list(MultiProcessCollector(None, path=directory).collect())  # type: ignore[no-untyped-call]
        else:
            families = list(REGISTRY.collect())
        yield from families
        stamps = [s.value for f in families if f.name == LAST_SWEEP_NAME for s in f.samples if s.value > 0]
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
