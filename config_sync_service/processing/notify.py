"""Notifications: signed webhooks (Standard Webhooks) to `NOTIFY_WEBHOOK_URL` when something breaks.

One event per incident, not one per retry of a flapping agent: an incident (an agent whose sync failed, an agent
drifted or missing, the dead-letter list past `NOTIFY_DLQ_THRESHOLD`) opens with a Redis key set only if absent
(so every worker and pod together send one event) and ends when the agent recovers (SYNCED or DELETED, or
HEALTHY) or the list shrinks back: the next one is a new incident. Nothing here blocks or breaks a sync: the hooks
only queue (a full queue drops and counts), one background task does the Redis work, and each delivery runs in a
task of its own with bounded retries; a delivery that fails every attempt is counted
(`config_sync_notifications_total{result="failed"}`). Bodies carry ids, names, statuses and redacted error text,
never a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis
from standardwebhooks import Webhook

from config_sync_service.core import metrics
from config_sync_service.core.backoff import backoff_delay
from config_sync_service.core.logging import get_logger
from config_sync_service.core.redaction import excerpt
from config_sync_service.db import history
from config_sync_service.db.models import SyncStatus
from config_sync_service.mq.dead_letter import DeadLetterQueue

log = get_logger("config_sync.notify")
QUEUE_MAX = 1000
ATTEMPTS, TIMEOUT_S, BACKOFF_BASE_S, BACKOFF_CAP_S = 5, 5.0, 0.5, 8.0
INCIDENT_TTL_S = 7 * 86400  # an incident nobody closes (its agent deleted meanwhile) is forgotten after a week
DLQ = "dead-letters"


class Incident(enum.StrEnum):
    """The event types, one per kind of incident."""

    SYNC_FAILED = "agent.sync_failed"  # entered ERROR_SYNC (or ERROR_DEPROVISIONING)
    DRIFTED = "agent.drifted"  # live health DRIFTED (observed state)
    MISSING = "agent.missing"  # live health MISSING (observed state)
    DEAD_LETTERS = "dead_letters.threshold"  # the dead-letter list grew past NOTIFY_DLQ_THRESHOLD


_FAILED = {SyncStatus.ERROR_SYNC.value, SyncStatus.ERROR_DEPROVISIONING.value}
_RECOVERED = {SyncStatus.SYNCED.value, SyncStatus.DELETED.value}
_HEALTH = {"DRIFTED": Incident.DRIFTED, "MISSING": Incident.MISSING}
Work = tuple[bool, Incident, str, dict[str, Any]]  # open (True) or close, the kind, its subject, the event's data


class Notifier:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        url: str,
        signer: Webhook,
        dead_letters: DeadLetterQueue,
        dlq_threshold: int,
        key_prefix: str,
        dlq_check_s: float = 30.0,
    ) -> None:
        self.redis = redis
        self.url = url
        self.signer = signer
        self.dlq = dead_letters
        self.dlq_threshold = dlq_threshold
        self.key_prefix = key_prefix
        self.dlq_check_s = dlq_check_s
        self._queue: asyncio.Queue[Work | None] = asyncio.Queue(QUEUE_MAX)
        self._deliveries: set[asyncio.Task[bool]] = set()
        self._task: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=TIMEOUT_S, headers={"user-agent": "config-sync"})

    # --- hooks (never wait, never raise) -------------------------------------------------------------------
    def after_pass(self, entry: history.Entry, *, name: str) -> None:
        """A pass ended (processor): a failure written opens the agent's incident, a sync or deletion closes it."""
        if entry.sync_status in _FAILED:
            data = {
                "agent_id": str(entry.agent_id),
                "name": name,
                "version": entry.version,
                "sync_status": entry.sync_status,
                "error_class": entry.error_class,
                "error": None if entry.error_message is None else excerpt(entry.error_message, 300),
            }
            self._put((True, Incident.SYNC_FAILED, str(entry.agent_id), data))
        elif entry.sync_status in _RECOVERED:
            self._put((False, Incident.SYNC_FAILED, str(entry.agent_id), {}))

    def live_health(
        self, agent_id: uuid.UUID, health: str, *, name: str | None = None, differences: Iterable[str] = ()
    ) -> None:
        """An agent's observed live health (observed state): DRIFTED or MISSING opens an incident, HEALTHY closes
        both. `differences` are field names only (never a value: it may be a secret)."""
        subject = str(agent_id)
        if health in _HEALTH:
            data = {"agent_id": subject, "name": name, "live_health": health, "differences": list(differences)}
            self._put((True, _HEALTH[health], subject, data))
        elif health == "HEALTHY":
            for kind in _HEALTH.values():
                self._put((False, kind, subject, {}))

    def dead_letters_changed(self) -> None:
        """Entries were pushed: check the list's depth soon (it is also checked every `dlq_check_s`)."""
        self._put((True, Incident.DEAD_LETTERS, DLQ, {}))

    def _put(self, work: Work) -> None:
        try:
            self._queue.put_nowait(work)
        except asyncio.QueueFull:
            metrics.NOTIFICATIONS.labels(result="dropped").inc()

    # --- the background task -------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        """Let queued work and deliveries in flight finish for a moment, then cancel them."""
        if self._task is not None:
            try:
                self._queue.put_nowait(None)
            except asyncio.QueueFull:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=2.0)
        if self._deliveries:
            _, pending = await asyncio.wait(self._deliveries, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                work = await asyncio.wait_for(self._queue.get(), timeout=self.dlq_check_s)
            except TimeoutError:
                work = (True, Incident.DEAD_LETTERS, DLQ, {})
            if work is None:
                return
            try:
                await self._handle(*work)
            except Exception as exc:  # Redis away: this incident is not notified; the sync goes on regardless
                log.warning("notify.failed", incident=work[1].value, error_class=type(exc).__name__)

    async def _handle(self, opening: bool, kind: Incident, subject: str, data: dict[str, Any]) -> None:
        if kind is Incident.DEAD_LETTERS:
            depth = await self.dlq.depth()
            opening = depth > self.dlq_threshold
            data = {"depth": depth, "threshold": self.dlq_threshold}
        key = f"{self.key_prefix}:{kind.value}:{subject}"
        if not opening:
            await self.redis.delete(key)
            return
        msg_id = f"msg_{uuid.uuid4().hex}"
        if await self.redis.set(key, msg_id, nx=True, ex=INCIDENT_TTL_S):  # only the first opener sends
            self._send(msg_id, kind, data)

    def _send(self, msg_id: str, kind: Incident, data: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        body = json.dumps({"type": kind.value, "timestamp": now.isoformat(timespec="milliseconds"), "data": data})
        task = asyncio.create_task(self._deliver(msg_id, kind, body.encode()), name="notify-delivery")
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, msg_id: str, kind: Incident, body: bytes) -> bool:
        """POST the event, each attempt signed afresh under the same `webhook-id` (receivers drop duplicates)."""
        error = ""
        for attempt in range(1, ATTEMPTS + 1):
            now = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.signer.sign(msg_id, now, body.decode()),
            }
            try:
                response = await self._http.post(self.url, content=body, headers=headers)
                if response.is_success:
                    metrics.NOTIFICATIONS.labels(result="sent").inc()
                    log.info("notify.sent", incident=kind.value, attempts=attempt)
                    return True
                error = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                    break  # the receiver refuses it: retrying will not help
            except httpx.HTTPError as exc:
                error = type(exc).__name__  # never the URL: it may carry a token
            if attempt < ATTEMPTS:
                await asyncio.sleep(backoff_delay(attempt, base_s=BACKOFF_BASE_S, cap_s=BACKOFF_CAP_S))
        metrics.NOTIFICATIONS.labels(result="failed").inc()
        log.warning("notify.undelivered", incident=kind.value, attempts=attempt, error=error)
        return False
