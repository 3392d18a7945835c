"""The process-wide retry budget (DESIGN §5)."""

from __future__ import annotations

import asyncio
import time


class RetryBudget:
    """A token bucket shared by every agent of a process, plus a global pause after a 429.

    Each retry spends a token; with none left, the retry waits for the next one. A 429 pauses every
    Pipecat call of the process until its `Retry-After` has passed, so throttling slows the whole
    process down instead of one agent.
    """

    def __init__(self, *, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._paused_until = 0.0
        self.pauses = 0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    def reserve(self) -> float:
        """Spend a retry token; returns how long the caller must wait before retrying (0 if a token was free)."""
        now = time.monotonic()
        self._refill(now)
        self._tokens -= 1
        wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s
        return max(wait, self._paused_until - now)

    def pause(self, seconds: float) -> None:
        """Hold every Pipecat call for `seconds` (after a 429 with Retry-After)."""
        until = time.monotonic() + seconds
        if until > self._paused_until:
            self._paused_until = until
            self.pauses += 1

    def pause_remaining(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    async def wait_until_clear(self) -> None:
        """Sleep while the process is paused by a 429."""
        while (remaining := self.pause_remaining()) > 0:  # noqa: ASYNC110  (a deadline, not an event)
            await asyncio.sleep(remaining)
