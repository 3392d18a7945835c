"""The process-wide retry budget (DESIGN §5): a failing Pipecat is not hammered by every agent at once.

A token bucket shared by every agent of a process: each retry spends a token; with none left, the retry waits for
the next one. (A 429's pause is not kept here: the pacer holds every request until it has passed.)
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RetryBudget:
    def __init__(self, *, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def reserve(self) -> float:
        """Spend a retry token; returns how long the caller must wait before retrying (0 if a token was free)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s
