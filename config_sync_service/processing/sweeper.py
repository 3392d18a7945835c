"""The sweep: find every agent whose Pipecat state may disagree with Postgres and queue it (DESIGN §5).

Runs at startup, after every (re)subscribe (Pub/Sub lost what was published meanwhile) and every
`RECONCILE_INTERVAL_S` with ±20 % jitter, so that replicas do not sweep in lockstep.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from config_sync_service.core.backoff import backoff_delay
from config_sync_service.core.logging import get_logger
from config_sync_service.db import drift, history
from config_sync_service.db.session import SessionFactory, transaction

log = get_logger("config_sync.sweeper")
SWEEP_BATCH = 5000


class Sweeper:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        enqueue: Callable[[uuid.UUID], None],
        interval_s: float,
        retention: history.Retention | None = None,
        prune_interval_s: float = 600.0,
    ) -> None:
        self.sessions = sessions
        self.enqueue = enqueue
        self.interval_s = interval_s
        self.retention = retention
        self.prune_interval_s = prune_interval_s
        self._next_prune = 0.0  # monotonic; run() sets the first one
        self.first_sweep_done = asyncio.Event()
        self.last_sweep_at: float | None = None
        self.last_sweep_queued = 0
        self.sweeps = 0
        self._requested = asyncio.Event()

    def request_sweep(self) -> None:
        """Ask for a sweep as soon as possible (the listener calls this after each subscribe)."""
        self._requested.set()

    async def sweep(self) -> int:
        """Queue every drifted agent; returns how many."""
        started = time.monotonic()
        async with self.sessions() as s:
            drifted = await drift.list_drifted_agents(s, limit=SWEEP_BATCH)
        for agent in drifted:
            self.enqueue(agent.agent_id)
        self.sweeps += 1
        self.last_sweep_at = time.time()
        self.last_sweep_queued = len(drifted)
        self.first_sweep_done.set()
        log.info("sweep.done", queued=len(drifted), duration_s=round(time.monotonic() - started, 3))
        return len(drifted)

    async def prune_history(self, *, now: float | None = None) -> int:
        """Every `prune_interval_s` (after a sweep), one batch of the history's retention (db/history.py `prune`)."""
        now = time.monotonic() if now is None else now
        if self.retention is None or now < self._next_prune:
            return 0
        self._next_prune = now + self.prune_interval_s
        async with transaction(self.sessions) as s:
            deleted = await history.prune(s, self.retention)
        if deleted:
            log.info("history.pruned", rows=deleted)
        return deleted

    async def run(self) -> None:
        self._requested.set()  # the startup sweep
        # the first prune one interval after start: start-up (and the sweeps it asks for) stays quick
        self._next_prune = time.monotonic() + self.prune_interval_s
        failures = 0
        while True:
            delay = self.interval_s * random.uniform(0.8, 1.2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._requested.wait(), timeout=delay)
            self._requested.clear()
            try:
                await self.sweep()
                await self.prune_history()
                failures = 0
            except (SQLAlchemyError, OSError) as exc:
                failures += 1
                retry_in = backoff_delay(failures, base_s=min(1.0, self.interval_s), cap_s=min(5.0, self.interval_s))
                log.warning("sweep.failed", error=f"{type(exc).__name__}: {exc}", retry_in_s=round(retry_in, 2))
                await asyncio.sleep(retry_in)
                self._requested.set()
