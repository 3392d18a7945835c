"""`config-sync diff`: each managed agent's configuration beside what Pipecat Cloud runs, read at that moment.

The comparison is processing/live.py's (the observer's); this only reads the rows and Pipecat for the command.
Secret sets are shown by their keys, never a value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from config_sync_service.core.config import Settings
from config_sync_service.db import observed, session_versions
from config_sync_service.db.models import LiveHealth
from config_sync_service.db.session import create_db_engine, create_session_factory
from config_sync_service.pipecat_client.client import PipecatCloudClient
from config_sync_service.processing import live
from config_sync_service.processing.config import ProcessorConfig
from config_sync_service.processing.observer import desired_of, read_live

USER_AGENT = "config-sync-diff"


class DiffError(Exception):
    """The diff could not be made (no such agent, Pipecat or the database away): exit 2."""


@dataclass(frozen=True, slots=True)
class AgentDiff:
    agent_id: str
    name: str
    pipecat_agent_name: str
    sync_status: str
    version: int
    health: LiveHealth
    fields: list[dict[str, Any]]
    error: str | None = None
    sessions: list[session_versions.LiveSessionVersion] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return self.error is None and any(f["differs"] for f in self.fields)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "name": self.name,
            "pipecat_agent_name": self.pipecat_agent_name,
            "sync_status": self.sync_status,
            "version": self.version,
            "health": self.health.value,
            "differs": self.differs,
            "fields": self.fields,
            "error": self.error,
            # what each live session runs, as its bot last answered a context push (`behind`: an older version)
            "sessions": [
                {"session_id": v.session_id, "version": v.version, "outcome": v.outcome, "behind": v.behind}
                for v in self.sessions
            ],
        }


@dataclass(frozen=True, slots=True)
class DiffReport:
    agents: list[AgentDiff]
    orphans: list[str] | None = None  # asked for with --orphans
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0: no difference, 1: differences (an orphan, when asked for, is one), 2: something could not be read."""
        if self.errors or any(a.error for a in self.agents):
            return 2
        return 1 if any(a.differs for a in self.agents) or self.orphans else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "agents": [a.to_dict() for a in self.agents],
            "orphans": self.orphans,
            "differences": sum(a.differs for a in self.agents) + len(self.orphans or []),
            "errors": self.errors,
        }


async def diff(settings: Settings, *, agent_id: uuid.UUID | None, orphans: bool) -> DiffReport:
    """Desired beside live for one managed agent, or every one; and the orphans if asked for."""
    db = create_db_engine(settings, application_name="config-sync-diff")
    try:
        async with create_session_factory(db)() as s:
            found = await observed.candidates(s, requested_only=False)
            names = await observed.all_names(s) if orphans else set()
            if agent_id is not None:
                found = [c for c in found if c.agent.id == agent_id]
            sessions = {c.agent.id: await session_versions.live_session_versions(s, agent_id=c.agent.id) for c in found}
    finally:
        await db.dispose()
    if agent_id is not None and not found:
        raise DiffError(f"no managed agent {agent_id} (none with that id wants to run with a configuration)")
    processor = ProcessorConfig.from_settings(settings)
    async with PipecatCloudClient.from_settings(settings, user_agent=USER_AGENT) as client:
        agents = [await _one(client, c, processor, sessions[c.agent.id]) for c in found]
        listed = {str(i.get("name")) for i in await client.list_agents()} if orphans else set()
    return DiffReport(agents, sorted(listed - names) if orphans else None)


async def _one(
    client: PipecatCloudClient,
    candidate: observed.Candidate,
    processor: ProcessorConfig,
    sessions: list[session_versions.LiveSessionVersion],
) -> AgentDiff:
    agent = candidate.agent
    desired = desired_of(candidate, processor)
    if desired is None:
        error = "its active configuration is invalid: nothing is deployed from it (see its sync status)"
        health, fields = LiveHealth.UNKNOWN, []
    else:
        error = None
        found = await read_live(client, desired, None)
        health, fields = live.compare(desired, found).health, live.rows(desired, found)
    return AgentDiff(
        str(agent.id),
        agent.name,
        agent.pipecat_agent_name,
        agent.sync_status.value,
        candidate.config.version,
        health,
        fields,
        error,
        sessions,
    )
