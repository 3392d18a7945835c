"""Never lose an update, never apply one twice: downtime, crashes, Redis and Postgres outages, a flaky and
throttling Pipecat, many processes, bursts. Every daemon here is a real process; everything is on loopback."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory
from config_sync_service.emulator.server import EmulatorServer
from tests.emulator_control import EmulatorControl
from tests.helpers import RedisServer
from tests.resilience.support import (
    DaemonProcess,
    Scenario,
    bulk_agents,
    bump_versions,
    converge,
    lagging,
    publish_all,
    record,
)

REDEPLOYS = {"createService", "updateService"}


@pytest.fixture
def fast_settings(daemon_settings: Settings) -> Settings:
    """Short leases and sweeps, so a crashed holder's claim and lost messages are recovered within seconds."""
    return daemon_settings.model_copy(
        update={
            "lease_s": 3.0,
            "reconcile_interval_s": 2.0,
            "max_concurrency": 8,
            "deploy_poll_interval_s": 0.1,
            "retry_base_delay_s": 0.2,
            "retry_max_delay_s": 3.0,
            "retry_budget_per_s": 20.0,
            "retry_budget_burst": 40,
            "shutdown_grace_s": 5.0,
            "db_pool_size": 4,
            "db_max_overflow": 4,
        }
    )


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[DaemonProcess]]:
    """Daemon processes a test starts; all are killed at the end, whatever happened."""
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.kill()


def spawn(daemons: list[DaemonProcess], settings: Settings, tmp_path: Path, *, workers: int = 1) -> DaemonProcess:
    daemon = DaemonProcess(settings, tmp_path / f"daemon-{len(daemons)}.log", workers=workers)
    daemons.append(daemon)
    daemon.start()
    return daemon


async def provisioned(
    daemons: list[DaemonProcess],
    settings: Settings,
    tmp_path: Path,
    sessions: SessionFactory,
    count: int,
    prefix: str,
    emulator: EmulatorServer,
) -> tuple[list[Any], DaemonProcess]:
    """`count` agents at version 1, a daemon, and its startup sweep's provisioning of all of them."""
    ids = await bulk_agents(sessions, count, prefix=prefix)
    daemon = spawn(daemons, settings, tmp_path)
    await daemon.wait_ready()
    await converge(sessions, ids, emulator=emulator, timeout=120, daemon=daemon)
    return ids, daemon


async def calls(control: EmulatorControl) -> list[dict[str, Any]]:
    return await control.calls()


async def test_downtime_500_changes_are_caught_up_at_start(
    fast_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
    daemons: list[DaemonProcess],
    tmp_path: Path,
) -> None:
    ids = await bulk_agents(session_factory, 500, prefix="down")
    changes = await bump_versions(session_factory, ids)
    await publish_all(redis, fast_settings, changes)  # nobody listens: Pub/Sub drops them all
    daemon = spawn(daemons, fast_settings, tmp_path)
    started = time.monotonic()
    await daemon.wait_ready()
    await converge(session_factory, ids, emulator=emulator, timeout=120, daemon=daemon)
    recorded = await calls(control)
    record(Scenario("downtime", 500, 500, time.monotonic() - started, len(recorded)))
    assert Counter(c["op"] for c in recorded)["createService"] == 500  # each agent provisioned once, at v2


async def test_kill_9_mid_burst_then_restart_converges_with_nothing_left_syncing(
    fast_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
    daemons: list[DaemonProcess],
    tmp_path: Path,
) -> None:
    ids, daemon = await provisioned(daemons, fast_settings, tmp_path, session_factory, 200, "crash", emulator)
    started = time.monotonic()
    for _ in range(5):  # 1,000 changes: 200 agents × 5 versions
        await publish_all(redis, fast_settings, await bump_versions(session_factory, ids))
    await asyncio.sleep(0.5)
    daemon.kill()  # SIGKILL: no shutdown, claims left behind
    in_flight = await lagging(session_factory, ids)
    restarted = spawn(daemons, fast_settings, tmp_path)
    await restarted.wait_ready()
    await converge(session_factory, ids, emulator=emulator, timeout=120, daemon=restarted)
    assert "SYNCING" not in await lagging(session_factory, ids)
    record(
        Scenario(
            "kill-9", 200, 1000, time.monotonic() - started, len(await calls(control)), {"left_when_killed": in_flight}
        )
    )


async def test_redis_restart_mid_burst(
    fast_settings: Settings,
    session_factory: SessionFactory,
    control: EmulatorControl,
    emulator: EmulatorServer,
    own_redis: RedisServer,
    daemons: list[DaemonProcess],
    tmp_path: Path,
) -> None:
    settings = fast_settings.model_copy(update={"redis_url": own_redis.url})
    ids, daemon = await provisioned(daemons, settings, tmp_path, session_factory, 100, "redis", emulator)
    started = time.monotonic()
    publisher = aioredis.Redis.from_url(own_redis.url)
    await publish_all(publisher, settings, await bump_versions(session_factory, ids))
    await publisher.aclose()
    own_redis.stop()
    await bump_versions(session_factory, ids, times=2)  # committed while Redis is down: never published
    await asyncio.sleep(1.0)
    own_redis.start()
    await converge(session_factory, ids, emulator=emulator, timeout=90, daemon=daemon)
    assert await daemon.healthz() == 200
    record(Scenario("redis-restart", 100, 300, time.monotonic() - started, len(await calls(control))))


