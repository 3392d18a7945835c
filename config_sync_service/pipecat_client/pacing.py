"""Pacing of requests to Pipecat Cloud: a rate for the whole deployment, and the one pause a 429 asks for.

Every request waits for its slot before it is sent. `LocalPacer` paces one process; `RedisPacer` paces every
process and pod that shares a Redis key, which is what a limit on the API key needs (gunicorn runs several
workers, Kubernetes several pods). A `Retry-After` (a 429's, or its default) moves the next free slot past the
pause for everyone: this is the only place config-sync pauses after a 429.
If Redis cannot answer, a process falls back to pacing itself at the same rate until it can.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as aioredis

from config_sync_service.core.logging import get_logger

log = get_logger("config_sync.pacing")

# The next free slot, in ms of Redis's clock, is the key's value: a reservation takes it and moves it on by one
# interval (GCRA without burst); a pause moves it to at least now + pause. Returns how long the caller waits.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + tonumber(ARGV[2]))
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', math.max(slot + tonumber(ARGV[1]) - now, 1) + 60000)
return slot - now
"""
# how long a request would wait now, reserving nothing
_PEEK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return math.max(tonumber(redis.call('GET', KEYS[1]) or '0') - now, 0)
"""


def shared_key(api_base: str, api_key: str) -> str:
    """One pacing key per API key and endpoint: the limit belongs to the key, whoever uses it."""
    return "config_sync:pacing:" + hashlib.sha256(f"{api_base}\n{api_key}".encode()).hexdigest()[:16]


class Pacer(Protocol):
    @property
    def pauses(self) -> int:
        """Pauses this process asked for."""

    async def acquire(self) -> None:
        """Wait for this request's slot."""

    async def pause(self, seconds: float) -> None:
        """No request may start for `seconds` (a 429's Retry-After)."""

    async def next_slot_in(self) -> float:
        """How long a request would wait now (for /status)."""


class LocalPacer:
    """Paces one process: at most `rate_per_s` request starts per second (None: no limit), and 429 pauses."""

    def __init__(
        self,
        rate_per_s: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval_s = 1.0 / rate_per_s if rate_per_s else 0.0
        self.pauses = 0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def acquire(self) -> None:
        now = self._clock()
        slot = max(self._next, now)
        self._next = slot + self.interval_s
        if slot > now:
            await self._sleep(slot - now)

    async def pause(self, seconds: float) -> None:
        until = self._clock() + seconds
        if until > self._next:  # a shorter pause never shortens the current one
            self._next = until
            self.pauses += 1

    async def next_slot_in(self) -> float:
        return max(0.0, self._next - self._clock())


class RedisPacer:
    """Paces every process sharing `key`: `rate_per_s` request starts per second for all of them together."""

    def __init__(self, redis: aioredis.Redis, *, key: str, rate_per_s: float) -> None:
        self.key = key
        self.interval_ms = max(1, round(1000 / rate_per_s))
        self._script = redis.register_script(_RESERVE)
        self._peek = redis.register_script(_PEEK)
        self._fallback = LocalPacer(rate_per_s)
        self._degraded = False

    @property
    def pauses(self) -> int:
        return self._fallback.pauses

    async def _reserve(self, pause_ms: int, *, interval_ms: int | None = None) -> float | None:
        """Seconds to wait for the reserved slot; None when Redis did not answer."""
        interval = self.interval_ms if interval_ms is None else interval_ms
        try:
            wait_ms = await self._script(keys=[self.key], args=[interval, pause_ms])
        except Exception as exc:  # Redis down or slow: pace this process alone rather than stop syncing
            if not self._degraded:
                log.warning("pacing.redis_unavailable", error=type(exc).__name__)
                self._degraded = True
            return None
        if self._degraded:
            log.info("pacing.redis_back")
            self._degraded = False
        return max(0, int(wait_ms)) / 1000

    async def acquire(self) -> None:
        wait_s = await self._reserve(0)
        if wait_s is None:
            await self._fallback.acquire()
        elif wait_s > 0:
            await asyncio.sleep(wait_s)

    async def pause(self, seconds: float) -> None:
        await self._fallback.pause(seconds)
        await self._reserve(max(0, round(seconds * 1000)), interval_ms=0)  # moves the next slot, takes none

    async def next_slot_in(self) -> float:
        try:
            return int(await self._peek(keys=[self.key])) / 1000
        except Exception:  # Redis away: what this process knows
            return await self._fallback.next_slot_in()


def pacer_for(redis: aioredis.Redis, *, rate_per_s: float | None, api_base: str, api_key: str) -> Pacer:
    """The deployment-wide pacer when a rate is set; otherwise this process's own (429 pauses only)."""
    if rate_per_s is None:
        return LocalPacer()
    return RedisPacer(redis, key=shared_key(api_base, api_key), rate_per_s=rate_per_s)


class ObservationPacer:
    """Observation's requests (DESIGN §13): each takes a slot of its own, at a tenth of the deployment's rate (shared
    by every process through Redis), and then a slot of the shared pacer, so that observing takes at most a tenth
    of `PIPECAT_MAX_REQUESTS_PER_S` and never more than the whole. Pauses are the shared pacer's."""

    SHARE = 0.1

    def __init__(self, shared: Pacer, own: Pacer) -> None:
        self.shared = shared
        self.own = own

    @property
    def pauses(self) -> int:
        return self.shared.pauses

    async def acquire(self) -> None:
        await self.own.acquire()
        await self.shared.acquire()

    async def pause(self, seconds: float) -> None:
        await self.shared.pause(seconds)

    async def next_slot_in(self) -> float:
        return await self.shared.next_slot_in()


def observation_pacer(
    redis: aioredis.Redis, shared: Pacer, *, rate_per_s: float | None, api_base: str, api_key: str
) -> Pacer:
    """The pacer of observation calls: the shared one, plus a tenth of the rate when a rate is set."""
    if rate_per_s is None:
        return shared
    own = RedisPacer(
        redis, key=shared_key(api_base, api_key) + ":observe", rate_per_s=rate_per_s * ObservationPacer.SHARE
    )
    return ObservationPacer(shared, own)
