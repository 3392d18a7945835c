"""What every scenario uses: the two modes, the emulator's controls, publishing, waiting, percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.db import DEPLOYMENT, IMAGE, BenchDatabase, SeedAgent
from bench.procs import Daemon, Emulator, RoleUsage, Sampler
from bench.profile import Profiler
from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY
from config_sync_service.emulator.control_client import EmulatorControl
from config_sync_service.schemas.messages import ChangeMessage, ChangeType


@dataclass(frozen=True)
class Mode:
    """How the daemon runs and how the driver feeds it.

    `engine`: the daemon as deployed (gunicorn, `workers` uvicorn workers, MAX_CONCURRENCY `concurrency`), fed as
    the scenario says (bursts as fast as possible). `sequential`, the naive design: one worker, MAX_CONCURRENCY=1,
    and a driver that publishes one message and waits until its version is SYNCED before the next (`paced`):
    one change in the system at a time, so nothing runs concurrently and nothing is coalesced (nor throttled:
    REDEPLOY_MIN_INTERVAL_S=0, each change redeploys at once).
    """

    name: str
    workers: int
    concurrency: int
    paced: bool


ENGINE = Mode("engine", workers=2, concurrency=8, paced=False)
SEQUENTIAL = Mode("sequential", workers=1, concurrency=1, paced=True)


@dataclass(frozen=True)
class Knobs:
    """The benchmark's settings (every one is written to results.json)."""

    deploy_delay_s: float = 0.1
    secret_ready_delay_s: float = 0.0
    deploy_poll_interval_s: float = 0.1
    throttle_rate_per_s: float = 20.0
    throttle_latency_ms: float = 100.0
    # shorter than the default 300 s, so that observation runs during the scenarios and its share is measured
    observe_interval_s: float = 30.0
    redis_url: str = "redis://127.0.0.1:6379/0"


