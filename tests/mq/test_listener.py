"""The listener on real Redis: payloads arrive, a sweep is requested per subscribe, reconnects after loss."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from config_sync_service.mq.listener import Listener
from tests.helpers import RedisServer, wait_until


async def test_payloads_arrive_and_reconnect_requests_a_sweep(own_redis: RedisServer) -> None:
    received: list[bytes] = []
    sweeps: list[int] = []

    async def on_payload(raw: bytes) -> None:
        received.append(raw)

    listener = Listener(
        redis_url=own_redis.url,
        channel="ch",
        on_payload=on_payload,
        on_subscribed=lambda: sweeps.append(1),
        health_check_interval_s=1,
        max_backoff_s=0.5,
    )
    task = asyncio.create_task(listener.run())
    publisher = aioredis.Redis.from_url(own_redis.url)
    try:
        await wait_until(_flag(listener), what="subscribed")
        await publisher.publish("ch", b"one")
        await wait_until(_count(received, 1), what="first payload")
        assert sweeps == [1]

        own_redis.stop()
        await wait_until(_not(listener), what="listener notices the loss")
        own_redis.start()
        await wait_until(_flag(listener), timeout=20, what="re-subscribed")
        assert len(sweeps) == 2  # a sweep per (re)subscribe: what was published meanwhile is found in Postgres
        publisher2 = aioredis.Redis.from_url(own_redis.url)
        await publisher2.publish("ch", b"two")
        await wait_until(_count(received, 2), what="payload after reconnect")
        await publisher2.aclose()
        assert received == [b"one", b"two"]
    finally:
        listener.stop()
        await asyncio.wait_for(task, 5)
        await publisher.aclose()


def _flag(listener: Listener):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return listener.subscribed

    return check


def _not(listener: Listener):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return not listener.subscribed

    return check


def _count(items: list[bytes], n: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return len(items) >= n

    return check
