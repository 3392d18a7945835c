"""The Prometheus instruments of config-sync, the `Outcome` and `Event` names they count, and `count()`.

Only the instruments live here, low, so that any layer may count; their exposition at `/metrics` (and the
refresh of the gauges before a scrape) is the HTTP surface's: `api/metrics.py`.
"""

from __future__ import annotations

import enum

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "config_sync"


class Outcome(enum.StrEnum):
    """What one sync pass, or one payload from the channel, came to: a result's outcome, the `outcome` label of
    the metrics, a key of /status's counters."""

    APPLIED = "applied"  # Pipecat runs the active version
    NOOP = "noop"  # nothing to do: in step already, or a duplicate or stale message
    DEPLOYING = "deploying"  # Pipecat accepted the change; the agent is polled until it is ready
    DEFERRED = "deferred"  # live sessions have the change; the redeploy waits for the throttle (plan.py)
    DELETED = "deleted"  # deprovisioned
    VANISHED = "vanished"  # deleted behind our back: provisioned again
    FAILED = "failed"  # the error was written (ERROR_SYNC, ERROR_DEPROVISIONING)
    RETRY = "retry"  # a transient error: the agent is tried again after backoff
    INVALID = "invalid"  # the payload was not a change message
    DEAD_LETTERED = "dead_lettered"
    UNKNOWN_AGENT = "unknown_agent"  # no such agent (its dead letter is what is counted)
    CLAIMED_ELSEWHERE = "claimed_elsewhere"  # another process holds the agent
    FENCED = "fenced"  # the claim was lost mid-pass: no further call, no success claimed, an observation asked for
    HEALED = "healed"  # a drifted or missing agent repaired by self-heal


class Event(enum.StrEnum):
    """Other things the engine counts."""

    RECEIVED = "received"
    PROCESSED = "processed"
    ERRORS = "errors"  # a pass raised (the database away, or a bug)
    CHANGED_WHILE_RUNNING = "changed_while_running"
    DEAD_LETTER_COPIES_SKIPPED = "dead_letter_copies_skipped"  # another worker dead-lettered the same payload


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
NOTIFICATIONS = Counter(
    f"{PREFIX}_notifications",
    "Webhook notifications by result: sent, failed (every attempt failed), dropped (the queue was full).",
    ["result"],
)
# how gunicorn's workers add a gauge up (PROMETHEUS_MULTIPROC_DIR): see api/metrics.py
QUEUE_DEPTH = Gauge(f"{PREFIX}_queue_depth", "Agents waiting in the work queue.", multiprocess_mode="livesum")
IN_FLIGHT = Gauge(f"{PREFIX}_in_flight", "Agents being processed now.", multiprocess_mode="livesum")
DLQ_DEPTH = Gauge(f"{PREFIX}_dlq_depth", "Entries in the dead-letter list.", multiprocess_mode="mostrecent")
AGENTS = Gauge(f"{PREFIX}_agents", "Agents by sync status (Postgres).", ["sync_status"], multiprocess_mode="mostrecent")
AGENTS_LIVE = Gauge(
    f"{PREFIX}_agents_live",
    "Managed agents by live health, as the last observation of Pipecat Cloud found them (Postgres).",
    ["health"],
    multiprocess_mode="mostrecent",
)
ORPHANS = Gauge(
    f"{PREFIX}_orphan_agents",
    "Agents on Pipecat Cloud that no row names, as the last full observation found them (never deleted).",
    multiprocess_mode="mostrecent",
)
DRIFT = Counter(f"{PREFIX}_drift", "Differences found by observation, by field (counted when first seen).", ["field"])
HEALS = Counter(f"{PREFIX}_heals", "Self-heal repairs queued, by live health (DRIFTED, MISSING).", ["health"])
OBSERVATIONS = Counter(f"{PREFIX}_observations", "Observer turns taken, by kind (full, requested).", ["kind"])
PAUSED = Gauge(f"{PREFIX}_agents_paused", "Agents an operator paused (Postgres).", multiprocess_mode="mostrecent")
LAST_SWEEP_NAME = f"{PREFIX}_last_sweep_timestamp_seconds"
LAST_SWEEP = Gauge(
    LAST_SWEEP_NAME,
    "Unix time of the last successful sweep (of the worker that swept longest ago; its start before the first).",
    multiprocess_mode="livemin",
)

# outcomes that are engine events in the metrics (a process dropping its copy is not what a message came to)
_EVENT_OUTCOMES = frozenset({Outcome.CLAIMED_ELSEWHERE, Outcome.UNKNOWN_AGENT})


def count(what: Outcome | Event, n: int = 1) -> None:
    """Feed one count into the Prometheus counters (`processing.stats.Stats.count()` is the one caller)."""
    if what is Event.RECEIVED:
        MESSAGES_RECEIVED.inc(n)
    elif what is Outcome.RETRY:
        RETRIES.inc(n)
    elif isinstance(what, Outcome) and what not in _EVENT_OUTCOMES:
        MESSAGES.labels(outcome=what.value).inc(n)
    else:
        EVENTS.labels(event=what.value).inc(n)


def observe_sync(outcome: Outcome, seconds: float) -> None:
    SYNC_DURATION.labels(outcome=outcome.value).observe(seconds)


def observe_pipecat_call(operation: str, status: str, seconds: float) -> None:
    """The Pipecat client's `on_call` hook: one call (a retried call counts once per attempt)."""
    PIPECAT_CALLS.labels(operation=operation, status=status).inc()
    PIPECAT_LATENCY.labels(operation=operation).observe(seconds)
