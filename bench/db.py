"""The benchmark's own database (`bench_<random>`, created, migrated and dropped here) and the backend's writes.

The backend's side is written in bulk with plain SQL (one statement per round, not one transaction per agent),
so that the driver can change thousands of agents "as fast as possible" without becoming the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from config_sync_service.db import migrate
from config_sync_service.schemas import agent_config

ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
IMAGE = "dailyco/pipecat-agent:1.0"
DEPLOYMENT: dict[str, Any] = {"image": IMAGE, "agent_profile": "agent-1x", "min_agents": 0, "max_agents": 2}
SHARED_DIGEST = agent_config.digest({})  # the daemon runs without AGENT_SECRET_* variables


def context(version: int) -> dict[str, Any]:
    return {"system_prompt": f"You are a helpful agent (revision {version}).", "voice_id": "matthew"}


def deployment(version: int) -> dict[str, Any]:
    """Version 1's deployment with the image tag bumped from version 2 on (a FULL_SYNC-worthy change)."""
    return DEPLOYMENT if version <= 1 else DEPLOYMENT | {"image": f"dailyco/pipecat-agent:1.{version}"}


@dataclass
class SeedAgent:
    id: uuid.UUID
    name: str


class BenchDatabase:
    def __init__(self) -> None:
        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        base = ADMIN_DSN.rpartition("/")[0]
        self.dsn = f"{base}/{self.name}"
        self.pool: asyncpg.Pool | None = None

    @property
    def p(self) -> asyncpg.Pool:
        assert self.pool is not None, "BenchDatabase.create() first"
        return self.pool

    async def create(self) -> None:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await admin.close()
        # alembic's env.py runs its own event loop: give it a thread
        await asyncio.to_thread(migrate.upgrade, self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)

    async def drop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def _fetchval(self, query: str, *args: Any) -> Any:
        return await self.p.fetchval(query, *args)

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return list(await self.p.fetch(query, *args))

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record:
        row = await self.p.fetchrow(query, *args)
        assert row is not None
        return row

    async def server_version(self) -> str:
        return str(await self.p.fetchval("SHOW server_version"))

    async def truncate(self) -> None:
        await self.p.execute("TRUNCATE agents, agent_configurations, observer_turns CASCADE")

    async def new_agents(self, count: int, *, prefix: str) -> list[SeedAgent]:
        """Agents as the backend creates them: no configuration yet, `PENDING`."""
        agents = [SeedAgent(uuid.uuid4(), f"{prefix}-{i:05d}") for i in range(count)]
        await self.p.executemany(
            "INSERT INTO agents (id, name, pipecat_agent_name) VALUES ($1, $2, $2)",
            [(a.id, a.name) for a in agents],
        )
        return agents

    async def synced_agents(self, count: int, *, prefix: str, deployment_ids: dict[str, str]) -> list[SeedAgent]:
        """Agents at version 1, `SYNCED`, with the hashes config-sync records (the emulator is seeded to match)."""
        agents = await self.new_agents(count, prefix=prefix)
        await self.add_version([a.id for a in agents], 1, deployment=DEPLOYMENT, llm_context=context(1))
        deployment_hash = agent_config.digest([DEPLOYMENT, {}, SHARED_DIGEST])
        context_hash = agent_config.digest(context(1))
        await self.p.executemany(
            "UPDATE agents SET sync_status = 'SYNCED', synced_version = 1, target_version = 1, "
            "pipecat_cloud_instance_id = $2, created_deployment_id = $2, "
            "applied_deployment_hash = $3, applied_context_hash = $4, "
            "last_synced_at = now() WHERE id = $1",
            [(a.id, deployment_ids[a.name], deployment_hash, context_hash) for a in agents],
        )
        return agents

    async def add_version(
        self, agent_ids: list[uuid.UUID], version: int, *, deployment: dict[str, Any], llm_context: dict[str, Any]
    ) -> None:
        """Version `version` of every agent in one transaction (what many backend commits would leave)."""
        async with self.p.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE agent_configurations SET is_active = false WHERE agent_id = ANY($1::uuid[]) AND is_active",
                agent_ids,
            )
            await conn.execute(
                "INSERT INTO agent_configurations (id, agent_id, version, is_active, deployment, llm_context, secrets) "
                "SELECT gen_random_uuid(), a, $2, true, $3::jsonb, $4::jsonb, '{}'::jsonb FROM unnest($1::uuid[]) a",
                agent_ids,
                version,
                json.dumps(deployment),
                json.dumps(llm_context),
            )

    async def converged(self, agent_ids: list[uuid.UUID], version: int) -> int:
        """How many of the agents are `SYNCED` at `version` or later."""
        return int(
            await self._fetchval(
                "SELECT count(*) FROM agents WHERE id = ANY($1::uuid[]) AND sync_status = 'SYNCED' "
                "AND synced_version >= $2",
                agent_ids,
                version,
            )
        )

    async def status_counts(self, agent_ids: list[uuid.UUID]) -> dict[str, int]:
        rows = await self._fetch(
            "SELECT sync_status::text, count(*) FROM agents WHERE id = ANY($1::uuid[]) GROUP BY 1", agent_ids
        )
        return {r[0]: int(r[1]) for r in rows}

    async def last_times(self, agent_ids: list[uuid.UUID]) -> tuple[datetime | None, datetime | None]:
        """The latest `deploying_since` and `last_synced_at` among the agents."""
        row = await self._fetchrow(
            "SELECT max(deploying_since), max(last_synced_at) FROM agents WHERE id = ANY($1::uuid[])", agent_ids
        )
        return row[0], row[1]

    async def agent_state(self, agent_id: uuid.UUID) -> asyncpg.Record:
        return await self._fetchrow(
            "SELECT sync_status::text AS status, synced_version, target_version, deploying_since, last_synced_at "
            "FROM agents WHERE id = $1",
            agent_id,
        )
