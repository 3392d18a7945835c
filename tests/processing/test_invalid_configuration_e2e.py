"""A configuration the bot would refuse never reaches Pipecat Cloud (DESIGN §14), through the real daemon.

Each row holds what a backend that skipped the publisher could write, wrong JSON types included. Each becomes
ERROR_SYNC naming the field and the rule, one dead letter `invalid_configuration`, not one Pipecat call, and no
retry; the agent's next valid version then applies, and Pipecat Cloud holds it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlmodel import col

from config_sync_service.core.config import Settings
from config_sync_service.core.metrics import Outcome
from config_sync_service.db import crud
from config_sync_service.db.models import Agent, AgentConfiguration, SyncStatus
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.mq.dead_letter import DeadLetterEntry
from config_sync_service.schemas.messages import ChangeType
from tests.agent_schema.cases import DAEMON_CASES, INVALID
from tests.emulator_control import EmulatorControl
from tests.helpers import CONTEXT, DEPLOYMENT, agent_row, new_version, publish, running_daemon, wait_until

PARTS = ("deployment", "llm_context", "secrets")


async def agent_holding(sessions: SessionFactory, document: dict[str, Any]) -> Agent:
    """An agent whose version 1 holds the document's parts exactly as given (any JSON, `None` is JSON null);
    parts the document leaves out are `{}`."""
    async with transaction(sessions) as s:
        agent = await crud.create_agent(s, name="Invalid", pipecat_agent_name=f"invalid-{uuid.uuid4().hex[:10]}")
        config = await crud.add_configuration(s, agent_id=agent.id, deployment={}, llm_context={}, secrets={})
        raw = {part: document[part] for part in PARTS if part in document}
        await s.execute(sa.update(AgentConfiguration).where(col(AgentConfiguration.id) == config.id).values(**raw))
    async with sessions() as s:  # what a pass will read, as stored
        stored = await crud.get_active_configuration(s, agent_id=agent.id)
    assert stored is not None and all(getattr(stored, part) == document.get(part, {}) for part in PARTS)
    return agent


async def test_an_invalid_configuration_is_refused_before_pipecat_and_the_next_valid_version_applies(
    reveal_secret_values: None,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
) -> None:
    agents = {name: await agent_holding(session_factory, INVALID[name].document) for name in DAEMON_CASES}
    async with running_daemon(daemon_settings) as daemon:
        engine = daemon.runtime.engine
        for agent in agents.values():
            await publish(redis, daemon_settings, agent.id, 1, ChangeType.PROVISION)

        async def all_refused() -> list[Agent]:
            rows = [await agent_row(session_factory, a.id) for a in agents.values()]
            return rows if all(r.sync_status is SyncStatus.ERROR_SYNC for r in rows) else []

        rows = dict(zip(agents, await wait_until(all_refused, what="every agent ERROR_SYNC"), strict=True))
        await _refused_before_pipecat(agents, rows, await daemon.runtime.dead_letters.entries(), control)

        # no retry: nothing waits in the queue, a sweep finds nothing to do, the same message again is a no-op
        assert (engine.queue.scheduled, len(engine.queue), await engine.sweeper.sweep()) == (0, 0, 0)
        noops = engine.stats.counters[Outcome.NOOP]
        for agent in agents.values():
            await publish(redis, daemon_settings, agent.id, 1, ChangeType.FULL_SYNC)
        await wait_until(lambda: _counted(engine.stats.counters, Outcome.NOOP, noops + len(agents)), what="no-ops")
        assert await daemon.runtime.dead_letters.depth() == len(agents)
        assert await control.calls() == []

        valid = {"deployment": DEPLOYMENT, "llm_context": CONTEXT, "secrets": {}}
        for agent in agents.values():
            version = await new_version(session_factory, agent.id, **valid)
            await publish(redis, daemon_settings, agent.id, version, ChangeType.FULL_SYNC)

        async def all_synced() -> bool:
            rows = [await agent_row(session_factory, a.id) for a in agents.values()]
            return all(r.sync_status is SyncStatus.SYNCED and r.synced_version == 2 for r in rows)

        await wait_until(all_synced, what="every agent's version 2 SYNCED")
    for name, agent in agents.items():
        held = await control.secret_values(f"{agent.pipecat_agent_name}-config")
        assert held is not None, name
        assert json.loads(held["AGENT_CONFIG"]) == {"agent_id": str(agent.id), "version": 2, "llm_context": CONTEXT}
        live = await control.agent(agent.pipecat_agent_name)
        assert live is not None and str(DEPLOYMENT["image"]) in json.dumps(live), name
        assert (await agent_row(session_factory, agent.id)).attempts == 0, name


async def _refused_before_pipecat(
    agents: dict[str, Agent], rows: dict[str, Agent], dead: list[DeadLetterEntry], control: EmulatorControl
) -> None:
    """Each agent: the field path and rule of every error in its row and its one dead letter, no Pipecat call."""
    entries: dict[str | None, list[DeadLetterEntry]] = {}
    for entry in dead:
        entries.setdefault(entry.agent_id, []).append(entry)
    for name, agent in agents.items():
        message = "; ".join(INVALID[name].errors)
        row = rows[name]
        assert (row.last_error_message, row.last_error_class) == (message, "InvalidConfigurationError"), name
        assert (row.attempts, row.next_retry_at, row.synced_version) == (1, None, None), name
        [entry] = entries.pop(str(agent.id))
        assert (entry.reason, entry.version, entry.error_message) == ("invalid_configuration", 1, message), name
        assert await control.calls(agent.pipecat_agent_name) == [], f"{name} reached Pipecat"
    assert entries == {}


async def _counted(counters: Any, what: Outcome, at_least: int) -> bool:
    return bool(counters[what] >= at_least)
