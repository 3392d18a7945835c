"""Subscribe to the updates channel and hand every payload on; survive any connection loss.

Pub/Sub delivers at most once: what is published while we are disconnected is gone. So after every
(re)subscribe the listener asks for a sweep, which finds the drift in Postgres instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from config_sync_service.core.backoff import backoff_delay
from config_sync_service.core.logging import get_logger

log = get_logger("config_sync.listener")
RECONNECT_BASE_S = 0.2

PayloadHandler = Callable[[bytes], Awaitable[None]]
SubscribedHandler = Callable[[], None]


class Listener:
    """One Pub/Sub subscription with reconnects (capped exponential backoff with jitter)."""

    def __init__(
        self,
        *,
        redis_url: str,
        channel: str,
        on_payload: PayloadHandler,
        on_subscribed: SubscribedHandler,
        health_check_interval_s: float = 10.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.on_payload = on_payload
        self.on_subscribed = on_subscribed
        self.health_check_interval_s = health_check_interval_s
        self.max_backoff_s = max_backoff_s
        self.subscribed = False
        self.reconnects = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Stop taking messages; `run()` returns soon after."""
        self._stopping.set()

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._listen_once()
                failures = 0
            except (RedisError, OSError) as exc:
                self.subscribed = False
                failures += 1
                delay = backoff_delay(failures, base_s=RECONNECT_BASE_S, cap_s=self.max_backoff_s)
                log.warning("listener.disconnected", error=f"{type(exc).__name__}: {exc}", retry_in_s=round(delay, 2))
                await self._sleep(delay)
            finally:
                self.subscribed = False

    async def _listen_once(self) -> None:
        client = aioredis.Redis.from_url(
            self.redis_url,
            health_check_interval=self.health_check_interval_s,
            socket_connect_timeout=5,
            socket_keepalive=True,
        )
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(self.channel)
                self.subscribed = True
                self.reconnects += 1
                log.info("listener.subscribed", channel=self.channel, subscription=self.reconnects)
                self.on_subscribed()
                while not self._stopping.is_set():
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    data = message["data"]
                    await self.on_payload(data if isinstance(data, bytes) else str(data).encode())
        finally:
            await client.aclose()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
