"""Pacing: one request rate for every process sharing a key, 429 pauses for all of them, and life without Redis."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from config_sync_service.core.logging import configure_logging
from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY
from config_sync_service.emulator.server import EmulatorServer
from config_sync_service.pipecat_client.client import PipecatCloudClient
from config_sync_service.pipecat_client.errors import PipecatNotFoundError
from config_sync_service.pipecat_client.pacing import LocalPacer, Pacer, RedisPacer, pacer_for, shared_key
from tests.emulator_control import EmulatorControl
from tests.helpers import FakeClock, free_port


@pytest.fixture
async def pacing_key(redis: aioredis.Redis) -> AsyncIterator[str]:
    key = f"test_pacing_{uuid.uuid4().hex[:8]}"
    yield key
    await redis.delete(key)


def client(emulator: EmulatorServer, pacer: Pacer) -> PipecatCloudClient:
    return PipecatCloudClient(base_url=emulator.api_url, api_key=DEFAULT_PRIVATE_KEY, pacer=pacer)


async def ask(c: PipecatCloudClient, agent: str, times: int) -> None:
    async def one() -> None:
        with pytest.raises(PipecatNotFoundError):
            await c.get_agent_status(agent)

    await asyncio.gather(*(one() for _ in range(times)))


async def times_of(control: EmulatorControl, agent: str) -> list[float]:
    return sorted(c["time"] for c in await control.calls(agent, op="getService"))


async def test_two_processes_sharing_a_key_keep_one_rate_between_them(
    emulator: EmulatorServer, control: EmulatorControl, redis: aioredis.Redis, pacing_key: str
) -> None:
    # two clients with their own Redis connections stand for two gunicorn workers (or pods)
    first, second = (
        aioredis.Redis.from_url("redis://127.0.0.1:6379/0"),
        aioredis.Redis.from_url("redis://127.0.0.1:6379/0"),
    )
    try:
        async with (
            client(emulator, RedisPacer(first, key=pacing_key, rate_per_s=20)) as a,
            client(emulator, RedisPacer(second, key=pacing_key, rate_per_s=20)) as b,
        ):
            await asyncio.gather(ask(a, "paced", 10), ask(b, "paced", 10))
    finally:
        await first.aclose()
        await second.aclose()
    sent = await times_of(control, "paced")
    assert len(sent) == 20
    # 20 requests at 20/s between them: the first at once, the last 19 slots (0.95 s) later
    assert sent[-1] - sent[0] >= 0.85
    assert await redis.pttl(pacing_key) > 0  # the slot key expires on its own once nobody is sending


async def test_a_429_pauses_every_process_sharing_the_key(
    emulator: EmulatorServer, control: EmulatorControl, redis: aioredis.Redis, pacing_key: str
) -> None:
    other = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        async with (
            client(emulator, RedisPacer(redis, key=pacing_key, rate_per_s=100)) as throttled,
            client(emulator, RedisPacer(other, key=pacing_key, rate_per_s=100)) as bystander,
        ):
            await control.fail_next("getService", times=1, status=429)  # Retry-After: 1
            with pytest.raises(PipecatNotFoundError):
                await throttled.get_agent_status("first")
            await ask(bystander, "second", 1)
    finally:
        await other.aclose()
    limited = (await control.calls("first", op="getService"))[0]
    later = await times_of(control, "second")
    assert limited["status"] == 429
    assert later[0] - limited["time"] >= 0.95  # the other process waited out the Retry-After too


async def test_without_redis_a_process_paces_itself_and_says_so_once(
    emulator: EmulatorServer, control: EmulatorControl
) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", stream=stream)
    gone = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2)
    try:
        async with client(emulator, RedisPacer(gone, key="unused", rate_per_s=10)) as c:
            await ask(c, "alone", 5)
    finally:
        await gone.aclose()
    sent = await times_of(control, "alone")
    assert len(sent) == 5 and sent[-1] - sent[0] >= 0.35  # 10/s: four intervals of 0.1 s
    assert stream.getvalue().count("pacing.redis_unavailable") == 1


async def test_requests_start_one_interval_apart() -> None:
    clock = FakeClock()
    pacer = LocalPacer(4.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await pacer.acquire()
    assert clock.slept == [0.25, 0.25]  # the first at once, then one slot every 1/4 s
    assert await pacer.next_slot_in() == 0.25


async def test_a_429_pauses_the_whole_process() -> None:
    clock = FakeClock()
    pacer = LocalPacer(100.0, clock=clock, sleep=clock.sleep)
    await pacer.pause(0.2)
    await pacer.pause(0.1)  # a shorter pause never shortens the current one
    assert await pacer.next_slot_in() == pytest.approx(0.2)
    assert pacer.pauses == 1
    await pacer.acquire()
    assert clock.slept == [pytest.approx(0.2)]  # the next request waited the pause out
    assert await pacer.next_slot_in() == pytest.approx(0.01)  # and the rate applies after it


async def test_the_shared_pause_is_visible_to_every_process(redis: aioredis.Redis, pacing_key: str) -> None:
    first = RedisPacer(redis, key=pacing_key, rate_per_s=10)
    other = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        second = RedisPacer(other, key=pacing_key, rate_per_s=10)
        await first.pause(5.0)
        assert 4.5 < await second.next_slot_in() <= 5.0
        assert (first.pauses, second.pauses) == (1, 0)  # each process counts the pauses it asked for
    finally:
        await other.aclose()


def test_the_daemon_paces_through_redis_only_when_a_rate_is_set(redis: aioredis.Redis) -> None:
    assert isinstance(pacer_for(redis, rate_per_s=None, api_base="http://x/v1", api_key="k"), LocalPacer)
    shared = pacer_for(redis, rate_per_s=5, api_base="http://x/v1", api_key="s3cret-key")
    assert isinstance(shared, RedisPacer) and shared.interval_ms == 200
    assert shared.key == shared_key("http://x/v1", "s3cret-key") != shared_key("http://x/v1", "other-key")
    assert "s3cret" not in shared.key  # a digest of the key names the limit, never the key itself


async def test_observation_takes_a_tenth_of_the_rate_and_a_slot_of_the_shared_pacer(redis: aioredis.Redis) -> None:
    from config_sync_service.pipecat_client.pacing import ObservationPacer, observation_pacer

    base = f"http://observe-{uuid.uuid4().hex[:8]}"
    shared = pacer_for(redis, rate_per_s=20, api_base=base, api_key="k")
    assert observation_pacer(redis, LocalPacer(), rate_per_s=None, api_base=base, api_key="k").__class__ is LocalPacer
    observing = observation_pacer(redis, shared, rate_per_s=20, api_base=base, api_key="k")
    assert isinstance(observing, ObservationPacer) and isinstance(observing.own, RedisPacer)
    assert observing.own.interval_ms == 500 and observing.own.key == shared_key(base, "k") + ":observe"
    try:
        await observing.acquire()  # one slot of its own and one of the shared pacer: both keys moved on
        assert await redis.get(shared_key(base, "k") + ":observe") is not None
        assert await redis.get(shared_key(base, "k")) is not None
    finally:
        await redis.delete(shared_key(base, "k"), shared_key(base, "k") + ":observe")
