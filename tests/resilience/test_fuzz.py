"""10,000 generated payloads: no crash, each dead-lettered or processed, liveness holds, memory stays bounded."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeMessage, parse_message
from tests.helpers import wait_until
from tests.resilience.support import DaemonProcess, Scenario, bulk_agents, record

PAYLOADS = 10_000
RSS_GROWTH_LIMIT_MB = 60


def payloads(seed: int, agents: list[uuid.UUID]) -> Iterator[bytes]:
    """Random bytes, truncated JSON, wrong types, huge numbers, unicode, nested junk, and some valid messages."""
    rng = random.Random(seed)
    kinds = ["bytes", "truncated", "types", "huge", "unicode", "nested", "valid", "unknown_agent", "extra"]
    for _ in range(PAYLOADS):
        kind = rng.choice(kinds)
        good = {"agent_id": str(rng.choice(agents)), "version": 1, "change_type": "FULL_SYNC"}
        if kind == "bytes":
            yield rng.randbytes(rng.randint(0, 300))
        elif kind == "truncated":
            text = json.dumps(good)
            yield text[: rng.randint(0, len(text) - 1)].encode()
        elif kind == "types":
            field = rng.choice(list(good))
            yield json.dumps(good | {field: rng.choice([None, [], {}, 1.5, True, "x", -1])}).encode()
        elif kind == "huge":
            yield json.dumps(good | {"version": rng.choice([2**31, 10**30, -(10**20)])}).encode()
        elif kind == "unicode":
            yield json.dumps(
                good | {"change_type": "".join(chr(rng.randint(0x80, 0x10FFF)) for _ in range(8))}, ensure_ascii=False
            ).encode("utf-8", "surrogatepass")
        elif kind == "nested":
            depth = rng.randint(1, 3000)
            yield (
                ("[" * depth + "]" * depth).encode()
                if rng.random() < 0.5
                else json.dumps({"a": {"b": [good]}}).encode()
            )
        elif kind == "unknown_agent":
            yield json.dumps(good | {"agent_id": str(uuid.uuid4())}).encode()
        elif kind == "extra":
            yield json.dumps(good | {"noise": rng.random(), "list": list(range(rng.randint(0, 50)))}).encode()
        else:
            yield json.dumps(good).encode()


async def test_ten_thousand_generated_payloads(
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    tmp_path: Path,
) -> None:
    agents = await bulk_agents(session_factory, 20, prefix="fuzz")
    settings = daemon_settings.model_copy(update={"dlq_max": 2 * PAYLOADS, "reconcile_interval_s": 300.0})
    daemon = DaemonProcess(settings, tmp_path / "fuzz.log")
    daemon.start()
    try:
        await daemon.wait_ready()
        process = psutil.Process(daemon.proc.pid if daemon.proc else 0)
        rss_before = process.memory_info().rss
        generated = list(payloads(1234, agents))
        known = {str(a) for a in agents}
        rejected = [
            raw
            for raw in generated
            if not (isinstance(p := parse_message(raw), ChangeMessage) and str(p.agent_id) in known)
        ]
        # identical bytes published again within minutes are the same dead letter (as a second worker's copy is)
        expected_dead = len(set(rejected))
        started = time.monotonic()
        for start in range(0, PAYLOADS, 500):
            async with redis.pipeline(transaction=False) as pipe:
                for raw in generated[start : start + 500]:
                    pipe.publish(settings.updates_channel, raw)
                await pipe.execute()
            assert await daemon.healthz() == 200

        async def status() -> dict[str, int]:
            async with httpx.AsyncClient() as http:
                body = (await http.get(f"http://127.0.0.1:{daemon.port}/status", timeout=5)).json()
            counters: dict[str, int] = body["counters"]
            return counters if counters.get("received", 0) >= PAYLOADS else {}

        counters: dict[str, int] = await wait_until(status, timeout=120, interval=0.5, what="every payload received")
        dead = await wait_until(
            lambda: _depth_at_least(redis, settings.dlq_key, expected_dead),
            timeout=60,
            what="every distinct rejected payload dead-lettered",
        )
        took = time.monotonic() - started
        rss_after = process.memory_info().rss
        assert await daemon.healthz() == 200
    finally:
        daemon.kill()
    growth_mb = (rss_after - rss_before) / 2**20
    record(
        Scenario(
            "fuzz-10k",
            len(agents),
            PAYLOADS,
            took,
            0,
            {"dead_lettered": dead, "valid": PAYLOADS - len(rejected), "rss_growth_mb": round(growth_mb, 1)},
        )
    )
    assert counters["received"] == PAYLOADS
    assert dead == expected_dead  # every other payload was a valid change for a real agent: processed
    assert growth_mb < RSS_GROWTH_LIMIT_MB


async def _depth_at_least(redis: aioredis.Redis, key: str, n: int) -> int | None:
    depth = int(await redis.llen(key))
    return depth if depth >= n else None