async def test_postgres_connections_killed_mid_burst(
    fast_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
    daemons: list[DaemonProcess],
    tmp_path: Path,
    database_url: str,
) -> None:
    ids, daemon = await provisioned(daemons, fast_settings, tmp_path, session_factory, 200, "pgkill", emulator)
    started = time.monotonic()
    database = database_url.rsplit("/", 1)[1]
    killed = 0
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for _ in range(2):
            await publish_all(redis, fast_settings, await bump_versions(session_factory, ids))
            await asyncio.sleep(0.3)
            killed += len(
                await admin.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 "
                    "AND application_name = 'config-sync' AND pid <> pg_backend_pid()",
                    database,
                )
            )
    finally:
        await admin.close()
    assert killed > 0
    await converge(session_factory, ids, emulator=emulator, timeout=120, daemon=daemon)
    assert await daemon.healthz() == 200
    record(
        Scenario(
            "postgres-kill",
            200,
            400,
            time.monotonic() - started,
            len(await calls(control)),
            {"connections_killed": killed},
        )
    )


async def test_flaky_throttling_pipecat(
    fast_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
    daemons: list[DaemonProcess],
    tmp_path: Path,
) -> None:
    """30 % 5xx and 10 % 429 (Retry-After: 1) on every operation. Asserted from the emulator's record: every agent
    converges; after any 429 about an agent, no call about that agent starts within the next second (the
    processor never retries sooner than Retry-After, and the client never retries a 429 itself); and the total
    number of calls stays under 40 per agent (no retry storm)."""
    agents = 30
    ids = await bulk_agents(session_factory, agents, prefix="flaky")
    await control.set_faults(error_rate={"*": 0.3}, rate_429={"*": 0.1}, retry_after_s=1, seed=42)
    daemon = spawn(daemons, fast_settings, tmp_path)
    started = time.monotonic()
    await daemon.wait_ready()
    await converge(session_factory, ids, emulator=emulator, timeout=150, daemon=daemon)
    recorded = await calls(control)
    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in recorded:
        by_agent[str(call["agent"])].append(call)
    early = []
    for agent, agent_calls in by_agent.items():
        agent_calls.sort(key=lambda c: c["time"])
        for before, after in itertools.pairwise(agent_calls):
            if before["status"] == 429 and after["time"] < before["time"] + (before["duration_s"] or 0) + 1.0:
                early.append((agent, before["op"], after["op"], round(after["time"] - before["time"], 3)))
    statuses = Counter(c["status"] for c in recorded)
    record(
        Scenario(
            "flaky-pipecat",
            agents,
            agents,
            time.monotonic() - started,
            len(recorded),
            {"429s": statuses[429], "5xx": sum(n for s, n in statuses.items() if s and s >= 500)},
        )
    )
    assert statuses[429] > 0 and early == []
    assert len(recorded) < 40 * agents


async def test_three_processes_two_workers_each_apply_each_change_once(
    fast_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
    daemons: list[DaemonProcess],
    tmp_path: Path,
) -> None:
    """2,000 messages over 200 agents (10 versions each) received by 6 workers in 3 processes, fault-free.
    A "step" is one version an agent was asked to apply: per agent, the redeploys (createService +
    updateService) and the secret-set writes are each at most the number of versions published for it."""
    settings = fast_settings.model_copy(update={"max_concurrency": 4, "db_pool_size": 2, "db_max_overflow": 2})
    ids = await bulk_agents(session_factory, 200, prefix="multi")
    for _ in range(3):
        spawn(daemons, settings, tmp_path, workers=2)
    for daemon in daemons:
        await daemon.wait_ready(timeout=60)
    await converge(session_factory, ids, emulator=emulator, timeout=120, daemon=daemons[0])
    await control.http.post("/_emulator/reset")  # count only what the burst costs
    started = time.monotonic()
    published: Counter[Any] = Counter()
    for _ in range(10):
        changes = await bump_versions(session_factory, ids)
        published.update(agent for agent, _ in changes)
        await publish_all(redis, settings, changes)
    await converge(session_factory, ids, emulator=emulator, timeout=180, daemon=daemons[0])
    recorded = await calls(control)
    redeploys = Counter(c["agent"] for c in recorded if c["op"] in REDEPLOYS and c["status"] != 409)
    secret_writes = Counter(c["agent"] for c in recorded if c["op"] == "upsertSecretSet")
    record(
        Scenario(
            "3x2-processes",
            200,
            2000,
            time.monotonic() - started,
            len(recorded),
            {"redeploys_max_per_agent": max(redeploys.values()), "redeploys_total": sum(redeploys.values())},
        )
    )
    assert max(redeploys.values()) <= 10 and max(secret_writes.values()) <= 10
    assert sum(redeploys.values()) <= 2000


async def test_burst_of_50_versions_costs_at_most_two_redeploys(
    fast_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
    emulator: EmulatorServer,
    daemons: list[DaemonProcess],
    tmp_path: Path,
) -> None:
    # a lease long enough that a loaded machine's stalled event loop does not fence the pass (a fenced pass is
    # run again: one more deployment, which is the fence's price, not the coalescing this counts)
    settings = fast_settings.model_copy(update={"lease_s": 15.0})
    ids, daemon = await provisioned(daemons, settings, tmp_path, session_factory, 1, "burst", emulator)
    await control.http.post("/_emulator/reset")
    started = time.monotonic()
    changes = []
    for _ in range(50):
        changes += await bump_versions(session_factory, ids)
    await publish_all(redis, settings, changes)
    await converge(session_factory, ids, emulator=emulator, timeout=30, daemon=daemon)
    recorded = await calls(control)
    # a 409 (the update tried before its secret set was ready) deploys nothing
    redeploys = [c for c in recorded if c["op"] in REDEPLOYS and c["status"] != 409]
    record(Scenario("burst-50", 1, 50, time.monotonic() - started, len(recorded), {"redeploys": len(redeploys)}))
    assert 1 <= len(redeploys) <= 2
