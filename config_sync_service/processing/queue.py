"""A work queue keyed by agent id, with client-go workqueue semantics.

- A key waiting in the queue is there once, however often it is added (newest wins: the processor reads
  the current rows, not the message).
- A key added while it is being processed is not handed to a second worker; it is queued again when
  the first worker calls `done()`, so it runs once more afterwards.
- `add_after()` schedules a key for later (retries with backoff, deployment polling) without holding
  a worker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TypeVar

K = TypeVar("K")


class ShutDownError(Exception):
    """The queue is shut down: no more keys will be handed out."""


class WorkQueue[K]:
    def __init__(self) -> None:
        self._order: deque[K] = deque()
        self._dirty: set[K] = set()  # waiting to be processed (in `_order`, or parked while processing)
        self._processing: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._nonempty = asyncio.Event()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._order)

    @property
    def in_flight(self) -> int:
        return len(self._processing)

    @property
    def scheduled(self) -> int:
        return len(self._timers)

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # `done()` re-queues it
        self._order.append(key)
        self._wake()

    def add_after(self, key: K, delay_s: float) -> None:
        """Add `key` after `delay_s`; an earlier schedule for the same key is kept if it fires sooner."""
        if self._shutting_down:
            return
        if delay_s <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay_s
        current = self._timers.get(key)
        if current is not None:
            if current.when() <= due:
                return
            current.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _wake(self) -> None:
        self._nonempty.set()

    async def get(self) -> K:
        """The next key; blocks until one is ready. Raises `ShutDownError` once shut down."""
        while not self._order:
            if self._shutting_down:
                raise ShutDownError
            self._nonempty.clear()
            await self._nonempty.wait()
        key = self._order.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._order.append(key)
            self._wake()

    def shut_down(self) -> None:
        """Stop handing out keys; waiting keys and timers are dropped (they stay drifted in Postgres)."""
        self._shutting_down = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._order.clear()
        self._dirty.clear()
        self._nonempty.set()