class BenchControl(EmulatorControl):
    """The shared emulator control client, plus the benchmark's own controls (bench/emulator.py)."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator.url, timeout_s=60)

    async def seed(self, names: list[str]) -> dict[str, str]:
        ids: dict[str, str] = await self._send("POST", "/_emulator/bench/seed", {"agents": names, "image": IMAGE})
        return ids

    async def summary(self, since: float) -> dict[str, Any]:
        found: dict[str, Any] = await self._get("/_emulator/bench/summary", since=since)
        return found

    async def received(self, session_id: str) -> list[dict[str, Any]]:
        """When each context update reached a session, and its version."""
        found: list[dict[str, Any]] = await self._get(f"/_emulator/bench/sessions/{session_id}/received")
        return found


@dataclass
class Bench:
    knobs: Knobs
    db: BenchDatabase
    emulator: Emulator
    control: BenchControl
    redis: aioredis.Redis
    sampler: Sampler
    log_dir: Path
    channel: str = field(default_factory=lambda: f"bench_updates_{uuid.uuid4().hex[:8]}")
    dlq_key: str = field(default_factory=lambda: f"bench_dlq_{uuid.uuid4().hex[:8]}")
    mode: Mode = ENGINE
    daemon: Daemon | None = None
    boot_cpu_s: float = 0.0  # the workers' CPU from fork to ready with nothing to do (imports, pools, first sweep)
    profiler: Profiler | None = None  # py-spy, when asked for (`--py-spy`)
    extra_env: dict[str, str] = field(default_factory=dict)  # `--daemon-env NAME=VALUE`
    scenario_env: dict[str, str] = field(default_factory=dict)  # what one scenario tells the daemon (restarted)

    def daemon_env(self) -> dict[str, str]:
        metrics_dir = self.log_dir / f"metrics-{self.mode.name}"
        metrics_dir.mkdir(exist_ok=True)
        return (
            {
                "PATH": "/usr/bin:/bin",
                "HOME": "/tmp",
                "DATABASE_URL": self.db.dsn,
                "REDIS_URL": self.knobs.redis_url,
                "PIPECAT_API_URL": f"{self.emulator.url}/v1",
                "PIPECAT_API_KEY": DEFAULT_PRIVATE_KEY,
                "PIPECAT_PUBLIC_API_KEY": DEFAULT_PUBLIC_KEY,
                "UPDATES_CHANNEL": self.channel,
                "DLQ_KEY": self.dlq_key,
                "DEPLOY_POLL_INTERVAL_S": str(self.knobs.deploy_poll_interval_s),
                "OBSERVE_INTERVAL_S": str(self.knobs.observe_interval_s),
                "WEB_CONCURRENCY": str(self.mode.workers),
                "MAX_CONCURRENCY": str(self.mode.concurrency),
                "LOG_FORMAT": "json",
                "LOG_LEVEL": "INFO",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            }
            | ({"REDEPLOY_MIN_INTERVAL_S": "0"} if self.mode.paced else {})
            | self.scenario_env
            | self.extra_env
        )

    async def start_daemon(self) -> Daemon:
        daemon = Daemon(env=self.daemon_env(), log_path=self.log_dir / f"daemon-{self.mode.name}.log")
        self.daemon = daemon
        self.sampler.daemon = daemon
        await asyncio.to_thread(daemon.start)
        if self.profiler is not None and self.profiler.active:
            for worker in daemon.workers():
                self.profiler.attach("worker", worker.pid)
        return daemon

    async def stop_daemon(self) -> None:
        if self.daemon is not None:
            await asyncio.to_thread(self.daemon.stop)

    async def restart_daemon(self, scenario_env: dict[str, str]) -> None:
        """Restart the daemon with settings for one scenario (an empty dict: back to the mode's own)."""
        self.scenario_env = scenario_env
        await self.stop_daemon()
        await self.start_daemon()

    def worker_cpu(self) -> float:
        return self.sampler.usage().get("workers", RoleUsage()).cpu_s

    async def fresh(self) -> None:
        """An empty database and an emulator with no agents, calls or faults."""
        await self.db.truncate()
        await self.control.reset()

    async def seed_synced(self, count: int, *, prefix: str) -> list[SeedAgent]:
        """`count` agents deployed on the emulator and SYNCED at version 1 in Postgres."""
        names = [f"{prefix}-{i:05d}" for i in range(count)]
        ids = await self.control.seed(names)
        return await self.db.synced_agents(count, prefix=prefix, deployment_ids=ids)

    async def publish(self, messages: list[tuple[uuid.UUID, int, ChangeType]]) -> int:
        """PUBLISH each message (pipelined, as fast as Redis takes them); returns the receivers of the last."""
        pipe = self.redis.pipeline(transaction=False)
        for agent_id, version, change_type in messages:
            pipe.publish(
                self.channel, ChangeMessage(agent_id=agent_id, version=version, change_type=change_type).to_json()
            )
        answers = await pipe.execute()
        return int(answers[-1]) if answers else 0

    async def wait_synced(self, agent_id: uuid.UUID, version: int, *, timeout_s: float = 60.0) -> Any:
        """Poll the agent's row every 5 ms until it is SYNCED at `version` (or later); returns the row."""
        deadline = time.monotonic() + timeout_s
        row = None
        while time.monotonic() < deadline:
            row = await self.db.agent_state(agent_id)
            if row["status"] == "SYNCED" and (row["synced_version"] or 0) >= version:
                return row
            await asyncio.sleep(0.005)
        raise TimeoutError(f"agent {agent_id} not SYNCED at v{version} after {timeout_s:.0f} s: {row and dict(row)}")

    async def wait_converged(self, agent_ids: list[uuid.UUID], version: int, *, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self.db.converged(agent_ids, version) == len(agent_ids):
                return True
            await asyncio.sleep(0.2)
        return False


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds."""
    if not values:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    ms = {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(values), "mean": statistics.fmean(values)}
    return {k: round(v * 1000, 1) for k, v in ms.items()}


def deployments(summary: dict[str, Any], names: list[str]) -> dict[str, float]:
    per_agent = summary["deployments_per_agent"]
    counts = [per_agent.get(n, 0) for n in names]
    return {"mean": round(statistics.fmean(counts), 3), "max": max(counts), "min": min(counts)} if counts else {}


__all__ = ["DEPLOYMENT", "ENGINE", "SEQUENTIAL", "Bench", "Knobs", "Mode"]
